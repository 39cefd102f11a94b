"""Secret values: where they come from, how they travel, how they stay out of sight.

Values come from the process environment or a dotenv file (``--env-file``); the
environment wins, as with docker compose and python-dotenv. They leave this process only
on a child's standard input or in a child's environment (by name) — never on argv, in a
file or in output. :class:`Masker` replaces any value that shows up in a CLI's output.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from streamdeploy import exitcodes
from streamdeploy.problems import Problem, ProblemsError, fail

if TYPE_CHECKING:
    from streamdeploy.targets.base import Plan

MASK = "***"
# Shorter values are not masked: hiding every "a" or "42" garbles all output and the gaps
# give the value away anyway. `up` warns about such a secret instead.
MIN_MASKED = 4
# The platforms' own credentials (research/cli-contracts.md): the CLIs read them from their
# environment, and whatever a CLI prints back is masked like the description's secrets.
PLATFORM_TOKENS = ("FLY_ACCESS_TOKEN", "FLY_API_TOKEN", "RAILWAY_API_TOKEN", "RAILWAY_TOKEN", "RENDER_API_KEY")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTERPOLATION = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True)
class Resolved:
    """The values of the secrets a plan needs, and which of them are missing."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # name -> "environment" or the env file's path
    missing: tuple[str, ...] = ()  # required, and not set
    empty: tuple[str, ...] = ()  # required, set to "": platforms reject or ignore empty secrets
    left_out: tuple[str, ...] = ()  # optional, with no value: the steps go on without them
    unmet: tuple[tuple[str, ...], ...] = ()  # alternatives none of which has a value

    @property
    def unset(self) -> tuple[str, ...]:
        return self.missing + self.empty

    @property
    def not_ready(self) -> bool:
        """Something `up` needs before step 1 has no value."""
        return bool(self.unset or self.unmet)

    def masker(self) -> Masker:
        return Masker(self.values.values())

    @property
    def too_short(self) -> tuple[str, ...]:
        """Names whose values are too short to mask in output (see MIN_MASKED)."""
        return tuple(n for n, v in self.values.items() if len(v) < MIN_MASKED)


# --- reading -----------------------------------------------------------------------------


def required_names(plan: Plan) -> list[str]:
    """The secrets `up` must have before step 1: the plan's own and every one a step sends."""
    names = list(plan.secrets)
    for step in plan.steps:
        names.extend(step.stdin.secrets if step.stdin else ())
        names.extend(step.pass_secrets)
    return list(dict.fromkeys(names))


def optional_names(plan: Plan) -> list[str]:
    """The secrets steps pass only when they have a value (and that no step requires)."""
    required = set(required_names(plan))
    sent = [n for s in plan.steps for n in (*s.pass_if_set, *(s.stdin.optional if s.stdin else ()))]
    sent += [n for group in plan.secret_groups for n in group]
    return [n for n in dict.fromkeys(sent) if n not in required]


def platform_tokens(environ: Mapping[str, str]) -> list[str]:
    """The values of the platform credentials set in ``environ``, to mask in output."""
    return [environ[name] for name in PLATFORM_TOKENS if environ.get(name)]


