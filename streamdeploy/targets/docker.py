"""The docker target: a Dockerfile per distinct build, and `up` with a local Docker engine.

The image files are shared: fly, railway and render build from them, so they import
:func:`image_files`, :func:`dockerfile_path` and :func:`build_context` from here.

The image runs the server as uid 10001. A service with a volume starts as root only so
the entrypoint (templates/entrypoint.sh.j2) can hand the platform's root-owned mount to
that user, then drops privileges with setpriv; one image works on every platform without
a platform-specific run-as setting.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import shlex

from streamdeploy.paths import normalize as _norm
from streamdeploy.description import Service, ServiceRef, Spec
from streamdeploy.records import record
from streamdeploy.targets import dockerfile
from streamdeploy.targets.base import Context, Note, Plan, Probe, RenderedFile, Rendering, SecretNeeds, Step

NAME = "docker"
TITLE = "Docker (this machine's engine)"

APP_UID = 10001
APP_GID = 10001
BASE_IMAGE = "python:{python}-slim-bookworm"
ENTRYPOINT_FILE = "docker-entrypoint.sh"
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/docker-entrypoint.sh"
IGNORE_FILE = ".dockerignore"
CHROMA_IMAGE = "chromadb/chroma:{version}"
CHROMA_DATA = "/data"  # persist path in the chromadb/chroma image's default config
MAX_DRAIN = 300  # Fly's kill_timeout cap; longer waits also stall a deploy with a volume
DEFAULT_DRAIN = 30  # seconds a server gets to finish requests when nothing says otherwise
BUILD_TIMEOUT = 1800.0  # dependency installs and model downloads in build steps are slow


# --- shared helpers (fly, railway, render, compose use these) -----------------------------


def build_context(spec: Spec, service: str) -> str:
    """The service's build context, relative to the description's directory ("." or "backend")."""
    return _norm(spec.services[service].build.context)


def dockerfile_path(spec: Spec, service: str) -> str:
    """The Dockerfile a service builds from, relative to the description's directory.

    The user's own (`build.dockerfile`) when given; else the generated one, which lives in
    the build context: `Dockerfile` for the first distinct build, `Dockerfile.<service>`
    for a service whose image differs, shared by services whose images are identical.
    """
    return _layout(spec).dockerfiles[service]


def image_name(spec: Spec, service: str) -> str:
    """The local image tag: targets.docker.image (`{service}` replaced) or `<name>-<service>`."""
    configured = spec.targets.docker.image
    if not configured:
        return f"{spec.name}-{service}"
    if "{service}" in configured or service == spec.first_service:
        return configured.replace("{service}", service)
    repo, tag = split_tag(configured)
    return f"{repo}-{service}" + (f":{tag}" if tag else "")


def drain_seconds(service: Service) -> int:
    """Seconds between SIGTERM and SIGKILL: enough for the server to end its streams.

    When the start command sets a graceful-shutdown window, that window plus a moment to
    exit; else a streaming service may keep a stream to its maximum duration; capped.
    """
    if service.graceful_shutdown is not None:
        return max(1, min(MAX_DRAIN, math.ceil(service.graceful_shutdown) + 5))
    if service.streaming is not None:
        return max(1, min(MAX_DRAIN, math.ceil(service.streaming.max_duration)))
    return DEFAULT_DRAIN


def runtime_env(spec: Spec, service: str, target: str) -> tuple[dict[str, str], list[Note]]:
    """Plain env a platform gives the container: the description's, PORT, each volume's path.

    Values streamdeploy derives win over the description's (the port and mounts must
    agree with the platform config); a conflicting value is reported, not dropped silently.
    References to other services are not here: ``peers.env`` adds them per platform.
    """
    svc = spec.services[service]
    env = dict(svc.plain_env)
    derived: dict[str, tuple[str, str]] = {}  # name -> (value, key in the description)
    if svc.port is not None:
        derived["PORT"] = (str(svc.port), f"services.{service}.port")
    for volume in svc.volumes:
        if volume.env:
            derived[volume.env] = (volume.mount, f"services.{service}.volumes")
    for name, value in svc.described_env().items():
        derived[name] = (value, f"services.{service}.streaming.heartbeat")
    notes = []
    for name, (value, key) in derived.items():
        if name in env and env[name] != value:
            notes.append(Note(target, f"env {name}={env[name]!r} of `{service}` is replaced by {value!r}, "
                              f"which {key} requires", key=f"services.{service}.env.{name}",
                              fix=f"remove {name} from env"))
        env[name] = value
    return env, notes


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """Containers reach each other by service name on the project's network (`--network-alias`);
    people reach a service at the port it publishes on this machine."""
    from streamdeploy.targets import peers

    host = "127.0.0.1" if ref.network == "public" else ref.service
    return peers.literal(ref, peers.Address(host, spec.services[ref.service].port))


def go_duration(seconds: float) -> str:
    """15.0 -> "15s", 0.5 -> "500ms": the duration syntax of Docker and Fly."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def image_files(spec: Spec, ctx: Context | None = None) -> Rendering:
    """Dockerfile(s), .dockerignore and the entrypoint for every service that builds here."""
    layout = _layout(spec)
    files: list[RenderedFile] = []
    for path, text in layout.texts.items():
        files.append(RenderedFile(path, text))
    for context in layout.contexts:
        files.append(RenderedFile(_join(context, IGNORE_FILE), _dockerignore(spec, context)))
    for context in layout.entrypoint_contexts:
        files.append(RenderedFile(_join(context, ENTRYPOINT_FILE), _entrypoint(), executable=True))
    return Rendering(tuple(files), tuple(layout.notes))


