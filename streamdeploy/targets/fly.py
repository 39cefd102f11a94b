"""The fly target: a fly.toml per service (one Fly app each), shipped with flyctl.

Facts (research/platform-formats.md §8, cli-contracts.md §1, superfly/flyctl
internal/appconfig): one volume per Machine, and a volume pins its app to one Machine, so
a service with a volume deploys `rolling` (never canary or bluegreen) on a single Machine;
`kill_timeout` is capped at 300 s; the proxy stops idle Machines only when told to;
secrets never go in fly.toml, they are imported on stdin.
"""

from __future__ import annotations

import math
import os
import posixpath
import sys

from streamdeploy import units
from streamdeploy.problems import fail
from streamdeploy.description import Service, ServiceRef, Spec
from streamdeploy.targets import docker, image_tag, peers, volumes
from streamdeploy.targets.base import (Context, Note, Plan, Probe, RenderedFile, Rendering, SecretNeeds, Step,
                                       Stdin)

NAME = "fly"
TITLE = "Fly.io"

MAX_KILL_TIMEOUT = 300  # flyctl rejects more (docs: reference/configuration, kill_timeout)
# Machine sizes (superfly/docs machines/guides-examples/machine-sizing): memory is a multiple
# of 256 MB; shared CPUs take 256-2048 MB each, performance CPUs 2048-8192 MB each.
MEMORY_STEP_MB = 256
MEMORY_PER_CPU_MB = {"shared": (256, 2048), "performance": (2048, 8192)}
CPU_COUNTS = {"shared": (1, 2, 4, 8), "performance": (1, 2, 4, 8, 16)}
PRESETS = {
    **{f"shared-cpu-{n}x": ("shared", n) for n in CPU_COUNTS["shared"]},
    **{f"performance-{n}x": ("performance", n) for n in CPU_COUNTS["performance"]},
}
# Load the proxy balances on, per Machine. A stream is one long request: "requests" counts
# it once while it is open and ignores idle keep-alive connections (Fly recommends it for
# HTTP). Without limits Fly applies 20/25, which a handful of open streams would exhaust.
SOFT_LIMIT = 200
HARD_LIMIT = 250
DEFAULT_WAIT_TIMEOUT = 300  # flyctl's own default for --wait-timeout
DEPLOY_TIMEOUT = 1800.0  # a remote build plus the health wait
# Quiet, non-interactive flyctl: no update check (a network call and a prompt on stderr).
FLY_ENV = (("FLY_NO_UPDATE_CHECK", "1"),)


def app_name(spec: Spec, service: str) -> str:
    """The Fly app of a service: targets.fly.app (or the project's name), `-<service>` for the rest."""
    base = spec.targets.fly.app or spec.name
    return base if service == spec.first_service else f"{base}-{service}"


def config_path(spec: Spec, service: str) -> str:
    return "fly.toml" if service == spec.first_service else f"fly.{service}.toml"


def url(spec: Spec, service: str) -> str:
    return f"https://{app_name(spec, service)}.fly.dev"


def private(spec: Spec, service: str) -> bool:
    """Kept off the internet: deployed with a Flycast address and no public IPs."""
    svc = spec.services[service]
    return svc.is_web and not svc.public


def on_private_network(svc: Service) -> bool:
    """The server accepts connections on Fly's IPv6 private network (.internal): it listens on `::`
    or fly-local-6pn. (uvicorn on `::` then takes IPv6 only, so Fly's proxy, which wants 0.0.0.0,
    cannot reach it: a public service on 0.0.0.0 is reached at its public URL instead.)"""
    from streamdeploy.consistency import listens_on_ipv6

    return listens_on_ipv6(svc)


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """Where `user` reaches `ref.service` on Fly.

    `.internal` names resolve to a Machine's address on the IPv6 private network, which
    only a server listening on `::` accepts; Flycast goes through Fly's proxy (which
    reaches a 0.0.0.0 listener too) and is what a private app gets; otherwise the
    service's public https URL is the one that always works.
    """
    other = spec.services[ref.service]
    app = app_name(spec, ref.service)
    if ref.network == "public" or (other.public and not on_private_network(other)):
        return peers.literal(ref, peers.Address(f"{app}.fly.dev", None, "https"))
    if on_private_network(other):
        return peers.literal(ref, peers.Address(f"{app}.internal", other.port))
    return peers.literal(ref, peers.Address(f"{app}.flycast", None))  # port 80 of its http_service


