"""Railway: `.railway/railway.ts` (Infrastructure as Code) or the legacy `railway.toml`, and `up`.

Railway stops reading railway.toml / railway.json on 2026-12-01 and new services cannot opt
into them, so the default is `.railway/railway.ts`. `railway config apply` evaluates it with
Node, importing `railway/iac` from the `railway` npm package next to it (`.railway/package.json`
pins it; `up` installs it). Sources: shared/research/platform-formats.md §4, cli-contracts.md §2
and its Addendum; railwayapp/cli src/iac/eval.rs, src/commands/config, the SDK's type definitions.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import shlex
import sys
from pathlib import Path

from streamdeploy import units
from streamdeploy.description import Service, ServiceRef, Spec, Store, Volume
from streamdeploy.records import factory, record
from streamdeploy.targets import docker, peers, volumes
from streamdeploy.targets.base import (
    Context,
    Note,
    Plan,
    Probe,
    Read,
    RenderedFile,
    Rendering,
    SecretNeeds,
    Stdin,
    Step,
)

NAME = "railway"
IAC_FILE = ".railway/railway.ts"
IAC_PACKAGE = ".railway/package.json"
SDK_RANGE = "^3.11.0"  # npm `railway`, whose `railway/iac` export the CLI imports
CAC_CUTOFF = "2026-12-01"
RESTART_RETRIES = 10  # the most Railway allows on Free/Trial plans
UP_TIMEOUT = 1800.0  # `railway up --ci` waits for build and deploy
HEALTH_WINDOW = 300  # Railway's default healthcheckTimeout
ENV = (("CI", "true"),)  # makes the CLI fail fast instead of prompting or opening a browser
NODE_MINIMUM = "22.6"  # `railway config` runs node --experimental-strip-types (src/iac/eval.rs)
# What `up` reads before rendering: `railway config plan --json` of a file that declares nothing
# prints the environment as Railway holds it (currentGraph: each volume's sizeMB and region, each
# service's region and variable names; values stay masked without --decrypt-variables). The file
# imports nothing, so it needs no node_modules and no SDK version check.
HELD_FILE = str(Path(__file__).with_name("railway_held.mjs"))
HELD = "railway-current"


# --- what every format shares -------------------------------------------------------------


@record
class _App:
    """One service of the description as Railway runs it."""

    name: str
    service: Service
    dockerfile: str  # relative to the uploaded directory
    context: str  # what `railway up` uploads, relative to the description
    volume: Volume | None
    replicas: int
    env: dict[str, object] = factory(dict)
    store: tuple[str, Store] | None = None


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """A Railway reference variable: Railway fills in `${{api.RAILWAY_PRIVATE_DOMAIN}}` when it deploys.

    The text form (not the SDK's `api.env.X`, a whole value) lets one variable hold a URL,
    and works whatever order the services are declared in.
    """
    other = spec.services[ref.service]
    if ref.network == "public":
        host, port, scheme = f"${{{{{ref.service}.RAILWAY_PUBLIC_DOMAIN}}}}", None, "https"
    else:
        # PORT is a variable of every web service (runtime_env sets it): what it listens on.
        host, port, scheme = f"${{{{{ref.service}.RAILWAY_PRIVATE_DOMAIN}}}}", f"${{{{{ref.service}.PORT}}}}", "http"
    if ref.property == "host":
        return host
    if ref.property == "port":
        return port or "443"
    if ref.property == "hostport":
        return f"{host}:{port or 443}"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def published(spec: Spec, name: str) -> bool:
    """Whether a web service gets a public *.up.railway.app domain.

    A private service keeps only its private name, but Railway has no way in for people
    (no VPN or port-forward into a project): one that no other service uses is published
    after all, and `check` warns that its own login is what protects it.
    """
    svc = spec.services[name]
    return svc.is_web and (svc.public or peers.for_people(spec, name))


def _apps(spec: Spec, notes: list[Note]) -> list[_App]:
    apps = []
    for name in peers.deploy_order(spec):
        svc = spec.services[name]
        base = f"services.{name}"
        volume = volumes.single_volume(NAME, name, svc, notes, limit="Railway mounts one volume per service")
        replicas = volumes.instances(NAME, name, svc, notes, reason="Railway runs no replicas of a service with a volume")
        context = docker.build_context(spec, name)
        dockerfile = docker.dockerfile_path(spec, name)
        if context != ".":
            relative = posixpath.relpath(dockerfile, context)
            if relative.startswith(".."):
                notes.append(Note(
                    NAME, f"the Dockerfile {dockerfile} is outside the build context {context}, which is all "
                    "`railway up` uploads", key=f"{base}.build.context", fix="move the Dockerfile into the context"))
            dockerfile = relative
        env, env_notes = peers.env(spec, name, NAME, lambda ref, user=name: peer_value(spec, user, ref))
        notes.extend(env_notes)
        apps.append(_App(name, svc, dockerfile, context, volume, replicas, env=env,
                         store=(svc.store, spec.stores[svc.store]) if svc.store in spec.stores else None))
    return apps


@record(frozen=True)
class Held:
    """What the Railway environment already holds, by name (from `railway config plan --json`)."""

    volumes: dict[str, dict] = factory(dict)  # name -> {"sizeMB": int | None, "region": str | None}
    regions: dict[str, str] = factory(dict)  # service -> its one region
    variables: dict[str, tuple[str, ...]] = factory(dict)  # service -> variable names


def held(ctx: Context) -> Held:
    """Parse the read; anything unexpected counts as nothing held (a first deploy)."""
    try:
        data = json.loads(ctx.read(HELD) or "")
        resources = data["currentGraph"]["resources"]
    except (ValueError, KeyError, TypeError):
        return Held()
    found = Held()
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
            continue
        name = resource["name"]
        if resource.get("type") == "volume":
            config = resource.get("config") if isinstance(resource.get("config"), dict) else {}
            size = config.get("sizeMB")
            found.volumes[name] = {"sizeMB": int(size) if isinstance(size, (int, float)) else None,
                                   "region": config.get("region") if isinstance(config.get("region"), str) else None}
        elif resource.get("type") == "service":
            deploy = resource.get("deploy") if isinstance(resource.get("deploy"), dict) else {}
            regions = deploy.get("multiRegionConfig") if isinstance(deploy.get("multiRegionConfig"), dict) else {}
            present = [region for region, config in regions.items() if config]
            if len(present) == 1:
                found.regions[name] = present[0]
            variables = resource.get("variables")
            if isinstance(variables, dict):
                found.variables[name] = tuple(variables)
    return found


def _health_timeout(svc: Service) -> int | None:
    """Seconds Railway waits for the first healthy answer of a deploy.

    A prober would give the service its grace period plus three failed intervals before
    calling it unhealthy; Railway checks only at deploy time, so it gets that whole window, and
    never less than Railway's own 300 s: a first boot that fixes a large volume's ownership or
    loads its data must not turn into a failed deploy (deployments/healthchecks.md; with a
    volume the old deployment is already stopped, so the longer wait costs nothing).
    """
    if svc.health is None or svc.port is None:
        return None
    return max(HEALTH_WINDOW, math.ceil(svc.health.grace + 3 * svc.health.interval))


def _start(svc: Service) -> str | None:
    """A start command only for the user's own Dockerfile.

    Railway's start command replaces the image's ENTRYPOINT, which for the generated image
    would skip the entrypoint that fixes volume ownership; its CMD already runs `start`.
    Railway runs start commands in exec form, so variables need a shell.
    """
    if svc.build.dockerfile == "auto":
        return None
    return "/bin/sh -c " + shlex.quote("exec " + svc.start)


def _project(spec: Spec) -> str:
    return spec.targets.railway.project or spec.name


def _volume_name(service: str, volume: Volume) -> str:
    # Volume names are per project, so two services' `data` volumes would collide.
    return f"{service}-{volume.name}"


def _common_notes(spec: Spec, apps: list[_App]) -> list[Note]:
    from streamdeploy.consistency import listens_on_ipv6

    notes = []
    for app in apps:
        for key, ref in app.service.env_refs.items():
            if ref.network == "private" and not listens_on_ipv6(spec.services[ref.service]):
                notes.append(Note(
                    NAME, f"{key} of `{app.name}` reaches `{ref.service}` at {ref.service}.railway.internal; "
                    "environments made before 2025-10-16 resolve that name to IPv6 only", key=f"services.{app.name}"
                    f".env.{key}", fix=f"have `{ref.service}` listen on `::` (IPv4 and IPv6)", level="info"))
        if app.service.health is not None:
            notes.append(Note(
                NAME, "Railway checks health only while a deploy goes live, not continuously; interval and "
                "timeout are not used (a crashed process is restarted by the restart policy)",
                key=f"services.{app.name}.health", level="info"))
        if app.volume is not None and app.service.build.dockerfile != "auto":
            notes.append(Note(
                NAME, "Railway mounts volumes owned by root; if your image runs as another user it cannot "
                "write there", key=f"services.{app.name}.build.dockerfile",
                fix="set RAILWAY_RUN_UID=0 in env, or start as root and drop privileges in the entrypoint",
                level="info"))
    return notes


# --- .railway/railway.ts ---------------------------------------------------------------------


class _Code(str):
    """A TypeScript expression we wrote ourselves (identifiers, calls); never user text."""


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else enum export extends false "
    "finally for function if import in instanceof new null return super switch this throw true try "
    "typeof var void while with yield let static implements interface package private protected public "
    "await async of undefined".split()
)
_IMPORTS = ("defineRailway", "image", "preserve", "project", "service", "volume")


def ts_string(value: str) -> str:
    """A TypeScript string literal: JSON's syntax is a subset of it, so nothing can break out."""
    return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _ts(value: object, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, str):
        return ts_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # `cpu: 1`, not `1.0`
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            shown = key if _IDENT.match(key) and key not in _RESERVED else ts_string(key)
            lines.append(f"{pad}  {shown}: {_ts(item, indent + 1)},")
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_ts(item, indent) for item in value) + "]"
    raise TypeError(f"no TypeScript for {type(value).__name__}")


