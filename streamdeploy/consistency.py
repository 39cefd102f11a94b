"""Rules that relate several fields of a valid-looking description.

Each rule yields (key path, what is wrong, how to fix it). Platform-specific limits
are not here: those are findings of ``capabilities.check``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from streamdeploy import description, paths
from streamdeploy.description import AnyOfSecrets, Service, Spec

Issue = tuple[tuple, str, str | None]

_SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var", "/tmp")
_PORT_REF = re.compile(r"\$\{?PORT\b")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def problems(spec: Spec, description_dir: Path | None = None) -> list[Issue]:
    """Every rule; the path rules too when the description's folder is known."""
    found = list(_all(spec))
    if description_dir is not None:
        found += path_problems(spec, description_dir)
    return found


def path_problems(spec: Spec, description_dir: Path) -> list[Issue]:
    """Every file or folder the description names stays inside the project (paths.py):
    `render` writes the Dockerfile into the build context, and a build reads the rest."""
    root = paths.project_root(description_dir)
    found: list[Issue] = []
    for name, service in spec.services.items():
        build, base = service.build, ("services", name, "build")
        named = [("context", build.context, description_dir)]
        if build.dockerfile != "auto":
            named.append(("dockerfile", build.dockerfile, description_dir))
        # The dependency file is read from the context; judged only once the context is inside.
        named.append(("install", build.install, description_dir / paths.normalize(build.context)))
        for field, value, relative_to in named:
            wrong = paths.escape(value, relative_to, root)
            if wrong is not None:
                found.append((base + (field,), *wrong))
                if field == "context":
                    break
    return found


def _all(spec: Spec) -> Iterator[Issue]:
    for name in spec.stores:
        if name in spec.services:
            # Compose services and Kubernetes objects share one namespace of names.
            yield (("stores", name), f"`{name}` names both a service and a store",
                   f"rename the store, e.g. `{name}-db`, and `store: {name}-db` in services that use it")
    k8s = spec.targets.kubernetes
    if k8s.registry and k8s.image:
        yield (("targets", "kubernetes", "image"), "`image` and `registry` both say which image the cluster runs",
               "keep `registry` to let `up` build and push each image, or `image` for one you build yourself")
    for target in description.target_names(spec.targets):  # every target that can reach a store by URL
        for store in getattr(getattr(spec.targets, target), "store_urls", None) or {}:
            if store not in spec.stores:
                known = ", ".join(spec.stores) or "none defined"
                yield (("targets", target, "store_urls", store), f"store `{store}` is not defined under `stores:`",
                       f"name a store from `stores:` (defined: {known})")
    for name, service in spec.services.items():
        base = ("services", name)
        yield from service_problems(name, service)
        if service.store is not None and service.store not in spec.stores:
            known = ", ".join(spec.stores) or "none defined"
            yield (base + ("store",), f"store `{service.store}` is not defined under `stores:`",
                   f"add it under `stores:` (defined: {known})")
        if service.store is not None:
            for env_name in spec.stores.get(service.store, None).env_names if service.store in spec.stores else ():
                if env_name in service.env:
                    yield (base + ("env", env_name), f"`{env_name}` is set by `store: {service.store}`",
                           f"remove `{env_name}` from env")
        yield from _references(spec, name, service)


