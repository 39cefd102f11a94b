"""`--target compose`: one ``compose.yaml`` for one host, shipped by `docker compose up --wait`.

Each service builds from its Dockerfile (the docker target's); a server-mode store runs
from its official image on a named volume and is never published on the host (Chroma
has no authentication). Secrets are listed by name only, with no value: Compose then
takes each value from the environment of the `docker compose` process, which `up` fills
from its own; no file holds them.
"""

from __future__ import annotations

import math
import posixpath

from streamdeploy import units
from streamdeploy.spec import Resources, Service, Spec, Store
from streamdeploy.targets import kubernetes
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, Step

FILE = "compose.yaml"
CHROMA_DATA = kubernetes.CHROMA_DATA
WAIT_TIMEOUT = 300  # seconds `up --wait` gives the containers to become healthy
BUILD_TIMEOUT = 1800  # a first build downloads the base image and every dependency


def image_name(spec: Spec, service: str) -> str:
    """The tag the build gets: what the docker target builds and Kubernetes loads by default."""
    return f"{spec.name}-{service}"


def store_volume(store: str) -> str:
    return f"{store}_data"


def chroma_healthcheck_command(port: int) -> list[str]:
    """A heartbeat check for the chromadb/chroma image, which has bash but no curl or python.

    The image is debian:stable-slim plus dumb-init and the chroma binary (chroma-core/chroma
    rust/Dockerfile, target `cli`); bash, head and grep are Essential Debian packages.
    """
    request = f"GET {kubernetes.CHROMA_HEARTBEAT} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf '{request}' >&3 "
              "&& head -n 1 <&3 | grep -q ' 200 '")
    return ["CMD", "bash", "-c", script]


def app_healthcheck_command(service: Service) -> list[str]:
    """A health check run inside the app image with its own python: no curl needed."""
    assert service.health is not None and service.port is not None
    url = f"http://127.0.0.1:{service.port}{service.health.path}"
    # urlopen raises on a status >= 400 and on a timeout: the check then exits non-zero.
    code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout={service.health.timeout:g})"
    return ["CMD", "python", "-c", escape(code)]


def escape(text: str) -> str:
    """Compose interpolates ``$NAME`` in the file; ``$$`` is a literal dollar."""
    return text.replace("$", "$$")