def _identifier(name: str, taken: set[str], suffix: str) -> str:
    parts = re.split(r"[-_]+", name)
    ident = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if not _IDENT.match(ident) or ident in _RESERVED or ident in _IMPORTS:
        ident = f"{ident}{suffix}" if _IDENT.match(ident) else f"_{ident}{suffix}"
    candidate, n = ident, 2
    while candidate in taken:
        candidate, n = f"{ident}{n}", n + 1
    taken.add(candidate)
    return candidate


def _replicas(region: str | None, count: int) -> object:
    return {region: count} if region else count


def _volume_config(spec: Spec, name: str, size: int, service: str, current: Held, key: str,
                   notes: list[Note]) -> dict:
    """A volume as Railway will not find destructive on a re-run.

    Railway's config holds each volume's region, and `config apply` treats a region that differs
    from it (an unset one too) or a smaller size as destructive (railwayapp/cli src/iac/change_set.rs
    diff_volume_config). So an existing volume keeps the region and size Railway holds; a new one
    gets targets.railway.region, or Railway's placement, which later runs read back."""
    wanted = units.megabytes(size)
    had = current.volumes.get(name, {})
    config: dict[str, object] = {"sizeMB": wanted}
    if had.get("sizeMB") and had["sizeMB"] > wanted:
        config["sizeMB"] = had["sizeMB"]
        notes.append(Note(
            NAME, f"Railway holds the volume {name} at {had['sizeMB']} MB, more than the {wanted} MB described: a "
            "volume never shrinks, so railway.ts keeps its size", key=key,
            fix=f"size: {had['sizeMB']}MB in the description, so `render` writes the same", level="info"))
    chosen = spec.targets.railway.region
    region = had.get("region") or current.regions.get(service) or chosen
    if had.get("region") and chosen and chosen != had["region"]:
        notes.append(Note(
            NAME, f"the volume {name} is in {had['region']}, not targets.railway.region ({chosen}): Railway treats "
            f"moving a volume as destructive, so it and its service stay in {had['region']}", key="targets.railway.region",
            fix="move the data yourself (a new volume in the new region, copy, switch), or set targets.railway.region: "
            f"{had['region']}"))
    elif had.get("region") and not chosen:
        notes.append(Note(
            NAME, f"the volume {name} stays in {had['region']}, where Railway placed it", key="targets.railway.region",
            fix=f"targets.railway.region: {had['region']} in the description, so `render` writes the same",
            level="info"))
    if region:
        config["region"] = region
    return config


