"""`up --target local`: run the service on this machine the way a platform would.

The plan, all real commands the runner executes (and `plan` shows):

1. a virtualenv per dependency file at ``.streamdeploy/venv``, with the Python the description
   names (``local_python``: found on this machine, or `up` stops and says how to get it),
   built with ``uv`` when installed (else ``python -m venv`` + pip), the dependencies
   installed as their lock file pins them (``uv.lock``, ``poetry.lock``, a requirements
   file), then ``build.commands``; a stamp with the hash of all of that skips it next
   time, until one of them changes;
2. each volume a directory ``.streamdeploy/volumes/<name>``, the env var that names the
   volume pointed at it (the data survives ``down`` and the next ``up``);
3. each server-mode store as ``chroma run`` from the virtualenv on 127.0.0.1;
4. each service's ``start`` through ``sh -c`` in ``build.context``, in the background, with
   PORT (``targets.local.port`` or the service's port; the next free one when busy),
   HOST=127.0.0.1 (the machine's network cannot reach it), the plain env, and its secrets
   by name (``pass_if_set``): `up` reads them from the environment, then ``--env-file`` or
   ``.env`` next to the description. Locally secrets are optional: `up` warns about a
   missing one and starts without it, since most apps run without their hosted-API keys
   on a laptop. The plan names every secret whether or not it has a value.

``STREAMDEPLOY_LOCAL_PYTHON=/path/to/python`` skips the virtualenv and runs with that
interpreter's environment (for CI and for people who manage their own).

Render writes no files: nothing needs configuring to run here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from streamdeploy import ports as machine
from streamdeploy.problems import fail
from streamdeploy.description import Service, ServiceRef, Spec, suggested_env
from streamdeploy.targets import local_python, peers
from streamdeploy.targets.base import Context, Note, Plan, Probe, Rendering, Step

NAME = "local"
STATE_DIR = ".streamdeploy"
HOST = "127.0.0.1"
PYTHON_ENV = "STREAMDEPLOY_LOCAL_PYTHON"
STAMP = ".streamdeploy-build.sha256"  # inside the venv: removing the venv removes the stamp
_HELPER = (sys.executable, "-m", "streamdeploy.targets.local")
_PORT_SCAN = 100  # how far past a busy port to look for a free one


@dataclass(frozen=True)
class Environment:
    """Where one group of services (same context and dependency file) gets its Python."""

    services: tuple[str, ...]
    context: Path  # absolute
    install: str  # relative to context, as in the description
    venv: Path | None  # None: an interpreter given by STREAMDEPLOY_LOCAL_PYTHON
    python: Path
    bin_dir: Path

    @property
    def label(self) -> str:
        return _rel(self.venv) if self.venv else str(self.python)


class LocalTarget:
    name = NAME
    title = "this machine"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        return Rendering(files=(), notes=tuple(_static_notes(spec)))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        root = ctx.root.resolve()
        notes = list(_static_notes(spec))
        environments = _environments(spec, root, ctx)
        by_service = {s: env for env in environments for s in env.services}
        steps: list[Step] = []
        for environment in environments:
            steps.extend(_environment_steps(spec, environment, root, notes))
        ports = assign_ports(spec, root, notes)
        used_stores = [n for n in spec.stores if any(s.store == n for s in spec.services.values())]
        volumes = sorted({v.name for s in spec.services.values() for v in s.volumes} | set(used_stores))
        for name in volumes:
            path = root / STATE_DIR / "volumes" / name
            steps.append(Step(argv=("mkdir", "-p", str(path)), description=f"Volume {name} at {_rel(path)}",
                              timeout=30.0))
        for store_name in used_stores:
            user = next(s for s, svc in spec.services.items() if svc.store == store_name)
            steps.extend(_store_steps(spec, store_name, by_service[user], root, ports, notes))
        for name in peers.deploy_order(spec):
            service = spec.services[name]
            steps.extend(_wait_for_peers(spec, name, ports))
            steps.append(_start_step(spec, name, service, by_service[name], root, ports))
        urls = [(n, f"http://{HOST}:{ports[('service', n)]}") for n, s in spec.services.items() if s.is_web]
        url = peers.main_url(spec, urls)
        tools = {"sh", "mkdir"}
        if any(e.venv for e in environments):
            tools |= {"grep"}  # uv runs by the absolute path it was found at: nothing to look up
        return Plan(target=NAME, steps=tuple(steps), notes=tuple(notes), url=url, urls=tuple(urls), secrets=(),
                    tools=tuple(sorted(tools)))

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        raise no_release()


TARGET = LocalTarget()


# --- where things live ------------------------------------------------------------------


def service_url(plan: Plan, spec: Spec, service: str) -> str | None:
    """The URL a service was given in ``plan`` (its start step's PORT)."""
    for step in plan.steps:
        if step.background and dict(step.env).get("STREAMDEPLOY_SERVICE") == service:
            port = dict(step.env).get("PORT")
            return f"http://{HOST}:{port}" if port else None
    return None


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _uv() -> str | None:
    return local_python.uv_binary()


def _given_python(ctx: Context) -> Path | None:
    value = ctx.option("python") or os.environ.get(PYTHON_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        found = shutil.which(value)
        path = Path(found) if found else path.resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise fail(f"{PYTHON_ENV}={value} is not an executable Python",
                   fix=f"point it at a python binary, or unset {PYTHON_ENV} to use .streamdeploy/venv")
    return path


def _environments(spec: Spec, root: Path, ctx: Context) -> list[Environment]:
    """One environment per (context, dependency file); services that share them share it."""
    given = _given_python(ctx)
    groups: dict[tuple[Path, str], list[str]] = {}
    for name, service in spec.services.items():
        context = (root / service.build.context).resolve()
        groups.setdefault((context, service.build.install), []).append(name)
    out = []
    for i, ((context, install), names) in enumerate(groups.items()):
        if given is not None:
            out.append(Environment(tuple(names), context, install, None, given, given.parent))
            continue
        venv = root / STATE_DIR / ("venv" if i == 0 else f"venv-{names[0]}")
        out.append(Environment(tuple(names), context, install, venv, venv / "bin" / "python", venv / "bin"))
    return out


# --- steps ----------------------------------------------------------------------------


def peer_value(spec: Spec, user: str, ref: ServiceRef, ports: dict[tuple[str, str], int]) -> str:
    """Every service here listens on loopback, on the port this run gave it."""
    return peers.literal(ref, peers.Address(HOST, ports[("service", ref.service)]))


def _wait_for_peers(spec: Spec, name: str, ports: dict[tuple[str, str], int]) -> list[Step]:
    """Before a service starts, the services it references answer (as a platform orders deploys)."""
    steps = []
    for other in dict.fromkeys(ref.service for ref in spec.services[name].env_refs.values()):
        target = spec.services[other]
        if other == name or peers.deploy_order(spec).index(other) > peers.deploy_order(spec).index(name):
            continue  # a cycle: the later one starts without waiting
        path = target.health.path if target.health else "/"
        wait = (target.health.grace if target.health else 0) + 60
        steps.append(Step(
            argv=(*_HELPER, "wait-http", f"http://{HOST}:{ports[('service', other)]}{path}", "--timeout", f"{wait:g}"),
            description=f"Waiting for {other} to answer before starting {name}",
            timeout=wait + 30,
            hint=f"{other} did not answer; see its output in {STATE_DIR}/logs/",
        ))
    return steps


def _build_env(spec: Spec, environment: Environment, service: Service) -> dict[str, str]:
    """What a build step sees: the plain env and the environment's commands first on PATH."""
    env = dict(service.plain_env)
    env["PATH"] = str(environment.bin_dir) + os.pathsep + os.environ.get("PATH", os.defpath)
    if environment.venv is not None:
        env["VIRTUAL_ENV"] = str(environment.venv)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _environment_steps(spec: Spec, environment: Environment, root: Path, notes: list[Note]) -> list[Step]:
    first = spec.services[environment.services[0]]
    key = f"services.{environment.services[0]}.build"
    install_path = environment.context / environment.install
    if not environment.context.is_dir():
        raise fail(f"build context {environment.context} does not exist", key=f"{key}.context",
                   fix="set build.context to the app's directory, relative to streamdeploy.yaml")
    if not install_path.is_file():
        raise fail(f"dependency file {install_path} does not exist", key=f"{key}.install",
                   fix="set build.install to your requirements file (relative to build.context), or pyproject.toml")
    build_env = tuple(sorted(_build_env(spec, environment, first).items()))
    commands = first.build.commands
    steps: list[Step] = []
    fresh: Probe | None = None
    digest = None
    if environment.venv is not None:
        # Which Python and how to install: local_python decides (lock files, uv or pip).
        want = spec.targets.local.python or first.build.python
        python_key = "targets.local.python" if spec.targets.local.python else f"{key}.python"
        interpreter = local_python.choose(want, python_key)
        uv = _uv()
        digest = local_python.digest(environment.context, environment.install, commands, interpreter, uv)
        fresh = Probe(argv=("grep", "-qxF", digest, str(environment.venv / STAMP)), skip_when="exit0",
                      reason="up to date")
        built = local_python.venv_steps(environment.venv, interpreter, environment.context,
                                        _cwd(environment.context, root), environment.install, uv,
                                        f"{key}.install", fresh, environment.label)
        steps.extend(built.steps)
        notes.extend(built.notes)
        if interpreter.source != "this interpreter":
            notes.append(Note(NAME, f"runs Python {interpreter.version} ({interpreter.path}, from "
                                    f"{interpreter.source}), as {python_key} says", key=python_key, level="info"))
    else:
        notes.append(Note(NAME, f"{PYTHON_ENV} is set: using {environment.python} as it is; "
                                f"{environment.install} is not installed", level="info"))
    for command in commands:
        steps.append(Step(
            argv=("sh", "-c", command),
            description=f"Build step: {command}",
            env=build_env,
            skip_if=fresh,
            cwd=_cwd(environment.context, root),
            timeout=1800.0,
            hint=f"this is one of {key}.commands; run it by hand in {environment.context} to see why",
        ))
    if environment.venv is not None:
        steps.append(Step(
            argv=(*_HELPER, "stamp", str(environment.venv / STAMP), digest),
            description=f"Recording what {environment.label} was built from",
            skip_if=fresh,
            timeout=30.0,
        ))
    return steps


def _start_step(spec: Spec, name: str, service: Service, environment: Environment, root: Path,
                ports: dict[tuple[str, str], int]) -> Step:
    env = _build_env(spec, environment, service)
    env.update(service.described_env())
    for key, ref in service.env_refs.items():
        env[key] = peer_value(spec, name, ref, ports)
    volumes_dir = root / STATE_DIR / "volumes"
    for volume in service.volumes:
        if volume.env:
            env[volume.env] = str(volumes_dir / volume.name)
        # a value that names a file on the volume (DATABASE_URL=sqlite:////data/sqlite/app.db) names it here
        for key, value in service.env.items():
            if key != volume.env and _under(value, volume.mount):
                env[key] = _moved(env[key], volume.mount, str(volumes_dir / volume.name))
    if service.store is not None and service.store in spec.stores:
        host_var, port_var = spec.stores[service.store].env_names
        env[host_var] = HOST
        env[port_var] = str(ports[("store", service.store)])
    if service.is_web:
        env["PORT"] = str(ports[("service", name)])
        env["HOST"] = HOST
    env["STREAMDEPLOY_SERVICE"] = name
    if service.is_web:
        what = f"Starting {name} on http://{HOST}:{env['PORT']}"
    else:
        what = f"Starting {name} (worker)"
    return Step(
        argv=("sh", "-c", exec_form(service.start)),
        description=what,
        env=tuple(sorted(env.items())),
        pass_if_set=tuple(service.secrets),
        cwd=_cwd(environment.context, root),
        background=True,
        listens=(ports[("service", name)],) if service.is_web else (),
        hint=f"the service's output is in {STATE_DIR}/logs/; try its start command by hand in {environment.context}",
    )


def _under(value: str, mount: str) -> bool:
    """Does an env value name ``mount`` or a path below it (a path, or a URL ending in one)?"""
    at = value.find(mount)
    if at < 0:
        return False
    end = at + len(mount)
    return (end == len(value) or value[end] == "/") and (at == 0 or value[at - 1] in "/:=")


def _moved(value: str, mount: str, local: str) -> str:
    at = value.find(mount)
    return value[:at] + local + value[at + len(mount):]


def exec_form(command: str) -> str:
    """``exec CMD`` when CMD is one simple command, so the server replaces the shell.

    Then the server itself leads the process group the runner signals and waits for: a
    stop waits for the server's own graceful shutdown (not just the shell's death), and
    its exit status is the server's. Lists and pipelines (``a && b``) stay as written.
    """
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return command
    if not tokens or tokens[0] in ("exec", "cd") or "=" in tokens[0] or "\n" in command:
        return command
    if any(t and set(t) <= set("();|&") for t in tokens):
        return command
    return "exec " + command


def _store_steps(spec: Spec, name: str, environment: Environment, root: Path,
                 ports: dict[tuple[str, str], int], notes: list[Note]) -> list[Step]:
    """A server-mode store as `chroma run` on loopback, and a wait until it answers."""
    store = spec.stores[name]
    port = ports[("store", name)]
    notes.append(Note(NAME, f"store `{name}` runs the chromadb in {environment.label}, "
                            f"not a pinned {store.version} server image", key=f"stores.{name}.version",
                      level="info"))
    return [
        Step(
            argv=(str(environment.bin_dir / "chroma"), "run", "--path", str(root / STATE_DIR / "volumes" / name),
                  "--host", HOST, "--port", str(port)),
            description=f"Starting store {name}: chroma on {HOST}:{port}",
            background=True,
            listens=(port,),
            hint=f"the `chroma` command comes from chromadb in {environment.install}; add chromadb there",
        ),
        Step(
            argv=(*_HELPER, "wait-http", f"http://{HOST}:{port}/api/v2/heartbeat", "--timeout", "60"),
            description=f"Waiting for store {name} to answer",
            timeout=90.0,
            hint=f"see the store's output in {STATE_DIR}/logs/{NAME}.log",
        ),
    ]


def _cwd(context: Path, root: Path) -> str:
    try:
        return str(context.relative_to(root)) or "."
    except ValueError:
        return str(context)


# --- ports ----------------------------------------------------------------------------


def port_free(port: int) -> bool:
    """Could a server bind 127.0.0.1:port now (as uvicorn does, with SO_REUSEADDR)?"""
    return machine.port_free(port, HOST)


def assign_ports(spec: Spec, root: Path, notes: list[Note]) -> dict[tuple[str, str], int]:
    """A distinct free port for every web service and used store, preferring the described ones.

    A port counts as free when nobody holds it, or when this description's earlier local
    run, still up, listens on it: the runner stops that run before it starts the new one
    (as a platform replaces the old instance). Any other holder is a stranger, even
    while the earlier run is alive (it may have moved to 8001 because someone has 8000):
    the next port is taken, and the runner checks again before stopping anything.
    """
    ours = _ports_of_previous_run(root)
    taken: set[int] = set()
    out: dict[tuple[str, str], int] = {}
    wanted: list[tuple[tuple[str, str], int, str]] = []
    first_web = True
    for name, service in spec.services.items():
        if not service.is_web:
            continue
        port = service.port
        key = f"services.{name}.port"
        if first_web and spec.targets.local.port:
            port, key = spec.targets.local.port, "targets.local.port"
        first_web = False
        wanted.append((("service", name), port, key))
    for store_name, store in spec.stores.items():
        if any(s.store == store_name for s in spec.services.values()):
            wanted.append((("store", store_name), store.port, f"stores.{store_name}.port"))
    # Services first: their ports are the ones people type into a browser.
    for ident, port, key in wanted:
        chosen = port
        while chosen in taken or (chosen not in ours and not port_free(chosen)):
            chosen += 1
            if chosen > min(port + _PORT_SCAN, 65535):
                raise fail(f"no free port between {port} and {port + _PORT_SCAN} on {HOST}", key=key,
                           fix="stop what is using them, or set targets.local.port", exit_code=3)
        if chosen != port:
            why = "is used by another service here" if port in taken else "is in use on this machine"
            fix = ("set targets.local.port to choose one" if key.startswith(("targets.", "services."))
                   else f"set {key} to a port nobody uses")
            notes.append(Note(NAME, f"port {port} {why}; {ident[1]} gets {chosen}", key=key, fix=fix))
        taken.add(chosen)
        out[ident] = chosen
    return out


def _ports_of_previous_run(root: Path) -> set[int]:
    """The ports this description's earlier local run listens on (while it is still up)."""
    from streamdeploy import runner

    previous = runner.running(root, NAME)
    held = runner.listening_ports(previous)
    if held is None:  # no /proc: a busy port is taken to be the earlier run's, if there is one
        return set(range(1, 65536)) if previous else set()
    return held


# --- notes that do not depend on this machine -------------------------------------------


def _static_notes(spec: Spec) -> list[Note]:
    notes = []
    for name, service in spec.services.items():
        base = f"services.{name}"
        if service.replicas > 1:
            notes.append(Note(NAME, f"runs 1 instance of {name}, not {service.replicas}", key=f"{base}.replicas",
                              level="info"))
        if service.build.system_packages:
            notes.append(Note(NAME, f"does not install system packages ({', '.join(service.build.system_packages)})",
                              key=f"{base}.build.system_packages",
                              fix="install them with your OS package manager"))
        if service.build.dockerfile != "auto":
            notes.append(Note(NAME, f"runs without Docker, so {service.build.dockerfile} is not used",
                              key=f"{base}.build.dockerfile", level="info"))
        notes.append(Note(NAME, "cpu and memory limits are not enforced", key=f"{base}.resources", level="info"))
        for i, volume in enumerate(service.volumes):
            if not volume.env and not any(_under(value, volume.mount) for value in service.env.values()):
                notes.append(Note(
                    NAME, f"volume {volume.name} has no `env`, so the app cannot learn its local directory "
                          f"({STATE_DIR}/volumes/{volume.name}) and would write to {volume.mount} instead",
                    key=f"{base}.volumes[{i}].env",
                    fix=f"add `env: {suggested_env(volume.name)}` and read it in the app"))
        if "0.0.0.0" in service.start and "${HOST" not in service.start:
            notes.append(Note(NAME, f"{name} binds 0.0.0.0, so other machines on your network can reach it "
                                    "while it runs here", key=f"{base}.start",
                              fix="bind ${HOST:-0.0.0.0}: local runs set HOST=127.0.0.1", level="info"))
    return notes


# --- did the data land on the volumes? -------------------------------------------------

_SNAPSHOT_SKIP = {STATE_DIR, ".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache",
                  ".ruff_cache"}
_SNAPSHOT_LIMIT = 20_000  # files per context: a bigger tree is not looked at


def _files(directory: Path) -> dict[str, float] | None:
    """Each file (relative) and when it last changed; None for a tree too big to watch."""
    found: dict[str, float] = {}
    for current, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in _SNAPSHOT_SKIP and not d.endswith(".egg-info")]
        for name in names:
            if not name.endswith((".pyc", ".log")):
                path = os.path.join(current, name)
                try:
                    found[os.path.relpath(path, directory)] = os.stat(path).st_mtime_ns
                except OSError:
                    continue
        if len(found) > _SNAPSHOT_LIMIT:
            return None
    return found


def snapshot(spec: Spec, root: Path) -> dict[str, dict[str, float] | None]:
    """The files of each build context that keeps a volume, before the service starts."""
    root = root.resolve()
    return {str((root / s.build.context).resolve()): _files((root / s.build.context).resolve())
            for s in spec.services.values() if s.volumes}


def volume_checks(spec: Spec, root: Path, before: dict[str, dict[str, float] | None]) -> list:
    """A failed check per volume that stayed empty while the app wrote files in its source tree
    instead: the app does not keep its data where the volume is, so a platform would lose it."""
    from streamdeploy.verify import Check

    root = root.resolve()
    checks = []
    for name, service in spec.services.items():
        context = (root / service.build.context).resolve()
        earlier = before.get(str(context))
        if not service.volumes or earlier is None:
            continue
        now = _files(context) or {}
        new = sorted(p for p, changed in now.items() if earlier.get(p) != changed)  # written since the start
        for volume in service.volumes:
            local = root / STATE_DIR / "volumes" / volume.name
            if any(p.is_file() for p in local.rglob("*")) if local.is_dir() else False:
                checks.append(Check("volumes", "ok", f"volume {volume.name}: the app wrote its data there "
                                                     f"({_rel(local)})", facts={"volume": volume.name}))
                continue
            if not new:
                continue  # nothing written anywhere yet: nothing to say
            how = (f"the app does not read {volume.env}" if volume.env else
                   f"the volume has no `env`, so the app cannot learn where it is (add `env: "
                   f"{suggested_env(volume.name)}` and read it)")
            checks.append(Check(
                "volumes", "failed",
                f"volume {volume.name} stayed empty while {name} wrote {', '.join(new[:3])}"
                f"{' and more' if len(new) > 3 else ''} in {_rel(context)}: {how}, so on a platform this data "
                f"would be lost at the next deploy", facts={"volume": volume.name, "written": new[:20]}))
    return checks


# --- tiny helpers the plan runs as steps ------------------------------------------------


def _main(argv: list[str]) -> int:
    """``python -m streamdeploy.targets.local stamp PATH DIGEST | wait-http URL --timeout S``."""
    if len(argv) == 3 and argv[0] == "stamp":
        path = Path(argv[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(argv[2] + "\n", encoding="utf-8")
        return 0
    if len(argv) == 4 and argv[0] == "wait-http" and argv[2] == "--timeout":
        return _wait_http(argv[1], float(argv[3]))
    sys.stderr.write(f"usage: python -m streamdeploy.targets.local stamp PATH DIGEST | wait-http URL --timeout S\n"
                     f"got: {shlex.join(argv)}\n")
    return 2


def _wait_http(url: str, timeout: float) -> int:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    delay, last = 0.1, "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code < 500:
                return 0
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as err:
            last = type(err).__name__
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    sys.stderr.write(f"{url} did not answer within {timeout:g} s ({last})\n")
    return 1


# --- rollback ----------------------------------------------------------------------------


def no_release():
    """`up --target local` keeps no releases: it runs the working tree. Git has the history."""
    return fail("`up --target local` runs the working tree as it is, so there is no earlier release here to roll "
                "back to", fix="go back in git, then run it again: `git stash` (or `git checkout <commit>`) and "
                "`streamdeploy up --target local`; the volumes under .streamdeploy/volumes/ are kept")


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