def _peer_notes(spec: Spec, name: str) -> list[Note]:
    notes = []
    for key, ref in spec.services[name].env_refs.items():
        other = spec.services[ref.service]
        if ref.network == "private" and other.public and not on_private_network(other):
            notes.append(Note(
                NAME, f"{key} of `{name}` is {url(spec, ref.service)}, the public URL: Fly's private network is "
                f"IPv6 and `{ref.service}` listens on IPv4 only", key=f"services.{ref.service}.start",
                fix=f"make `{ref.service}` private (`public: false`) to keep this traffic on the private network, "
                f"at {app_name(spec, ref.service)}.flycast", level="info"))
    return notes


# --- fly.toml ------------------------------------------------------------------------------


def _config(spec: Spec, name: str) -> tuple[dict, list[Note]]:
    svc = spec.services[name]
    fly = spec.targets.fly
    base = f"services.{name}"
    notes: list[Note] = []
    config: dict = {
        "app": app_name(spec, name),
        "primary_region": fly.region,
        "kill_signal": "SIGTERM",
        "kill_timeout": docker.drain_seconds(svc),
        "build": {"dockerfile": docker.dockerfile_path(spec, name)},
    }
    notes.extend(_drain_notes(svc, name))

    env, env_notes = peers.env(spec, name, NAME, lambda ref: peer_value(spec, name, ref))
    notes.extend(env_notes)
    for key in [k for k in env if k.upper().startswith("FLY_")]:
        notes.append(Note(NAME, f"Fly reserves env names starting with FLY_; {key} of `{name}` is left out",
                          key=f"{base}.env.{key}", fix="rename it"))
        del env[key]
    notes.extend(_peer_notes(spec, name))
    if svc.store is not None:
        notes.append(Note(NAME, f"the fly target does not run the `{svc.store}` store: `{name}` gets no "
                          f"{'/'.join(spec.stores[svc.store].env_names) if svc.store in spec.stores else 'address'}"
                          " and would keep its data on a disk that is replaced at every deploy",
                          key=f"{base}.store", fix="run Chroma as its own Fly app with a volume and set "
                          "CHROMA_HOST/CHROMA_PORT in env, or deploy with --target kubernetes"))
    if env:
        config["env"] = env

    strategy = "rolling"
    if svc.volumes:
        volume = svc.volumes[0]
        mount = {
            "source": volume.name,
            "destination": volume.mount,
            "initial_size": f"{units.gigabytes(volume.size)}gb",
        }
        if fly.snapshot_retention is not None:
            # Daily snapshots are on by default (scheduled_snapshots, which SchemaStore's fly.json lacks).
            mount["snapshot_retention"] = fly.snapshot_retention  # days, 1-60 (appconfig validation)
        config["mounts"] = [mount]
        volumes.single_volume(NAME, name, svc, notes, limit="a Fly Machine mounts one volume")
        volumes.instances(NAME, name, svc, notes, reason="a Fly volume belongs to one Machine")
    elif svc.is_web and svc.health is not None:
        # No volume: the new Machines start beside the old ones and take over once healthy.
        strategy = "bluegreen"
    config["deploy"] = {"strategy": strategy}

    if svc.is_web:
        config["http_service"] = _http_service(svc, private=private(spec, name))
    vm, vm_notes = _vm(svc, name, fly.vm_size)
    notes.extend(vm_notes)
    config["vm"] = [vm]
    return config, notes