def _kept_variables(name: str, declared: dict, current: Held, key: str, notes: list[Note]) -> dict[str, "_Code"]:
    """Variables Railway holds that the description does not name (set in the dashboard, or by hand).

    A variable missing from the file is deleted by `config apply` (a destructive change it
    refuses without --confirm-destructive); preserve() keeps it, value unread (change_set.rs
    diff_variables skips preserved keys)."""
    extra = [v for v in current.variables.get(name, ()) if v not in declared]
    if extra:
        notes.append(Note(
            NAME, f"`{name}` keeps {len(extra)} variable{'s' if len(extra) != 1 else ''} set outside the description "
            f"({', '.join(extra)}): railway.ts preserves {'them' if len(extra) != 1 else 'it'} as they are on Railway",
            key=key, fix="list them under env or secrets to manage them from the description", level="info"))
    return {v: _Code("preserve()") for v in extra}


def _backups(spec: Spec, var: str, volume_var: str, volume_name: str, mount: str) -> list[str]:
    """The mount's scheduled backups. railway/iac 3.11's service() has no option for them; the
    graph's volume attachment carries them (compiler.rs forwards backupSchedules)."""
    schedules = [s.upper() for s in spec.targets.railway.backups]
    if not schedules:
        return []
    attachment = {volume_name: {"volume": _Code(f"{volume_var}.address"), "mountPath": mount,
                                "backupSchedules": schedules}}
    return [f"  {var}.volumeAttachments = {_ts(attachment, 1)};"]