# --- the Dockerfile ------------------------------------------------------------------------


@record(frozen=True)
class _Layout:
    dockerfiles: dict[str, str]  # service -> Dockerfile path
    texts: dict[str, str]  # generated Dockerfile path -> text
    contexts: tuple[str, ...]  # contexts of generated Dockerfiles, in order
    entrypoint_contexts: tuple[str, ...]
    notes: tuple[Note, ...]


_LAYOUTS: dict[str, _Layout] = {}  # by the description's JSON: other targets ask once per service


def _layout(spec: Spec) -> _Layout:
    key = spec.model_dump_json()
    if key not in _LAYOUTS:
        if len(_LAYOUTS) > 32:
            _LAYOUTS.clear()
        _LAYOUTS[key] = _compute_layout(spec)
    return _LAYOUTS[key]


def _compute_layout(spec: Spec) -> _Layout:
    own = {_norm(s.build.dockerfile) for s in spec.services.values() if s.build.dockerfile != "auto"}
    dockerfiles: dict[str, str] = {}
    texts: dict[str, str] = {}
    contexts: list[str] = []
    entrypoints: list[str] = []
    notes: list[Note] = []
    for name, svc in spec.services.items():
        if svc.build.dockerfile != "auto":
            dockerfiles[name] = _norm(svc.build.dockerfile)
            continue
        context = _norm(svc.build.context)
        text, service_notes = _dockerfile(svc, name)
        notes.extend(service_notes)
        same = next((p for p, t in texts.items() if t == text and posixpath.dirname(p) == _dir(context)), None)
        if same is None:
            path = _join(context, "Dockerfile")
            if path in texts or path in own:
                path = _join(context, f"Dockerfile.{name}")
            texts[path] = text
            same = path
        dockerfiles[name] = same
        if context not in contexts:
            contexts.append(context)
        if svc.volumes and context not in entrypoints:
            entrypoints.append(context)
    return _Layout(dockerfiles, texts, tuple(contexts), tuple(entrypoints), tuple(notes))


def _dockerfile(svc: Service, name: str) -> tuple[str, list[Note]]:
    context, notes = dockerfile_context(svc, name)
    return dockerfile.text(**context), notes