def _references(spec: Spec, name: str, service: Service) -> Iterator[Issue]:
    """`{service: NAME}` env values: the service exists, answers on a port, and can be reached that way."""
    import difflib

    for key, ref in service.env_refs.items():
        where = ("services", name, "env", key, "service")
        other = spec.services.get(ref.service)
        if ref.service == name:
            yield (where, f"`{key}` refers to `{name}` itself",
                   "a service knows its own port from PORT; refer to another service")
        elif other is None:
            close = difflib.get_close_matches(ref.service, list(spec.services), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            yield (where, f"`{key}` refers to `{ref.service}`, which is not a service of this description",
                   f"{hint}services: {', '.join(spec.services)}")
        elif not other.is_web:
            yield (where, f"`{key}` refers to `{ref.service}`, which has no `port`: nothing answers there",
                   f"give `{ref.service}` a port, or remove `{key}`")
        elif ref.network == "public" and not other.public:
            yield (("services", name, "env", key, "network"),
                   f"`{key}` asks for the public address of `{ref.service}`, which is `public: false`",
                   "use `network: private` (the default), or make it public")


def service_problems(name: str, service: Service) -> list[Issue]:
    """The rules that need only the service itself, so they still run when another part
    of the file does not parse: one run reports every problem."""
    base = ("services", name)
    return [*_volumes(service, base), *_env_and_secrets(service, base), *_start(service, base),
            *_health(service, base), *_streaming(service, base)]


def _volumes(service: Service, base: tuple) -> Iterator[Issue]:
    names: dict[str, int] = {}
    mounts: dict[str, int] = {}
    for i, volume in enumerate(service.volumes):
        where = base + ("volumes", i)
        if volume.name in names:
            yield (where + ("name",), f"two volumes are named `{volume.name}`", "give each volume its own name")
        names.setdefault(volume.name, i)
        mount = volume.mount.rstrip("/") or "/"
        if not volume.mount.startswith("/"):
            yield (where + ("mount",), f"mount path `{volume.mount}` is relative",
                   f"use an absolute path inside the container, e.g. /data/{volume.name}")
        elif mount in _SYSTEM_DIRS:
            yield (where + ("mount",), f"mount path `{volume.mount}` would hide a system directory",
                   f"mount it under /data, e.g. /data/{volume.name}")
        elif mount in mounts:
            yield (where + ("mount",), f"two volumes are mounted at `{mount}`", "give each volume its own mount path")
        else:
            for other in mounts:
                if mount.startswith(other + "/") or other.startswith(mount + "/"):
                    yield (where + ("mount",), f"mount path `{mount}` is nested in `{other}`",
                           "mount volumes side by side, not inside each other")
        mounts.setdefault(mount, i)
        if volume.size <= 0:
            yield (where + ("size",), "a volume needs a size above zero", "e.g. size: 1GB")
        if volume.env and volume.env in service.env and service.env[volume.env] != volume.mount:
            yield (where + ("env",), f"`{volume.env}` is also set in env to another path",
                   f"remove `{volume.env}` from env; the volume sets it to {volume.mount}")


def _env_and_secrets(service: Service, base: tuple) -> Iterator[Issue]:
    seen = set()
    for i, entry in enumerate(service.secret_entries):
        names = entry.any_of if isinstance(entry, AnyOfSecrets) else [entry if isinstance(entry, str) else entry.name]
        for secret in names:
            if secret in seen:
                yield (base + ("secrets", i), f"secret `{secret}` is listed twice",
                       "list it once (a name in `any_of` is not also listed on its own)")
            seen.add(secret)
            if secret in service.env:
                yield (base + ("secrets", i), f"`{secret}` is both a secret and a plain env value",
                       f"remove `{secret}` from env: a secret's value never goes in this file")
    reserved = {"PORT"} if service.port is not None else set()
    for name in service.env:
        if name in reserved and service.env[name] != str(service.port):
            yield (base + ("env", name), "`PORT` in env disagrees with `port`", "remove PORT from env; `port` sets it")


# What a server binds when the start command does not say: (host, port, host flag, port flag).
# gunicorn is absent on purpose: without --bind it listens on 0.0.0.0:$PORT when PORT is set.
_SERVER_DEFAULTS = {
    "uvicorn": ("127.0.0.1", 8000, "--host 0.0.0.0", "--port $PORT"),
    "hypercorn": ("127.0.0.1", 8000, "--bind 0.0.0.0:$PORT", "--bind 0.0.0.0:$PORT"),
    "fastapi dev": ("127.0.0.1", 8000, "--host 0.0.0.0", "--port $PORT"),
    "fastapi run": ("0.0.0.0", 8000, "--host 0.0.0.0", "--port $PORT"),
    "flask run": ("127.0.0.1", 5000, "--host 0.0.0.0", "--port $PORT"),
    "streamlit run": ("0.0.0.0", 8501, "--server.address 0.0.0.0", "--server.port $PORT"),
}


def _server_argv(argv: list[str]) -> tuple[str | None, list[str]]:
    """(server name, its argv) for the command that ends up serving: the last one after
    `&&`/`;`, without a `python -m` in front."""
    for i in range(len(argv) - 1, -1, -1):
        if argv[i] in ("&&", ";", "||"):
            argv = argv[i + 1:]
            break
    if len(argv) >= 3 and re.fullmatch(r"python(3(\.\d+)?)?", argv[0]) and argv[1] == "-m":
        argv = argv[2:]
    if argv and argv[0] == "exec":
        argv = argv[1:]
    if not argv:
        return None, argv
    first = argv[0].rsplit("/", 1)[-1]
    two = f"{first} {argv[1]}" if len(argv) > 1 else first
    if two in _SERVER_DEFAULTS:
        return two, argv
    return (first if first in _SERVER_DEFAULTS or first == "gunicorn" else None), argv


def _listen(service: Service) -> tuple[str | None, str | None, str | None] | None:
    """(server, host, port argument) the start command listens on, as written; None: not a listener
    we can read (a unix socket, an inherited fd)."""
    argv = shlex.split(service.start)
    server, argv = _server_argv(argv)
    if any(_flag_value(argv, flag) for flag in ("--uds", "--fd")):
        return None  # a unix socket or inherited fd: whatever listens in front decides the port
    if server == "streamlit run":
        port_arg = _flag_value(argv, "--server.port")
        host = _flag_value(argv, "--server.address")
    else:
        port_arg = _flag_value(argv, "--port") or _flag_value(argv, "-p")
        host = _flag_value(argv, "--host") or (_flag_value(argv, "-h") if server == "flask run" else None)
    bind = _flag_value(argv, "--bind") or _flag_value(argv, "-b")
    if bind and ":" in bind and not bind.startswith("["):
        host, port_arg = bind.rsplit(":", 1)
    elif bind and bind.startswith("[") and "]:" in bind:
        host, port_arg = bind[1:].split("]:", 1)
    elif bind and not bind.startswith(("unix:", "fd:")):
        host = bind
    if server == "uvicorn":  # uvicorn also reads its flags from UVICORN_* variables
        host = host or service.plain_env.get("UVICORN_HOST")
        port_arg = port_arg or service.plain_env.get("UVICORN_PORT")
    return server, host, port_arg


_VAR = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?$")


def listen_host(service: Service) -> str | None:
    """The address the server binds, with `${HOST:-0.0.0.0}` read from the service's own env."""
    try:
        listened = _listen(service)
    except ValueError:
        return None
    host = listened[1] if listened else None
    match = _VAR.match(host or "")
    if match:
        host = service.plain_env.get(match.group(1)) or match.group(2)
    return host.strip("[]") if host else host


def listens_on_ipv6(service: Service) -> bool:
    """Whether the server accepts IPv6 connections. Note uvicorn on `::` takes IPv6 only (asyncio
    sets IPV6_V6ONLY): IPv4 clients, a container's HEALTHCHECK on 127.0.0.1 among them, are refused."""
    return listen_host(service) in ("::", "fly-local-6pn")


def _start(service: Service, base: tuple) -> Iterator[Issue]:
    where = base + ("start",)
    try:
        shlex.split(service.start)
    except ValueError as err:
        yield (where, f"start command cannot be parsed: {err}", "check its quotes")
        return
    if service.port is None:
        return
    listened = _listen(service)
    if listened is None:
        return
    server, host, port_arg = listened
    default_host, default_port, host_fix, port_fix = _SERVER_DEFAULTS.get(server, (None, None, "", ""))
    if host in _LOOPBACK:
        yield (where, f"start binds {host}, which the platform's router cannot reach",
               "bind all interfaces: --host 0.0.0.0")
    elif host is None and default_host in _LOOPBACK:
        yield (where, f"{server} without a host listens on {default_host} only, which the platform's router "
               "cannot reach", f"add {host_fix}")
    if port_arg is None:
        if default_port is not None and service.port != default_port and not _PORT_REF.search(service.start):
            yield (where, f"{server} without a port listens on {default_port}, but `port` is {service.port}",
                   f"add {port_fix}")
        return
    if _PORT_REF.search(port_arg):
        return
    literal = re.fullmatch(r"\d+", port_arg)
    if literal and int(port_arg) != service.port:
        yield (where, f"start listens on port {port_arg}, but `port` is {service.port}",
               "use --port $PORT so every platform can set it")


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _health(service: Service, base: tuple) -> Iterator[Issue]:
    health = service.health
    if health is None:
        return
    if service.port is None:
        yield (base + ("health",), "a health check needs an HTTP `port`", "add `port:` or remove `health:`")
    if health.timeout >= health.interval:
        yield (base + ("health", "timeout"), "the health check timeout must be shorter than its interval",
               "e.g. interval: 15s, timeout: 5s")
    if health.interval <= 0:
        yield (base + ("health", "interval"), "the interval must be above zero", "e.g. interval: 15s")


def _streaming(service: Service, base: tuple) -> Iterator[Issue]:
    streaming = service.streaming
    if streaming is None:
        return
    if service.port is None:
        yield (base + ("streaming",), "streaming needs an HTTP `port`", "add `port:` or remove `streaming:`")
    if not streaming.paths:
        yield (base + ("streaming", "paths"), "list at least one SSE path", "e.g. paths: [/stream]")
    if streaming.heartbeat is None:
        return
    if streaming.heartbeat <= 0:
        yield (base + ("streaming", "heartbeat"), "the heartbeat must be above zero",
               "e.g. heartbeat: 15s (proxies close idle streams)")
    elif streaming.heartbeat >= streaming.max_duration:
        yield (base + ("streaming", "heartbeat"), "the heartbeat must be shorter than max_duration",
               "e.g. heartbeat: 15s")
    if streaming.env and streaming.env in service.env and service.env[streaming.env] != f"{streaming.heartbeat:g}":
        yield (base + ("streaming", "env"), f"`{streaming.env}` is also set in env, to another value than the heartbeat",
               f"remove {streaming.env} from env: streaming.env passes the heartbeat to the app")