def _deploy(svc: Service, mount: str | None) -> dict:
    deploy: dict[str, object] = {
        "restartPolicyType": "ON_FAILURE",
        "restartPolicyMaxRetries": RESTART_RETRIES,
        "drainingSeconds": docker.drain_seconds(svc),
    }
    if svc.scale_to_zero:
        # Serverless: sleeps after 10 minutes without outbound traffic, wakes on a request.
        deploy["sleepApplication"] = True
    if mount is not None:
        # Railway refuses to start the deploy when no volume is mounted there: no silent data loss.
        deploy["requiredMountPath"] = mount
    deploy["limitOverride"] = {
        "containers": {"cpu": svc.resources.cpu, "memoryBytes": svc.resources.memory}
    }
    return deploy


def _render_ts(spec: Spec, apps: list[_App], current: Held) -> tuple[str, list[Note]]:
    notes: list[Note] = []
    taken: set[str] = set()
    lines: list[str] = []
    resources: list[str] = []
    used = {"defineRailway", "project", "service"}
    store_vars: dict[str, str] = {}

    for store_name in dict.fromkeys(app.store[0] for app in apps if app.store):
        store = spec.stores[store_name]
        var = _identifier(store_name, taken, "Store")
        vol_var = _identifier(f"{store_name}-data", taken, "Volume")
        used |= {"image", "volume"}
        vol_config = _volume_config(spec, f"{store_name}-data", store.size, store_name, current,
                                    f"stores.{store_name}.size", notes)
        lines.append(f"  const {vol_var} = volume({ts_string(store_name + '-data')}, {_ts(vol_config, 1)});")
        config: dict[str, object] = {
            "source": _Code(f"image({ts_string(docker.CHROMA_IMAGE.format(version=store.version))})"),
            "replicas": _replicas(vol_config.get("region"), 1),
            "deploy": {
                "restartPolicyType": "ON_FAILURE",
                "restartPolicyMaxRetries": RESTART_RETRIES,
                "drainingSeconds": docker.DEFAULT_DRAIN,
                "requiredMountPath": docker.CHROMA_DATA,
                "limitOverride": {"containers": {"cpu": store.resources.cpu,
                                                 "memoryBytes": store.resources.memory}},
            },
            "volumeMounts": {docker.CHROMA_DATA: _Code(vol_var)},
        }
        store_env: dict[str, object] = {"CHROMA_PORT": str(store.port)} if store.port != 8000 else {}
        store_env.update(_kept_variables(store_name, store_env, current, f"stores.{store_name}", notes))
        if store_env:
            config["env"] = store_env  # CHROMA_PORT: chroma's `port` setting, by env
        if "preserve()" in map(str, store_env.values()):
            used.add("preserve")
        lines.append(f"  const {var} = service({ts_string(store_name)}, {_ts(config, 1)});")
        lines += _backups(spec, var, vol_var, f"{store_name}-data", docker.CHROMA_DATA)
        resources += [var, vol_var]
        store_vars[store_name] = var
        notes.append(Note(
            NAME, f"the `{store_name}` store runs {docker.CHROMA_IMAGE.format(version=store.version)} as the service "
            f"`{store_name}`, reached over the private network at {store_name}.railway.internal:{store.port} "
            "(environments made before 2025-10-16 resolve private names to IPv6 only)", key=f"stores.{store_name}",
            level="info"))

    for app in apps:
        svc = app.service
        var = _identifier(app.name, taken, "Service")
        mount = app.volume.mount if app.volume else None
        vol_var = None
        region = spec.targets.railway.region
        if app.volume is not None:
            vol_var = _identifier(f"{app.name}-{app.volume.name}", taken, "Volume")
            used.add("volume")
            index = app.service.volumes.index(app.volume)
            vol_config = _volume_config(spec, _volume_name(app.name, app.volume), app.volume.size, app.name, current,
                                        f"services.{app.name}.volumes.{index}.size", notes)
            region = vol_config.get("region") or region  # a service runs where its volume is
            lines.append(f"  const {vol_var} = volume({ts_string(_volume_name(app.name, app.volume))}, "
                         f"{_ts(vol_config, 1)});")
        config = {"build": {"builder": "DOCKERFILE", "dockerfilePath": app.dockerfile}}
        start = _start(svc)
        if start:
            config["start"] = start
        if svc.health is not None and svc.port is not None:
            config["healthcheck"] = svc.health.path
            config["healthcheckTimeout"] = _health_timeout(svc)
        config["replicas"] = _replicas(region, app.replicas)
        config["deploy"] = _deploy(svc, mount)
        if vol_var is not None:
            config["volumeMounts"] = {mount: _Code(vol_var)}
        env: dict[str, object] = dict(app.env)
        if app.store is not None:
            store_name, store = app.store
            host_name, port_name = store.env_names
            env[host_name] = _Code(f"{store_vars[store_name]}.env.RAILWAY_PRIVATE_DOMAIN")
            env[port_name] = str(store.port)
        for secret in svc.secrets:
            env[secret] = _Code("preserve()")
            used.add("preserve")
        kept = _kept_variables(app.name, env, current, f"services.{app.name}.env", notes)
        if kept:
            env.update(kept)
            used.add("preserve")
        if env:
            config["env"] = env
        lines.append(f"  const {var} = service({ts_string(app.name)}, {_ts(config, 1)});")
        if vol_var is not None:
            lines += _backups(spec, var, vol_var, _volume_name(app.name, app.volume), mount)
        resources += [var] + ([vol_var] if vol_var else [])

    imports = ", ".join(name for name in _IMPORTS if name in used)
    text = (
        f"import {{ {imports} }} from \"railway/iac\";\n"
        "\n"
        "// Applied by `railway config apply` (streamdeploy up). Secrets are preserve(): their values\n"
        "// are set with `railway variable set NAME --stdin` and never appear in this file.\n"
        "// `streamdeploy up` keeps what Railway already holds: each volume's region and size, and\n"
        "// variables set in the dashboard (preserve()), so a re-run never moves, shrinks or deletes.\n"
        "// Builds use the Dockerfile; its CMD runs the description's start command.\n"
        "export default defineRailway(() => {\n"
        + "\n".join(lines)
        + "\n\n"
        f"  return project({ts_string(_project(spec))}, {{\n"
        f"    resources: [{', '.join(resources)}],\n"
        "  });\n"
        "});\n"
    )
    return text, notes