def dockerfile_context(svc: Service, name: str) -> tuple[dict, list[Note]]:
    """The variables of templates/Dockerfile.j2 for this service, and what to tell the user."""
    notes: list[Note] = []
    build = svc.build
    base = f"services.{name}"
    mounts = [v.mount for v in svc.volumes]
    env = ["PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
           "PIP_ROOT_USER_ACTION=ignore", "HOME=/home/app"]
    if svc.port is not None:
        env.append(f"PORT={svc.port}")
    deps = _deps(build.install, build.python)
    if deps["kind"] == "pyproject-late":
        notes.append(Note(NAME, f"Python {build.python} has no tomllib, so the image installs the dependencies of "
                          f"{build.install} together with the code: every code change reinstalls them",
                          key=f"{base}.build.python", fix="use Python 3.11 or newer, or a requirements file",
                          level="info"))
    steps = [_run(command) for command in build.commands]
    cmd, start_note = _cmd(svc, name)
    if start_note:
        notes.append(start_note)
    context = {
        "python": build.python,
        "base_image": BASE_IMAGE.format(python=build.python),
        "pipefail": any(_has_pipe(c) for c in build.commands),
        "env": env,
        "system_packages": list(dict.fromkeys(build.system_packages)),
        "uid": APP_UID,
        "gid": APP_GID,
        "mounts": mounts,
        "owned_dirs": [shlex.quote(d) for d in ["/app", *mounts]],
        "entrypoint": bool(mounts),
        "entrypoint_copy": _copy([ENTRYPOINT_FILE], ENTRYPOINT_IN_IMAGE),
        # Run through sh: no file mode to keep (a checkout can lose the x bit, and the legacy
        # builder has no COPY --chmod), and the script execs the server, which becomes PID 1.
        "entrypoint_argv": _json(["/bin/sh", ENTRYPOINT_IN_IMAGE, *mounts, "--"]),
        "deps": deps,
        "build_steps": steps,
        "port": svc.port,
        "healthcheck": _healthcheck(svc),
        "cmd_argv": _json(cmd),
    }
    return context, notes


def _deps(install: str, python: str) -> dict:
    path = _norm(install)
    directory = posixpath.dirname(path)
    if posixpath.basename(path) == "pyproject.toml":
        if tuple(int(p) for p in python.split(".")) < (3, 11):
            return {"kind": "pyproject-late", "file": path, "dir_arg": shlex.quote(directory or ".")}
        return {"kind": "pyproject", "file": path, "file_arg": shlex.quote(path),
                "copy_line": _copy([path], (directory + "/") if directory else "./")}
    # A requirements file in a folder often includes its siblings (-r base.txt, -c constraints.txt).
    sources = [f"{directory}/*.txt"] if directory else [path]
    return {"kind": "requirements", "file": path, "file_arg": shlex.quote(path),
            "copy_line": _copy(sources, (directory + "/") if directory else "./")}


def _copy(sources: list[str], dest: str) -> str:
    # Only what the legacy builder understands too: a Docker CLI without buildx uses it.
    words = [*sources, dest]
    if all(re.fullmatch(r"[A-Za-z0-9_./*@+:-]+", w) for w in words):
        return f"COPY {' '.join(words)}"
    return f"COPY {_json(words)}"


def _run(command: str) -> str:
    # Shell form reads best; exec form for text the Dockerfile parser would take apart
    # (a newline ends an instruction, `<<` starts a heredoc, a trailing \ continues a line).
    if "\n" in command or "\r" in command or "<<" in command or command.rstrip().endswith("\\"):
        return f"RUN {_json(['/bin/sh', '-c', command])}"
    return f"RUN {command}"


def _has_pipe(command: str) -> bool:
    return "|" in command.replace("||", "")


def _healthcheck(svc: Service) -> str | None:
    if svc.port is None:
        return None
    port = repr(str(svc.port))
    if svc.health is None:
        # No health path: the port accepting connections is the best sign of life.
        code = (f"import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('PORT', {port}))), "
                "timeout=5).close()")
        return f"HEALTHCHECK CMD {_json(['python', '-c', code])}"
    health = svc.health
    code = (f"import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', {port}) "
            f"+ {health.path!r}, timeout={health.timeout:g})")
    return (f"HEALTHCHECK --interval={go_duration(health.interval)} --timeout={go_duration(health.timeout)} "
            f"--start-period={go_duration(health.grace)} --retries=3 \\\n  CMD {_json(['python', '-c', code])}")


