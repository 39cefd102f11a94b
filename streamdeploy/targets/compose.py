"""`--target compose`: one ``compose.yaml`` for one host, shipped by `docker compose up --wait`.

Each service builds from its Dockerfile (the docker target's) into the image name the
docker target uses; volumes get the names the docker target gives them, so both targets
find the same data. A server-mode store runs from its official image on a named volume
and is never published on the host (Chroma has no authentication).

Secrets are listed by name only, with no value: Compose takes each value from the
environment of the `docker compose` process, which `up` fills from its own. No file
holds them, unlike an `env_file:`, which someone must write and keep out of git.
"""

from __future__ import annotations

import posixpath

from streamdeploy import units
from streamdeploy.spec import Resources, Service, Spec, Store
from streamdeploy.targets import docker, kubernetes
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

FILE = "compose.yaml"
CHROMA_DATA = docker.CHROMA_DATA
WAIT_TIMEOUT = 300  # seconds `up --wait` gives the containers to become healthy
BUILD_TIMEOUT = int(docker.BUILD_TIMEOUT)  # a first build downloads the base image and every dependency


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
        # compose.yaml builds from the docker target's Dockerfiles: they are part of this rendering.
        images = docker.image_files(spec, ctx)
        notes: list[Note] = list(images.notes)
        volumes = _volume_names(spec)
        services: dict = {}
        for name, store in spec.stores.items():
            services[name] = _store_service(store, volumes[(name, None)])
        for name, service in spec.services.items():
            services[name] = _app_service(spec, name, service, volumes, notes)
        document: dict = {"name": spec.name, "services": services}
        if volumes:
            document["volumes"] = {volume: {} for volume in sorted(volumes.values())}
        notes.extend(_port_clashes(spec))
        notes.extend(_unsized_volumes(spec))
        if kubernetes.web_services(spec):
            notes.append(Note(
                "compose",
                "ports are published on 127.0.0.1 only: Docker's published ports bypass the host's firewall, "
                "and the servers trust forwarded headers",
                fix="serve other machines through a reverse proxy with TLS (Caddy, nginx) on this host",
                level="info",
            ))
        secrets = sorted({s for service in spec.services.values() for s in service.secrets})
        if secrets:
            notes.append(Note(
                "compose",
                f"{FILE} names {', '.join(secrets)} without values: `docker compose` takes them from its "
                "environment (`streamdeploy up` passes its own), or from a .env file beside it that stays out of git",
                level="info",
            ))
        content = kubernetes.dump_yaml([document], start=False)
        return Rendering(files=(*images.files, RenderedFile(FILE, content)), notes=tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        needs = SecretNeeds.of(*spec.services.values())
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
                pass_secrets=needs.required,
                pass_if_set=needs.optional,
                cwd=".",
                timeout=BUILD_TIMEOUT + WAIT_TIMEOUT,
                hint=logs,
            ),
        )
        web = kubernetes.web_services(spec)
        url = f"http://127.0.0.1:{spec.services[web[0]].port}" if web else None
        return Plan(target=self.name, steps=steps, url=url, secrets=needs.required, tools=("docker",),
                    secret_groups=needs.groups)


def _store_service(store: Store, volume: str) -> dict:
    return {
        "image": docker.CHROMA_IMAGE.format(version=store.version),
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
    context = docker.build_context(spec, name)
    out: dict = {
        # Compose reads the Dockerfile's path relative to the context.
        "build": {"context": context, "dockerfile": posixpath.relpath(docker.dockerfile_path(spec, name), context)},
        "image": docker.image_name(spec, name),
    }
    if service.port is not None:
        # Loopback, like the docker target: a reverse proxy on the host serves other machines.
        out["ports"] = [f"127.0.0.1:{service.port}:{service.port}"]
    env, env_notes = kubernetes.plain_env(spec, name, "compose")
    notes.extend(env_notes)
    environment: dict[str, str | None] = {k: escape(v) for k, v in env.items()}
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
            "interval": docker.go_duration(health.interval),
            "timeout": docker.go_duration(health.timeout),
            "retries": 3,
        }
        if health.grace > 0:
            check["start_period"] = docker.go_duration(health.grace)
        out["healthcheck"] = check
    out["restart"] = "unless-stopped"
    # SIGTERM, then this long for the server to end its streams before SIGKILL.
    out["stop_grace_period"] = docker.go_duration(docker.drain_seconds(service))
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


def _volume_names(spec: Spec) -> dict[tuple[str, str | None], str]:
    """(owner, volume) -> the Compose volume name; owners' names are added only on a clash.

    Compose prefixes the project name, giving the docker target's `<project>_<volume>`
    for a service's volume and `<project>_<store>` for a store's.
    """
    wanted: dict[tuple[str, str | None], str] = {}
    for name in spec.stores:
        wanted[(name, None)] = name
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


def _unsized_volumes(spec: Spec) -> list[Note]:
    """A local named volume has no size: it grows into the host's free disk."""
    sized = [(f"stores.{name}.size", store.size) for name, store in spec.stores.items()]
    sized += [(f"services.{name}.volumes[{i}].size", volume.size)
              for name, service in spec.services.items() for i, volume in enumerate(service.volumes)]
    return [Note("compose", f"a Compose volume has no size limit; {units.format_size(size)} is not enforced, "
                 "the volume takes what the host's disk has", key=key,
                 fix="watch the host's free disk (`docker system df -v`)") for key, size in sized]


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