def _package_json(spec: Spec) -> str:
    package = {
        "name": f"{spec.name}-railway-iac",
        "private": True,
        "description": "Lets `railway config plan|apply` import railway/iac for railway.ts; "
        "generated by streamdeploy.",
        "type": "module",
        "devDependencies": {"railway": SDK_RANGE},
    }
    return json.dumps(package, indent=2) + "\n"


# --- railway.toml (Config as Code, read until 2026-12-01) ----------------------------------


def toml_path(spec: Spec, name: str) -> str:
    return "railway.toml" if name == spec.first_service else f"railway.{name}.toml"


def _render_toml(spec: Spec, app: _App) -> str:
    import tomli_w

    svc = app.service
    deploy: dict[str, object] = {}
    start = _start(svc)
    if start:
        deploy["startCommand"] = start
    if svc.health is not None and svc.port is not None:
        deploy["healthcheckPath"] = svc.health.path
        deploy["healthcheckTimeout"] = _health_timeout(svc)
    deploy["restartPolicyType"] = "ON_FAILURE"
    deploy["restartPolicyMaxRetries"] = RESTART_RETRIES
    if spec.targets.railway.region:
        deploy["multiRegionConfig"] = {spec.targets.railway.region: {"numReplicas": app.replicas}}
    else:
        deploy["numReplicas"] = app.replicas
    deploy["drainingSeconds"] = docker.drain_seconds(svc)
    if svc.scale_to_zero:
        deploy["sleepApplication"] = True
    if app.volume is not None:
        deploy["requiredMountPath"] = app.volume.mount
    data = {"build": {"builder": "DOCKERFILE", "dockerfilePath": app.dockerfile}, "deploy": deploy}
    return tomli_w.dumps(data)


