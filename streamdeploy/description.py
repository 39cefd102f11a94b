"""What a loaded description is, whichever way it was built: the kinds and their behaviour.

Two builders make the description's objects: the pydantic models in ``spec.py`` (the one
definition of what the file may say, with every error message) and ``quickspec``, which
builds the same objects without importing pydantic for the descriptions it can vouch for.
Both derive from the classes here, so ``isinstance(value, ServiceRef)`` and
``service.secrets`` mean one thing. Nothing here imports pydantic: the targets, rules and
commands import their kinds from this module.
"""

from __future__ import annotations

import re
import shlex


class Kind:
    """A model of the description: pydantic's (``spec.py``) or ``quickspec``'s."""

    __slots__ = ()


class ServiceRef(Kind):
    __slots__ = ()


class OptionalSecret(Kind):
    __slots__ = ()


class AnyOfSecrets(Kind):
    __slots__ = ()


class Build(Kind):
    __slots__ = ()


class Volume(Kind):
    __slots__ = ()


class Resources(Kind):
    __slots__ = ()


class Store(Kind):
    __slots__ = ()

    @property
    def env_names(self) -> tuple[str, str]:
        return ("CHROMA_HOST", "CHROMA_PORT")


class Spec(Kind):
    __slots__ = ()

    @property
    def first_service(self) -> str:
        return next(iter(self.services))


class Service(Kind):
    __slots__ = ()

    @property
    def secrets(self) -> list[str]:
        """Every secret name the service may receive, in the order written."""
        names: list[str] = []
        for entry in self.secret_entries:
            names.extend(entry.any_of if isinstance(entry, AnyOfSecrets) else
                         [entry.name if isinstance(entry, OptionalSecret) else entry])
        return list(dict.fromkeys(names))

    @property
    def required_secrets(self) -> list[str]:
        """Names that must have a value before a hosted `up`."""
        return [e if isinstance(e, str) else e.name for e in self.secret_entries
                if isinstance(e, str) or (isinstance(e, OptionalSecret) and not e.optional)]

    @property
    def optional_secrets(self) -> list[str]:
        """Names sent when they have a value: optional ones and alternatives."""
        required = set(self.required_secrets)
        return [n for n in self.secrets if n not in required]

    @property
    def secret_groups(self) -> list[tuple[str, ...]]:
        """Alternatives, each needing one value at least."""
        return [tuple(e.any_of) for e in self.secret_entries if isinstance(e, AnyOfSecrets)]

    @property
    def plain_env(self) -> dict[str, str]:
        """The env values written in the description, without references to other services."""
        return {k: v for k, v in self.env.items() if isinstance(v, str)}

    @property
    def env_refs(self) -> dict[str, ServiceRef]:
        return {k: v for k, v in self.env.items() if isinstance(v, ServiceRef)}

    @property
    def is_web(self) -> bool:
        return self.port is not None

    def described_env(self) -> dict[str, str]:
        """Variables whose values this file sets for the app; every target passes them."""
        if self.streaming is not None and self.streaming.env and self.streaming.heartbeat is not None:
            return {self.streaming.env: f"{self.streaming.heartbeat:g}"}
        return {}

    @property
    def workers(self) -> int:
        """Worker processes the start command asks for (uvicorn/gunicorn flags)."""
        try:
            argv = shlex.split(self.start)
        except ValueError:
            return 1
        for i, arg in enumerate(argv):
            for flag in ("--workers", "-w"):
                if arg == flag and i + 1 < len(argv) and argv[i + 1].isdigit():
                    return int(argv[i + 1])
                if arg.startswith(flag + "=") and arg.split("=", 1)[1].isdigit():
                    return int(arg.split("=", 1)[1])
        return 1

    @property
    def graceful_shutdown(self) -> float | None:
        """Seconds the server waits for open requests (SSE streams) on SIGTERM, if the start command says."""
        try:
            argv = shlex.split(self.start)
        except ValueError:
            return None
        for i, arg in enumerate(argv):
            for flag in ("--timeout-graceful-shutdown", "--graceful-timeout"):  # uvicorn, gunicorn
                value = argv[i + 1] if arg == flag and i + 1 < len(argv) else (
                    arg.split("=", 1)[1] if arg.startswith(flag + "=") else None)
                if value is not None and re.fullmatch(r"\d+(\.\d+)?", value):
                    return float(value)
        return None


def env_value(value: object) -> object:
    """YAML turns `true` and `8000` into bool/int; the process sees strings either way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def env_kind(value: object) -> str:
    """Which branch an env entry takes: a mapping is a reference, anything else text."""
    return "[reference]" if isinstance(value, (dict, ServiceRef)) else "[text]"


def secret_kind(value: object) -> str | None:
    """Which branch a secret entry takes: a name, {name:, optional:} or {any_of: [...]}."""
    if isinstance(value, str):
        return "[name]"
    if isinstance(value, (AnyOfSecrets, OptionalSecret)):
        return "[any_of]" if isinstance(value, AnyOfSecrets) else "[ref]"
    if isinstance(value, dict):
        return "[any_of]" if "any_of" in value else "[ref]"
    return None


def target_names(targets: object) -> list[str]:
    """The target sections a description's `targets:` has (fly, railway, ...), in order."""
    return list(type(targets).model_fields)


def store_urls(spec: Spec, target: str) -> dict[str, str]:
    """Stores that already run elsewhere for this target (`targets.<target>.store_urls`)."""
    config = getattr(spec.targets, target, None)
    return dict(getattr(config, "store_urls", None) or {})


# The env var a volume's mount path goes in when the app has none yet: what `init` suggests
# and what `up --target local` asks for are this one name.
_SUGGESTED_ENV = {"chroma_data": "CHROMA_DB_PATH", "sqlite_data": "DB_DIR", "uploads": "UPLOAD_DIR"}


def suggested_env(volume: str) -> str:
    """``CHROMA_DB_PATH`` for chroma_data, ``UPLOAD_DIR`` for uploads, ``<NAME>_DIR`` otherwise."""
    return _SUGGESTED_ENV.get(volume) or f"{volume.upper()}_DIR"