class ComposeTarget:
    name = "compose"
    title = "Docker Compose"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        notes: list[Note] = []
        volumes = _volume_names(spec)
        services: dict = {}
        for name, store in spec.stores.items():
            services[name] = _store_service(name, store, volumes[(name, None)])
        for name, service in spec.services.items():
            services[name] = _app_service(spec, name, service, volumes, notes)
        document: dict = {"name": spec.name, "services": services}
        if volumes:
            document["volumes"] = {volume: {} for volume in sorted(volumes.values())}
        notes.extend(_port_clashes(spec))
        content = kubernetes.dump_yaml([document], start=False)
        return Rendering(files=(RenderedFile(FILE, content),), notes=tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        secrets: list[str] = []
        for service in spec.services.values():
            secrets.extend(s for s in service.secrets if s not in secrets)
        compose = ("docker", "compose", "-f", FILE)
        logs = f"see why: `docker compose -f {FILE} ps` and `docker compose -f {FILE} logs --no-color --tail 200`"
        steps = (
            Step(
                argv=(*compose, "config", "--quiet"),
                description=f"Checking {FILE}",
                cwd=".",
                timeout=60,
                hint="is Docker Compose v2 installed? `docker compose version`",
            ),
            Step(
                # No --yes: it would answer "recreate (data will be lost)?" for a changed volume.
                argv=(*compose, "up", "--detach", "--build", "--wait", "--wait-timeout", str(WAIT_TIMEOUT),
                      "--remove-orphans"),
                description=f"Building and starting {', '.join([*spec.stores, *spec.services])}",
                pass_secrets=tuple(secrets),
                cwd=".",
                timeout=BUILD_TIMEOUT + WAIT_TIMEOUT,
                hint=logs,
            ),
        )
        web = kubernetes.web_services(spec)
        url = f"http://127.0.0.1:{spec.services[web[0]].port}" if web else None
        return Plan(target=self.name, steps=steps, url=url, secrets=tuple(secrets), tools=("docker",))


def _store_service(name: str, store: Store, volume: str) -> dict:
    return {
        "image": f"chromadb/chroma:{store.version}",
        # `chroma run` listens on localhost unless told otherwise.
        "command": ["run", "--path", CHROMA_DATA, "--host", "0.0.0.0", "--port", str(store.port)],
        # No `ports:`: only the services on this project's network reach it.
        "volumes": [{"type": "volume", "source": volume, "target": CHROMA_DATA}],
        "healthcheck": {
            "test": chroma_healthcheck_command(store.port),
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "30s",
        },
        "restart": "unless-stopped",
        "stop_grace_period": "30s",
        "deploy": {"resources": {"limits": _limits(store.resources)}},
        "logging": _logging(),
    }


def _app_service(spec: Spec, name: str, service: Service, volumes: dict, notes: list[Note]) -> dict:
    out: dict = {
        "build": {"context": service.build.context, "dockerfile": _dockerfile(spec, name)},
        "image": image_name(spec, name),
    }
    if service.port is not None:
        out["ports"] = [f"{service.port}:{service.port}"]
    environment: dict[str, str | None] = {k: escape(v) for k, v in kubernetes.plain_env(spec, service).items()}
    # Name only: Compose fills each from its own environment; unset, it is left out.
    environment.update({secret: None for secret in service.secrets})
    if environment:
        out["environment"] = environment
    if service.volumes:
        out["volumes"] = [{"type": "volume", "source": volumes[(name, v.name)], "target": v.mount}
                          for v in service.volumes]
    if service.store is not None and service.store in spec.stores:
        out["depends_on"] = {service.store: {"condition": "service_healthy"}}
    if service.health is not None and service.port is not None:
        health = service.health
        check: dict = {
            "test": app_healthcheck_command(service),
            "interval": units.format_duration(health.interval),
            "timeout": units.format_duration(health.timeout),
            "retries": 3,
        }
        if health.grace > 0:
            check["start_period"] = units.format_duration(health.grace)
        out["healthcheck"] = check
    out["restart"] = "unless-stopped"
    # SIGTERM, then this long for the server to end its streams before SIGKILL.
    out["stop_grace_period"] = units.format_duration(math.ceil(kubernetes.drain_seconds(service) + 5))
    out["deploy"] = {"resources": {"limits": _limits(service.resources)}}
    out["logging"] = _logging()
    if service.replicas > 1:
        notes.append(Note(
            "compose",
            f"`{name}` runs as one container, not {service.replicas}: one host and one published port",
            key=f"services.{name}.replicas",
            fix=("use the host's cores with `--workers N` in `start` (safe with `store:`)" if service.store
                 else "use `--target kubernetes` for replicas"),
        ))
    return out


def _dockerfile(spec: Spec, name: str) -> str:
    """The service's Dockerfile, relative to its build context (as Compose reads it)."""
    try:
        from streamdeploy.targets.docker import dockerfile_path
    except ImportError:  # TEMPORARY until the docker target lands
        def dockerfile_path(spec: Spec, name: str) -> str:
            svc = spec.services[name]
            if svc.build.dockerfile != "auto":
                return svc.build.dockerfile
            return "Dockerfile" if name == spec.first_service else f"Dockerfile.{name}"

    service = spec.services[name]
    context = posixpath.normpath(service.build.context)
    return posixpath.relpath(posixpath.normpath(dockerfile_path(spec, name)), context)


def _volume_names(spec: Spec) -> dict[tuple[str, str | None], str]:
    """(owner, volume) -> the Compose volume name; owners' names are added only on a clash."""
    wanted: dict[tuple[str, str | None], str] = {}
    for name in spec.stores:
        wanted[(name, None)] = store_volume(name)
    for name, service in spec.services.items():
        for volume in service.volumes:
            wanted[(name, volume.name)] = volume.name
    counts: dict[str, int] = {}
    for volume in wanted.values():
        counts[volume] = counts.get(volume, 0) + 1
    return {
        (owner, volume): (f"{owner}_{name}" if counts[name] > 1 else name)
        for (owner, volume), name in wanted.items()
    }


def _limits(resources: Resources) -> dict:
    return {"cpus": f"{resources.cpu:g}", "memory": _memory(resources.memory)}


def _memory(n_bytes: int) -> str:
    # Compose reads m and g as MiB and GiB: round up to whole MiB, never below what was asked.
    if n_bytes % 1024**3 == 0:
        return f"{n_bytes // 1024**3}g"
    return f"{units.mebibytes(n_bytes)}m"


def _logging() -> dict:
    # Docker keeps json-file logs forever by default; on a long-lived host they fill the disk.
    return {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}


def _port_clashes(spec: Spec) -> list[Note]:
    notes: list[Note] = []
    seen: dict[int, str] = {}
    for name, service in spec.services.items():
        if service.port is None:
            continue
        if service.port in seen:
            notes.append(Note(
                "compose",
                f"`{name}` and `{seen[service.port]}` both publish host port {service.port}; the second will not start",
                key=f"services.{name}.port",
                fix="give each service its own port",
            ))
        seen.setdefault(service.port, name)
    return notes


TARGET = ComposeTarget()