def _toml_notes(spec: Spec, apps: list[_App]) -> list[Note]:
    notes = [Note(
        NAME, f"railway.toml (Config as Code) is deprecated: Railway stops reading it on {CAC_CUTOFF}, and new "
        "services cannot use it. It cannot declare volumes or variables: `streamdeploy up` creates each "
        "volume with `railway volume add` and sets the variables with `railway variable set`",
        key="targets.railway.format", fix="switch to `format: iac` (.railway/railway.ts)")]
    if len(apps) > 1:
        paths = ", ".join(f"{app.name}: /{toml_path(spec, app.name)}" for app in apps[1:])
        notes.append(Note(
            NAME, "every service reads /railway.toml unless its Config-as-code path says otherwise",
            key="targets.railway.format",
            fix=f"set the path once in each service's Settings ({paths})"))
    for store_name in dict.fromkeys(app.store[0] for app in apps if app.store):
        notes.append(Note(
            NAME, f"the legacy format cannot create the `{store_name}` store's service or volume",
            key=f"stores.{store_name}", fix="switch to `format: iac`"))
    notes.append(Note(
        NAME, "resources are not part of Config as Code; Railway scales each replica up to the plan's limits",
        key="targets.railway.format", level="info"))
    return notes


# --- the target ----------------------------------------------------------------------------