def _http_service(svc: Service, *, private: bool) -> dict:
    # A Machine holding a volume or open streams keeps running: the proxy stops a Machine
    # it finds idle, and with several Machines it stops one even while streams are open.
    # Asked to scale to zero, the last one stops too, and the proxy starts it on a request.
    keep_running = (bool(svc.volumes) or svc.streaming is not None) and not svc.scale_to_zero
    concurrency = {"type": "requests", "soft_limit": SOFT_LIMIT}
    if svc.streaming is None:
        concurrency["hard_limit"] = HARD_LIMIT  # a stream would count against it for its whole life
    service: dict = {
        "internal_port": svc.port,
        # Flycast, a private app's only address, is plain HTTP: a redirect to https would break it.
        "force_https": not private,
        "auto_stop_machines": "off" if keep_running else "stop",
        "auto_start_machines": True,
        "min_machines_running": 0 if svc.scale_to_zero else 1,
        "concurrency": concurrency,
    }
    if svc.health is not None:
        health = svc.health
        service["checks"] = [{
            "grace_period": docker.go_duration(health.grace),
            "interval": docker.go_duration(health.interval),
            "timeout": docker.go_duration(health.timeout),
            "method": "GET",
            "path": health.path,
        }]
    return service


def _vm(svc: Service, name: str, vm_size: str | None) -> tuple[dict, list[Note]]:
    notes: list[Note] = []
    key = f"services.{name}.resources"
    memory = max(MEMORY_STEP_MB, -(-units.mebibytes(svc.resources.memory) // MEMORY_STEP_MB) * MEMORY_STEP_MB)
    if vm_size is not None:
        if vm_size not in PRESETS:
            raise fail(f"{vm_size!r} is not a Fly Machine size",
                       key="targets.fly.vm_size", fix=f"use one of {', '.join(PRESETS)}")
        kind, cpus = PRESETS[vm_size]
    else:
        kind, cpus = _size_for(max(1, math.ceil(svc.resources.cpu)), memory)
        vm_size = f"{'shared-cpu' if kind == 'shared' else 'performance'}-{cpus}x"
    low, high = (per_cpu * cpus for per_cpu in MEMORY_PER_CPU_MB[kind])
    if not low <= memory <= high:
        fitted = min(max(memory, low), high)
        notes.append(Note(NAME, f"{vm_size} takes {low}-{high} MB of memory; `{name}` gets {fitted} MB, not {memory}",
                          key=key, fix="set resources.memory within that range, or another targets.fly.vm_size",
                          level="warning" if fitted < memory else "info"))
        memory = fitted
    return {"size": vm_size, "memory": f"{memory}mb"}, notes


def _size_for(cpus_wanted: int, memory_mb: int) -> tuple[str, int]:
    """The smallest preset with enough CPUs and room for the memory: shared first (it bursts)."""
    for kind in ("shared", "performance"):
        for cpus in CPU_COUNTS[kind]:
            if cpus >= cpus_wanted and memory_mb <= cpus * MEMORY_PER_CPU_MB[kind][1]:
                return kind, cpus
    return "performance", CPU_COUNTS["performance"][-1]


def _drain_notes(svc: Service, name: str) -> list[Note]:
    if svc.graceful_shutdown is not None:
        wanted, key = svc.graceful_shutdown, f"services.{name}.start"
    elif svc.streaming is not None:
        wanted, key = svc.streaming.max_duration, f"services.{name}.streaming.max_duration"
    else:
        return []
    if wanted <= MAX_KILL_TIMEOUT:
        return []
    return [Note(NAME, f"Fly waits at most {MAX_KILL_TIMEOUT}s after SIGTERM; streams of `{name}` open longer "
                 "are cut at each deploy or restart", key=key,
                 fix="have clients resume with Last-Event-ID (the SSE retry does it)", level="info")]


def _toml(config: dict) -> str:
    import tomli_w

    return tomli_w.dumps(config)


def _render(spec: Spec, ctx: Context) -> Rendering:
    image = docker.image_files(spec, ctx)
    files = list(image.files)
    notes = list(image.notes)
    for name in spec.services:
        config, config_notes = _config(spec, name)
        files.append(RenderedFile(config_path(spec, name), _toml(config)))
        notes.extend(config_notes)
    return Rendering(tuple(files), tuple(notes))


# --- the plan ------------------------------------------------------------------------------


def _plan(spec: Spec, ctx: Context) -> Plan:
    fly = spec.targets.fly
    # A deploy token manages one app that exists already: it cannot `fly apps create` (flyctl
    # internal/command/tokens/create.go scopes it to the app's id). An org token can.
    steps = [Step(("fly", "auth", "whoami", "--json"), "Checking the Fly login", env=FLY_ENV,
                  hint="set FLY_API_TOKEN to an org token (`fly tokens create org`; a deploy token cannot create "
                  "the apps), or run `fly auth login`")]
    notes: list[Note] = []
    if not fly.org:
        notes.append(Note(
            NAME, "without targets.fly.org, `fly apps create` can pick your organization only when you have exactly "
            "one personal one; otherwise it stops when not interactive", key="targets.fly.org",
            fix="targets.fly.org: <slug> (`fly orgs list`)", level="info"))
    glue = (sys.executable, "-m", "streamdeploy.glue")
    secrets: list[str] = []
    groups: list[tuple[str, ...]] = []
    urls: list[tuple[str, str]] = []
    for name in peers.deploy_order(spec):
        svc = spec.services[name]
        app = app_name(spec, name)
        create = ["fly", "apps", "create", app, "--json"]
        if fly.org:
            create += ["--org", fly.org]
        steps.append(Step(
            tuple(create), f"Creating the Fly app {app}", env=FLY_ENV,
            skip_if=Probe(("fly", "status", "--app", app, "--json")),
            hint="the name may be taken by someone else (set targets.fly.app), or your account has several "
                 "organizations (set targets.fly.org)",
        ))
        if svc.volumes:
            volume = svc.volumes[0]
            size = units.gigabytes(volume.size)
            vm, _ = _vm(svc, name, fly.vm_size)
            # The Machine's size, as flyctl's first deploy passes it (deploy_first.go
            # ComputeRequirements): the volume lands on a host that can run the Machine.
            create = ["fly", "volumes", "create", volume.name, "--app", app, "--region", fly.region,
                      "--size", str(size), "--vm-size", vm["size"], "--vm-memory", vm["memory"].removesuffix("mb")]
            if fly.snapshot_retention is not None:
                create += ["--snapshot-retention", str(fly.snapshot_retention)]
            steps.append(Step(
                tuple(create + ["--yes"]),
                f"Creating volume {volume.name} ({size} GB, {fly.region}, for a {vm['size']} Machine)", env=FLY_ENV,
                skip_if=Probe(("fly", "volumes", "list", "--app", app, "--json"), "contains", f'"{volume.name}"'),
            ))
        if svc.secrets:
            needs = SecretNeeds.of(svc)
            steps.append(Step(
                ("fly", "secrets", "import", "--app", app, "--stage"),
                f"Staging secrets of {app}: {', '.join(svc.secrets)}", env=FLY_ENV,
                stdin=Stdin(needs.required, "dotenv", optional=needs.optional),
            ))
            secrets.extend(s for s in needs.required if s not in secrets)
            groups.extend(g for g in needs.groups if g not in groups)
        context = docker.build_context(spec, name)
        config = config_path(spec, name) if context == "." else _relative(ctx, config_path(spec, name), context)
        wait = _wait_timeout(svc)
        # The image's tag is the hash of what it is built from (not flyctl's deployment-<ULID>),
        # so `fly releases` says which releases ran the same code: what `rollback` needs.
        deploy = ["fly", "deploy", "--app", app, "--config", config, "--remote-only",
                  "--image-label", image_tag.release_tag(spec, name, ctx),
                  "--wait-timeout", units.format_duration(wait), "--yes"]
        if svc.volumes:
            # `fly scale count N` gives each added Machine a new, empty volume (flyctl
            # internal/command/scale/count_machines.go): N databases behind one address.
            steps.append(Step(
                ("fly", "status", "--app", app, "--json"), f"Checking {app} runs one Machine with its volume",
                env=FLY_ENV, pipe_to=glue + ("fly-machines", app),
                hint=f"`fly machines list --app {app}` and `fly volumes list --app {app}` show which Machine holds "
                "your data; keep that one and destroy the others (`fly machines destroy ID`), then run `up` again"))
        if svc.volumes or svc.replicas == 1:
            deploy.append("--ha=false")  # one Machine; flyctl would start a spare one per process group
        if private(spec, name):
            # A first deploy gives the app a private Flycast address instead of public IPs.
            deploy.append("--flycast")
            notes.append(Note(
                NAME, f"`{name}` is private: {app} gets a Flycast address and no public IP on its first deploy; "
                f"reach it with `fly proxy {svc.port}:80 {app}.flycast --app {app}`", key=f"services.{name}.public",
                fix=f"an app that was public before keeps its public IPs: `fly ips list --app {app}`, then "
                "`fly ips release`", level="info"))
        elif svc.replicas > 2:
            notes.append(Note(NAME, f"fly.toml has no Machine count: the first deploy starts 2 Machines of "
                              f"`{name}`, not {svc.replicas}", key=f"services.{name}.replicas",
                              fix=f"run `fly scale count {svc.replicas} --app {app}` once after it"))
        steps.append(Step(
            tuple(deploy), f"Deploying {app} (remote build, then waits for health checks)", env=FLY_ENV,
            cwd=None if context == "." else context, timeout=DEPLOY_TIMEOUT + wait + docker.drain_seconds(svc),
            hint=f"`fly logs --app {app} --no-tail` shows why the Machine did not get healthy",
        ))
        if svc.is_web and not private(spec, name):
            urls.append((name, url(spec, name)))
    return Plan(NAME, tuple(steps), tuple(notes), url=peers.main_url(spec, urls), urls=tuple(urls),
                secrets=tuple(secrets), tools=("fly",), secret_groups=tuple(groups))


def _relative(ctx: Context, path: str, start: str) -> str:
    """`path` as seen from `start`, both relative to the description; `../app` needs the real directory."""
    if not start.startswith(".."):
        return posixpath.relpath(path, start)
    return os.path.relpath(ctx.root.resolve() / path, (ctx.root.resolve() / start).resolve()).replace(os.sep, "/")


def _wait_timeout(svc: Service) -> int:
    """Seconds flyctl waits for a Machine to pass its checks: the grace period and three tries, or its default."""
    if svc.health is None:
        return DEFAULT_WAIT_TIMEOUT
    return max(DEFAULT_WAIT_TIMEOUT, math.ceil(svc.health.grace + 3 * svc.health.interval) + 60)


class FlyTarget:
    name = NAME
    title = TITLE

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        return _render(spec, ctx)

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        return _plan(spec, ctx)

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return _rollback(spec, ctx)


TARGET = FlyTarget()


# --- rollback --------------------------------------------------------------------------------
# flyctl has no `releases rollback`: `fly releases --json` lists each release's image
# (fly-go Release.ImageRef; flyctl internal/command/apps/releases.go), and `fly deploy
# --image` deploys one without building, with fly.toml as it is now.


def _rollback(spec: Spec, ctx: Context) -> Plan:
    from streamdeploy import releases

    steps = [Step(("fly", "auth", "whoami", "--json"), "Checking the Fly login", env=FLY_ENV,
                  hint="set FLY_API_TOKEN (`fly tokens create deploy`), or run `fly auth login`")]
    urls: list[tuple[str, str]] = []
    for name in peers.deploy_order(spec):
        svc = spec.services[name]
        app = app_name(spec, name)
        context = docker.build_context(spec, name)
        config = config_path(spec, name) if context == "." else posixpath.relpath(config_path(spec, name), context)
        wait = _wait_timeout(svc)
        deploy = ("fly", "deploy", "--app", app, "--config", config, "--wait-timeout", units.format_duration(wait),
                  "--yes", *(("--ha=false",) if svc.volumes or svc.replicas == 1 else ()))
        steps.append(Step(
            ("fly", "releases", "--app", app, "--json"),
            f"Deploying the image of {app}'s previous release (no build; the volume stays attached)", env=FLY_ENV,
            pipe_to=(*releases.GLUE, "fly", "--", *deploy),
            cwd=None if context == "." else context, timeout=wait + docker.drain_seconds(svc) + 300,
            hint=f"`fly releases --app {app} --image` lists the releases Fly keeps; "
                 f"`fly logs --app {app} --no-tail` shows why a Machine did not get healthy",
        ))
        if svc.is_web and not private(spec, name):
            urls.append((name, url(spec, name)))
    notes = (Note(NAME, "a rollback deploys the previous release's image with fly.toml as it is now; secrets, "
                  "volumes and their data stay as they are", level="info"),)
    return Plan(NAME, tuple(steps), notes, url=peers.main_url(spec, urls), urls=tuple(urls), tools=("fly",))