def resolve(names: Iterable[str], env_file: Path | None = None,
            environ: Mapping[str, str] | None = None, optional: Iterable[str] = (),
            groups: Iterable[tuple[str, ...]] = ()) -> Resolved:
    """Look up each name in the environment, then in ``env_file``.

    ``names`` are required (unset ones end in ``missing``/``empty``); ``optional`` ones
    with no value end in ``left_out``; a group of alternatives none of which has a value
    ends in ``unmet``.
    """
    environ = os.environ if environ is None else environ
    from_file = read_env_file(env_file, environ) if env_file is not None else {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    empty: list[str] = []
    left_out: list[str] = []
    names = list(dict.fromkeys(names))
    for name in dict.fromkeys([*names, *optional]):
        if environ.get(name):
            values[name], sources[name] = environ[name], "environment"
        elif from_file.get(name):
            values[name], sources[name] = from_file[name], str(env_file)
        elif name not in names:
            left_out.append(name)
        elif name in environ or name in from_file:
            empty.append(name)
        else:
            missing.append(name)
    unmet = tuple(tuple(g) for g in groups if not any(n in values for n in g))
    return Resolved(values, sources, tuple(missing), tuple(empty), tuple(left_out), unmet)


def unset_problem(resolved: Resolved, target: str, env_file: Path | None = None,
                  declared: Mapping[str, dict] | None = None) -> ProblemsError:
    """The error `up` stops with when a needed secret has no value (exit 3: not ready).

    ``declared``: name -> where the description lists it (file, line, key), for the message.
    """
    problems = []
    where = f"your environment or {env_file}" if env_file else "your environment"
    for name in resolved.unset:
        state = "is empty" if name in resolved.empty else "is not set"
        problems.append(Problem(
            f"secret {name} {state}; `up --target {target}` needs its value",
            fix=f"export {name}=... in {where}, or put {name}=... in a file and pass --env-file FILE "
                "(keep that file out of git)",
            **(declared or {}).get(name, {}),
        ))
    for group in resolved.unmet:
        names = ", ".join(group)
        problems.append(Problem(
            f"none of the secrets {names} is set; `up --target {target}` needs one of them (any_of)",
            fix=f"export one of them ({group[0]}=...) in {where}, or put it in a file and pass --env-file FILE",
            **(declared or {}).get(group[0], {}),
        ))
    return ProblemsError(problems, exitcodes.NOT_READY)


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(f"env file {path} does not exist", file=str(path),
                   fix="check the path given to --env-file") from None
    except UnicodeDecodeError:
        raise fail(f"env file {path} is not UTF-8 text", file=str(path)) from None
    except OSError as err:
        raise fail(f"cannot read env file {path}: {err.strerror}", file=str(path)) from None
    return parse_dotenv(text, str(path), environ)


def parse_dotenv(text: str, source: str = "<env file>", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse dotenv text the way python-dotenv and docker compose read it.

    ``NAME=value`` lines, optionally prefixed by ``export``; blank lines and ``#`` comments
    are skipped; unquoted values end at `` #`` and are trimmed; single-quoted values are
    literal (``\\'`` escapes a quote); double-quoted values understand ``\\n \\t \\r \\" \\\\ \\$``;
    both kinds of quotes may span lines. ``${NAME}`` and ``${NAME:-default}`` in unquoted
    and double-quoted values expand from earlier lines, then the environment.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    pos, line_no, size = 0, 1, len(text)
    if text.startswith("\ufeff"):
        pos = 1

    def error(message: str, at_line: int) -> ProblemsError:
        return fail(message, file=source, line=at_line, fix="write NAME=value, one per line; quote values with "
                                                            "spaces, # or newlines")

    while pos < size:
        end = text.find("\n", pos)
        end = size if end == -1 else end
        line = text[pos:end]
        stripped = line.strip()
        start_line = line_no
        if not stripped or stripped.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        body = stripped
        if body.startswith("export") and body[6:7] in (" ", "\t"):
            body = body[6:].lstrip()
        match = _NAME.match(body)
        if not match:
            # never quote the line: it may be a piece of a secret (a value pasted without its name)
            raise error(f"line {start_line} is not NAME=value", start_line)
        name = match.group(0)
        rest = body[match.end():].lstrip(" \t")
        if not rest.startswith("="):
            raise error(f"line {start_line}: its first word is not followed by `=`", start_line)
        rest = rest[1:].lstrip(" \t")
        # Where the value starts in the whole text, so quoted values can run over lines.
        value_at = pos + line.index(body) + (len(body) - len(rest)) if rest else end
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            value, after = _quoted(text, value_at + 1, quote)
            if after is None:
                raise error(f"line {start_line}: the {quote} quote of {name} is never closed", start_line)
            line_no += text.count("\n", value_at, after)
            tail_end = text.find("\n", after)
            tail_end = size if tail_end == -1 else tail_end
            tail = text[after:tail_end].strip()
            if tail and not tail.startswith("#"):
                raise error(f"line {line_no}: unexpected text after the quoted value of {name}", line_no)
            if quote == '"':
                value = _expand(value, values, environ)
            values[name] = value
            pos, line_no = tail_end + 1, line_no + 1
            continue
        value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        values[name] = _expand(value, values, environ, unquoted=True)
        pos, line_no = end + 1, line_no + 1
    return values


def _quoted(text: str, start: int, quote: str) -> tuple[str, int | None]:
    """The value inside quotes starting at ``start``; the index after the closing quote."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if quote == '"' and following in _DOUBLE_ESCAPES:
                # keep `\$` for _expand to turn into a literal `$`
                out.append("\\$" if following == "$" else _DOUBLE_ESCAPES[following])
                i += 2
                continue
            if quote == "'" and following in ("'", "\\"):
                out.append(following)
                i += 2
                continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    return "".join(out), None


def _expand(value: str, earlier: Mapping[str, str], environ: Mapping[str, str], unquoted: bool = False) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0) == "\\$":
            return "\\$" if unquoted else "$"
        name, default = match.group(1), match.group(2)
        found = earlier.get(name, environ.get(name))
        if not found and default is not None:
            return default
        return found or ""

    return _INTERPOLATION.sub(replace, value)


# --- sending -----------------------------------------------------------------------------


def stdin_text(format: str, names: Iterable[str], values: Mapping[str, str]) -> str:
    """What a step's standard input carries, built from values at run time."""
    names = list(names)
    if format == "value":
        if len(names) != 1:
            raise ValueError(f"stdin format `value` carries one secret, got {names}")  # a target bug
        return values[names[0]]
    if format == "envfile":
        return "".join(_envfile_line(name, values[name]) for name in names)
    if format == "dotenv":
        return "".join(fly_dotenv_line(name, values[name]) for name in names)
    raise ValueError(f"unknown stdin format {format!r}")


def _envfile_line(name: str, value: str) -> str:
    # kubectl --from-env-file and docker --env-file take everything after the first `=`
    # literally, one line each: a newline cannot be carried.
    if "\n" in value or "\r" in value:
        raise fail(f"the value of {name} has a line break; this platform reads secrets one line each",
                   key=name, fix=f"store {name} without line breaks (e.g. base64-encode it)")
    return f"{name}={value}\n"


def fly_dotenv_line(name: str, value: str) -> str:
    """``NAME=value`` as `fly secrets import` parses it back exactly (flyctl secrets/parser.go).

    That parser has no escapes: a value is double-quoted, single-quoted or, across
    lines, triple-quoted, and a ``#`` ends the value unless an odd number of ``"``
    precede it. Each form is tried and the first one that reads back unchanged is used.
    """
    candidates = [f'{name}="{value}"\n', f"{name}='{value}'\n", f'{name}="""{value}"""\n']
    for line in candidates:
        if all(len(part) < 64 * 1024 for part in line.split("\n")) and parse_fly_dotenv(line) == {name: value}:
            return line
    raise fail(
        f"the value of {name} cannot be sent to `fly secrets import` unchanged "
        "(its mix of quotes, # and line breaks, or a line over 64 KiB, has no exact form in fly's format)",
        key=name,
        fix=f"set it yourself with `fly secrets set {name}=- < FILE`, or change the value",
    )


def parse_fly_dotenv(text: str) -> dict[str, str]:
    """flyctl's parser (internal/command/secrets/parser.go @ ad0172f), to check our encoding."""
    secrets: dict[str, str] = {}
    key: str | None = None
    parts: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line
        if key is None:
            if line.startswith("#") or not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                return {}
            name, value = name.strip(), value.lstrip(" ")
            before, hashed, _ = value.partition("#")
            if hashed and before.count('"') % 2 == 0:
                value = before.rstrip(" ")
            if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
                secrets[name] = value[3:-3]
            elif value.startswith('"""'):
                key, parts = name, [value[3:] + "\n"]
            else:
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                secrets[name] = value
        elif line.endswith('"""'):
            parts.append(line[:-3])
            secrets[key] = "".join(parts)
            key, parts = None, []
        else:
            parts.append(line + "\n")
    return secrets


# --- hiding ------------------------------------------------------------------------------


class Masker:
    """Replaces secret values in text with ``***``: raw, JSON-escaped, and line by line.

    Values shorter than MIN_MASKED characters are left alone (see there)."""

    def __init__(self, values: Iterable[str]):
        needles: set[str] = set()
        for value in values:
            if len(value) < MIN_MASKED:
                continue
            needles.add(value)
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                needles.add(escaped)
            if "\n" in value:
                # output is handled a line at a time: hide each substantial line on its own
                needles.update(part for part in value.splitlines() if len(part.strip()) >= 6)
        ordered = sorted(needles, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(n) for n in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def __bool__(self) -> bool:
        return self._pattern is not None