class RailwayTarget:
    name = NAME
    title = "Railway"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        notes: list[Note] = []
        apps = _apps(spec, notes)
        images = docker.image_files(spec, ctx)
        files = list(images.files)
        notes += _common_notes(spec, apps)
        if spec.targets.railway.format == "toml":
            files += [RenderedFile(toml_path(spec, app.name), _render_toml(spec, app)) for app in apps]
            notes += _toml_notes(spec, apps)
        else:
            text, ts_notes = _render_ts(spec, apps, held(ctx))
            files += [
                RenderedFile(IAC_FILE, text, comment="//"),
                RenderedFile(IAC_PACKAGE, _package_json(spec), comment=None),
                RenderedFile(".railway/.gitignore", "node_modules/\n"),
            ]
            notes += ts_notes
            notes.append(Note(
                NAME, f"`railway config apply` runs .railway/railway.ts with Node {NODE_MINIMUM} or newer and the "
                "`railway` npm package; `streamdeploy up` installs it into .railway/node_modules",
                key="targets.railway.format", level="info"))
            notes += _deploy_notes(spec, apps)
        return Rendering(tuple(files), tuple(images.notes) + tuple(notes))

    def reads(self, spec: Spec, ctx: Context) -> tuple[Read, ...]:
        """What Railway holds, read before rendering (IaC only): see HELD_FILE."""
        if spec.targets.railway.format != "iac":
            return ()
        reads = () if _project_token_only() else (Read(_link_argv(spec), env=ENV),)
        return reads + (Read(("railway", "config", "plan", "--file", HELD_FILE, "--json"), key=HELD, env=ENV),)

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        notes: list[Note] = []
        apps = _apps(spec, notes)
        project = _project(spec)
        environment = spec.targets.railway.environment
        iac = spec.targets.railway.format == "iac"
        steps: list[Step] = []

        if _project_token_only():
            notes.append(Note(
                NAME, "RAILWAY_TOKEN is a project token: the project and environment come from the token, so "
                "nothing is linked", level="info"))
        else:
            link = _link_argv(spec)
            workspace = spec.targets.railway.workspace
            if iac:
                init = ("railway", "init", "--name", project) + (("--workspace", workspace) if workspace else ())
                steps.append(Step(
                    init + ("--json",), f"Creating Railway project {project}" + (f" in {workspace}" if workspace else ""),
                    env=ENV, skip_if=Probe(link),
                    hint="with several workspaces, name one: targets.railway.workspace (an id or name from "
                    "`railway whoami --json`)" if not workspace else
                    f"check the workspace {workspace} exists: `railway whoami --json` lists yours"))
            steps.append(Step(
                link, f"Linking this directory to {project} ({environment})", env=ENV,
                hint=f"check the project and environment exist: `railway link`; create the environment with "
                f"`railway environment new {environment}`"))

        if iac:
            steps += self._iac_steps(apps)
            notes.append(Note(
                NAME, "`up` first reads what Railway holds (`railway config plan --json`): an existing volume keeps "
                "its region and size, and variables set in the dashboard are kept (preserve())", level="info"))
        else:
            steps += self._toml_steps(apps)

        for app in apps:
            needs = SecretNeeds.of(app.service)
            for secret in app.service.secrets:
                required = secret in needs.required
                steps.append(Step(
                    ("railway", "variable", "set", secret, "--stdin", "--service", app.name, "--skip-deploys"),
                    f"Setting secret {secret} on {app.name}" + ("" if required else " (when set)"),
                    stdin=Stdin((secret,), format="value") if required else Stdin((), "value", optional=(secret,)),
                    env=ENV))
        for app in apps:
            argv = ("railway", "up")
            if app.context != ".":
                argv += (app.context, "--path-as-root")
            steps.append(Step(
                argv + ("--service", app.name, "--ci"),
                f"Building and deploying {app.name} (waits until it is live)",
                env=ENV, timeout=UP_TIMEOUT,
                hint=f"read the build and deploy logs: `railway logs --service {app.name} --build --lines 200`"))
        for app in apps:
            if published(spec, app.name):
                steps.append(Step(
                    ("railway", "domain", "--service", app.name, "--port", str(app.service.port), "--json"),
                    f"Giving {app.name} a public *.up.railway.app domain (kept when one exists)", env=ENV))

        needs = SecretNeeds.of(*(app.service for app in apps))
        tools = ("railway", "node", "npm") if iac else ("railway",)
        return Plan(NAME, tuple(steps), tuple(notes), url=None, secrets=needs.required, tools=tools,
                    secret_groups=needs.groups)

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return _rollback(spec, ctx)

    def _iac_steps(self, apps: list[_App]) -> list[Step]:
        return [
            Step(
                ("npm", "install", "--prefix", ".railway", "--no-audit", "--no-fund"),
                "Installing the Railway IaC package (railway/iac) into .railway/node_modules",
                skip_if=Probe(("npm", "ls", "--prefix", ".railway", "railway")),
                hint=f"needs Node {NODE_MINIMUM} or newer and npm: https://nodejs.org"),
            Step(
                ("railway", "config", "plan", "--file", IAC_FILE, "--json"),
                "Checking what applying .railway/railway.ts changes, and which changes redeploy", env=ENV,
                pipe_to=(sys.executable, "-m", "streamdeploy.glue", "railway-changes", IAC_FILE),
                hint="`railway config plan --file .railway/railway.ts` shows the same changes"),
            Step(
                ("railway", "config", "apply", "--file", IAC_FILE, "--yes"),
                "Applying .railway/railway.ts (services, volumes, variables)", env=ENV,
                hint="review the changes with `railway config plan`; a change that deletes a service, volume or "
                "variable needs `railway config apply --yes --confirm-destructive`, run by hand on purpose"),
        ]

    def _toml_steps(self, apps: list[_App]) -> list[Step]:
        steps = []
        for app in apps:
            if app.volume is not None:
                steps.append(Step(
                    ("railway", "service", "link", app.name), f"Selecting service {app.name}", env=ENV,
                    hint="the legacy format needs the service to exist; new services need `format: iac`"))
                steps.append(Step(
                    ("railway", "volume", "add", "--mount-path", app.volume.mount, "--json"),
                    f"Creating volume for {app.name} at {app.volume.mount}", env=ENV,
                    # `volume add` fails when the service has a volume already: skip it then.
                    skip_if=Probe(("railway", "volume", "list", "--json"), skip_when="contains",
                                  needle=f'"serviceName": {json.dumps(app.name)}')))
            if app.env:
                pairs = tuple(f"{key}={value}" for key, value in app.env.items())
                steps.append(Step(
                    ("railway", "variable", "set", *pairs, "--service", app.name, "--skip-deploys"),
                    f"Setting {len(pairs)} variable(s) on {app.name}", env=ENV))
        return steps