def _cmd(svc: Service, name: str) -> tuple[list[str], Note | None]:
    start = svc.start.strip()
    if _words(start)[:1] == ["exec"]:
        return ["sh", "-c", start], None
    if _is_compound(start):
        note = Note(NAME, f"the start command of `{name}` is a shell list, so the server is not PID 1 and may not "
                    "get SIGTERM: open streams are cut instead of drained", key=f"services.{name}.start",
                    fix="put `exec` before the server command, e.g. `python migrate.py && exec uvicorn ...`")
        return ["sh", "-c", start], note
    return ["sh", "-c", f"exec {start}"], None


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _is_compound(command: str) -> bool:
    """Whether `command` is more than one shell command (&&, ;, |, a newline, ...)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace = " \t"  # keep newlines visible
    try:
        tokens = list(lexer)
    except ValueError:
        return True
    return any(t in ("\n", ";", "&&", "||", "|", "&", ";;") or set(t) <= set(";&|") for t in tokens)


def _dockerignore(spec: Spec, context: str) -> str:
    volume_dirs = sorted({v.name for name, s in spec.services.items() if _norm(s.build.context) == context
                          for v in s.volumes})
    lines = [
        "# What `docker build` never needs: sent to the builder it would slow every build,",
        "# bust the layer cache, or put secrets and local data into the image.",
        "",
        "# Version control",
        ".git",
        ".hg",
        ".svn",
        "",
        "# Secrets: values reach the container from the platform, never from a file in the image",
        ".env",
        ".env.*",
        "!.env.example",
        "",
        "# Virtualenvs and caches",
        ".venv",
        "venv",
        ".virtualenv",
        "**/__pycache__",
        "**/*.py[cod]",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".coverage",
        "htmlcov",
        "*.egg-info",
        "node_modules",
        "",
        "# Local data: streamdeploy's own (volumes of `up --target local`)",
        ".streamdeploy",
    ]
    if volume_dirs:
        lines.append("# and the folders apps write a volume's data to when run without one")
        lines.extend(f"/{d}" for d in volume_dirs)
    excluded = list(dict.fromkeys(p for s in spec.services.values() if _norm(s.build.context) == context
                                  for p in s.build.exclude))
    if excluded:
        lines.append("# and what the description says the app keeps locally (build.exclude)")
        lines.extend(excluded)
    lines += [
        "",
        "# Editors and OS",
        ".idea",
        ".vscode",
        "**/.DS_Store",
        "",
        "# Tests stay in: a build step may run them, and they are small.",
    ]
    return "\n".join(lines) + "\n"


def _entrypoint() -> str:
    return dockerfile.entrypoint(uid=APP_UID, gid=APP_GID)


def _json(argv: list[str]) -> str:
    return json.dumps(argv, ensure_ascii=False)


def _dir(context: str) -> str:
    return "" if context == "." else context


def _join(context: str, name: str) -> str:
    return name if context == "." else f"{context}/{name}"


def split_tag(image: str) -> tuple[str, str | None]:
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, None


# --- the plan ------------------------------------------------------------------------------


def container_name(spec: Spec, service: str) -> str:
    return f"{spec.name}-{service}"


def volume_name(spec: Spec, volume: str) -> str:
    # The same name Compose gives `<project>_<volume>`, so both targets find the same data.
    return f"{spec.name}_{volume}"


def release_images(spec: Spec, ctx: Context) -> dict[str, str]:
    """service -> the image this release builds: the image's name, tagged with the hash of
    its build inputs, so each release stays on the host under its own tag (for `rollback`)."""
    from streamdeploy.targets import image_tag

    return {name: f"{split_tag(image_name(spec, name))[0]}:{image_tag.release_tag(spec, name, ctx)}"
            for name in spec.services}


def _plan(spec: Spec, ctx: Context) -> Plan:
    notes: list[Note] = []
    steps: list[Step] = []
    images = release_images(spec, ctx)
    network = spec.name
    steps.append(Step(
        ("docker", "network", "create", network),
        f"Creating network {network} (services reach each other by name)",
        skip_if=Probe(("docker", "network", "inspect", network)),
        hint="is the Docker engine running? `docker info` tells",
    ))
    for name, svc in spec.services.items():
        for volume in svc.volumes:
            steps.append(_volume_step(spec, volume.name, "(kept across deploys)"))
    used_stores = [s for s in dict.fromkeys(svc.store for svc in spec.services.values()) if s in spec.stores]
    for store in used_stores:
        steps.append(_volume_step(spec, store, f"for the {store} store"))

    builds: dict[tuple[str, str], list[str]] = {}  # (Dockerfile, context) -> services
    for name in spec.services:
        builds.setdefault((dockerfile_path(spec, name), build_context(spec, name)), []).append(name)
    for (dockerfile, context), names in builds.items():
        tags = tuple(part for n in names for part in ("--tag", images[n]))
        steps.append(Step(
            ("docker", "build", *tags, "--file", dockerfile, context),
            f"Building image {', '.join(images[n] for n in names)} from {dockerfile}",
            timeout=BUILD_TIMEOUT,
            hint=f"the build output above shows the failing step; `docker build --file {dockerfile} {context}` "
                 "repeats it",
        ))

    for store in used_stores:
        definition = spec.stores[store]
        container = container_name(spec, store)
        steps.extend(_replace(container, DEFAULT_DRAIN))
        steps.append(Step(
            ("docker", "run", "--detach", "--name", container, "--restart", "unless-stopped",
             "--network", network, "--network-alias", store,
             "--volume", f"{volume_name(spec, store)}:{CHROMA_DATA}",
             "--cpus", _cpus(definition.resources.cpu), "--memory", str(definition.resources.memory),
             CHROMA_IMAGE.format(version=definition.version)),
            f"Starting the {store} store (Chroma {definition.version}) as {container}",
            hint=f"`docker logs {container}` shows why it stopped",
        ))

    from streamdeploy.targets import peers

    service_steps, urls, secrets = _service_steps(spec, images, notes)
    steps.extend(service_steps)
    return Plan(NAME, tuple(steps), tuple(notes), url=peers.main_url(spec, urls), urls=tuple(urls),
                secrets=tuple(secrets), tools=("docker",), release=tuple(images.items()),
                secret_groups=SecretNeeds.of(*spec.services.values()).groups)


def _service_steps(spec: Spec, images: dict[str, str], notes: list[Note], only: tuple[str, ...] | None = None
                   ) -> tuple[list[Step], list[tuple[str, str]], list[str]]:
    """Replace each service's container with one of ``images[service]``; ``only``: these
    services, from images already here (a rollback: one gone from the host stops, never pulls).
    Returns (steps, each web service's URL, the secrets they pass)."""
    from streamdeploy.targets import peers

    network = spec.name
    steps: list[Step] = []
    published: dict[int, str] = {}
    urls: list[tuple[str, str]] = []
    secrets: list[str] = []
    for name in peers.deploy_order(spec):
        svc = spec.services[name]
        base = f"services.{name}"
        env, env_notes = peers.env(spec, name, NAME, lambda ref, user=name: peer_value(spec, user, ref))
        notes.extend(env_notes)
        if svc.store in spec.stores:
            host_var, port_var = spec.stores[svc.store].env_names
            env[host_var] = svc.store
            env[port_var] = str(spec.stores[svc.store].port)
        if svc.replicas > 1:
            notes.append(Note(NAME, f"runs one container per service; `{name}` gets 1, not {svc.replicas}",
                              key=f"{base}.replicas", fix="use --target compose or kubernetes for replicas"))
        container = container_name(spec, name)
        drain = drain_seconds(svc)
        argv = ["docker", "run", *(("--pull", "never") if only is not None else ()), "--detach", "--name", container,
                "--restart", "unless-stopped", "--network", network, "--network-alias", name,
                "--stop-timeout", str(drain)]
        if svc.port is not None:
            if svc.port in published:
                notes.append(Note(NAME, f"`{name}` and `{published[svc.port]}` both publish port {svc.port} on "
                                  "this machine; the second container cannot start", key=f"{base}.port",
                                  fix="give one of them another port"))
            published.setdefault(svc.port, name)
            # Loopback only: Docker's published ports bypass host firewalls, and the server
            # trusts forwarded headers; put a reverse proxy in front to serve other machines.
            argv += ["--publish", f"127.0.0.1:{svc.port}:{svc.port}"]
            urls.append((name, f"http://127.0.0.1:{svc.port}"))
        for volume in svc.volumes:
            argv += ["--volume", f"{volume_name(spec, volume.name)}:{volume.mount}"]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        for secret in svc.secrets:
            argv += ["--env", secret]  # no value: docker copies it from the environment we pass
        argv += ["--cpus", _cpus(svc.resources.cpu), "--memory", str(svc.resources.memory)]
        argv.append(images[name])
        if only is not None and name not in only:
            continue
        steps.extend(_replace(container, drain))
        where = f" on http://127.0.0.1:{svc.port}" if svc.port is not None else ""
        hint = f"`docker logs {container}` shows why it stopped"
        if only is not None:
            hint = ("\"No such image\" means it was removed from this host (`docker image prune -a`): check out "
                    f"that release's commit and run `streamdeploy up --target {NAME}`; " + hint)
        needs = SecretNeeds.of(svc)  # `--env NAME` with NAME unset sets nothing in the container
        steps.append(Step(
            tuple(argv), f"Starting {name}{where}" + (f" from {images[name]}" if only is not None else ""),
            pass_secrets=needs.required, pass_if_set=needs.optional, hint=hint,
        ))
        secrets.extend(s for s in needs.required if s not in secrets)
    return steps, urls, secrets


def _volume_step(spec: Spec, volume: str, why: str) -> Step:
    """`docker volume create`, labelled as Compose labels its own: `--target compose` then takes
    this volume (and its data) as the project's, without warning that someone else made it."""
    vol = volume_name(spec, volume)
    return Step(("docker", "volume", "create", "--label", f"com.docker.compose.project={spec.name}",
                 "--label", f"com.docker.compose.volume={volume}", vol), f"Creating volume {vol} {why}")


def _replace(container: str, drain: int) -> list[Step]:
    """Stop (draining for `drain` seconds) and remove the old container, if there is one."""
    exists = Probe(("docker", "container", "inspect", container), skip_when="fails")
    return [
        Step(("docker", "stop", "--timeout", str(drain), container),
             f"Stopping the old {container} (up to {drain}s for open requests to finish)", skip_if=exists,
             timeout=drain + 60.0),
        Step(("docker", "rm", container), f"Removing the old {container} (its volumes stay)", skip_if=exists),
    ]


def _cpus(cpu: float) -> str:
    return f"{cpu:g}"


class DockerTarget:
    name = NAME
    title = TITLE

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        return image_files(spec, ctx)

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        return _plan(spec, ctx)

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return rollback(spec, ctx)


# --- rollback --------------------------------------------------------------------------------


def rollback(spec: Spec, ctx: Context) -> Plan:
    """Each service's container replaced by one of the previous release's image, which `up`
    left on this host under its tag: no build, no network, volume or store touched."""
    from streamdeploy import releases
    from streamdeploy.targets import peers

    live, before = releases.local_previous(ctx.root, NAME)
    back = {name: before[name] for name in spec.services if before and name in before}
    if not back:
        raise releases.none_here(NAME, live)
    images = {**{n: (live or {}).get(n, image_name(spec, n)) for n in spec.services}, **back}
    notes: list[Note] = []
    steps, urls, secrets = _service_steps(spec, images, notes, only=tuple(back))
    return Plan(NAME, tuple(steps), tuple(notes), url=peers.main_url(spec, urls), urls=tuple(urls),
                secrets=tuple(secrets), tools=("docker",), release=tuple(images.items()),
                secret_groups=SecretNeeds.of(*spec.services.values()).groups)


TARGET = DockerTarget()