def _link_argv(spec: Spec) -> tuple[str, ...]:
    # link.rs finds the workspace from the project's name; --workspace narrows it when names repeat.
    workspace = spec.targets.railway.workspace
    return ("railway", "link", "--project", _project(spec), "--environment", spec.targets.railway.environment) + \
        (("--workspace", workspace) if workspace else ()) + ("--json",)


def _deploy_notes(spec: Spec, apps: list[_App]) -> list[Note]:
    """Which changes redeploy (R7 of research/fidelity-2026-12.md) and what backups exist."""
    notes = [Note(
        NAME, "`railway config apply` redeploys a service when its variables, build or deploy settings change "
        "(a volume's size or backups do not); `railway up` then deploys your code. So an `up` that changes the "
        "config deploys twice, and with a volume each deploy is a short outage; an `up` with no config change "
        "deploys once. The `up` step before the apply lists each change and whether it redeploys",
        key="targets.railway", level="info")]
    if any(app.volume for app in apps) or any(app.store for app in apps):
        if spec.targets.railway.backups:
            notes.append(Note(
                NAME, f"Railway backs up each volume {', '.join(spec.targets.railway.backups)} (restore in the "
                "service's Backups tab)", key="targets.railway.backups", level="info"))
        else:
            notes.append(Note(
                NAME, "no scheduled backups of the volume: Railway keeps none unless asked", key="targets.railway.backups",
                fix="targets.railway.backups: [daily]", level="info"))
    return notes


def _project_token_only() -> bool:
    # Project tokens cannot run init/link/whoami; the account token (or a login) can.
    return bool(os.environ.get("RAILWAY_TOKEN")) and not os.environ.get("RAILWAY_API_TOKEN")


TARGET = RailwayTarget()


# --- rollback --------------------------------------------------------------------------------
# The CLI has no rollback command, but `railway deployment list --json` lists a service's
# deployments (src/commands/deployment.rs: id, status, createdAt, meta; one replaced by a
# newer one is REMOVED) and `railway api` runs the public API's deploymentRollback(id)
# (src/commands/api.rs, src/gql/schema.json). Railway restores that deployment's image and
# its variables (docs.railway.com/deployments/deployment-actions), never a volume.

ROLLBACK_MUTATION = "mutation($id: String!) { deploymentRollback(id: $id) }"


def _rollback(spec: Spec, ctx: Context) -> Plan:
    from streamdeploy import releases

    project, environment = _project(spec), spec.targets.railway.environment
    steps: list[Step] = []
    if not _project_token_only():
        steps.append(Step(
            _link_argv(spec), f"Linking this directory to {project} ({environment})", env=ENV,
            hint="check the project and environment exist: `railway link`"))
    for name in spec.services:
        steps.append(Step(
            ("railway", "deployment", "list", "--service", name, "--json", "--limit", "100"),
            f"Rolling {name} back to the deployment before the live one (its volume stays)", env=ENV,
            pipe_to=(*releases.GLUE, "railway", "--", "railway", "api", ROLLBACK_MUTATION),
            timeout=300,
            hint=f"`railway deployment list --service {name}` lists what Railway keeps: a deployment older than "
                 "your plan's retention cannot be restored"))
    notes = (Note(
        NAME, "Railway restores the previous deployment's image and its variables (a secret changed since goes back "
        "too); volumes and their data stay. It returns at once: `railway deployment list --service <service>` shows "
        "when the rollback is SUCCESS. Railway's list does not say which deployment a rollback restored, so a "
        "second rollback returns to the deployment the first one replaced", level="info"),)
    return Plan(NAME, tuple(steps), notes, url=None, tools=("railway",))
