"""Render: a `render.yaml` Blueprint, and the `up` plan that ships it.

Render applies a Blueprint from the git repository, never from this directory, and its CLI can
validate a Blueprint and trigger deploys but not apply one: the Blueprint is created once in the
Dashboard. So `up` validates, checks that the work is committed and pushed, then deploys each
service and waits for it to go live. Sources: shared/research/platform-formats.md §5,
cli-contracts.md §3 (render-oss/cli 2.24.0).

Steps pipe the CLI's JSON into ``streamdeploy.glue`` (render-validated, render-deploy) and set
secrets through Render's API with it (render-secrets, ``streamdeploy.render_api``).
"""

from __future__ import annotations

import posixpath
import shlex
import sys

from streamdeploy import units
from streamdeploy.description import Resources, Service, ServiceRef, Spec, Store
from streamdeploy.records import record
from streamdeploy.targets import docker, peers, pushed, volumes
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

NAME = "render"
FILE = "render.yaml"
MODELINE = "# yaml-language-server: $schema=https://render.com/schema/render.yaml.json\n"
DEPLOY_TIMEOUT = 3900.0  # `deploys create --wait` gives up after an hour by itself
# Render refuses disks mounted here (render-oss/skills render-disks).
FORBIDDEN_MOUNTS = frozenset({
    "/", "/opt", "/opt/render", "/opt/render/project", "/opt/render/project/src",
    "/home", "/home/render", "/etc", "/etc/secrets",
})


def service_name(spec: Spec, name: str) -> str:
    """Render names are per workspace: prefix the project so `api` of two projects never collide."""
    return f"{spec.name}-{name}"


def service_type(spec: Spec, name: str) -> str:
    """web (public URL), pserv (private network only) or worker (no port).

    Render has no way in for people to a private service, so a private one that no other
    service uses (a dashboard) stays a web service; `check` warns that its login protects it.
    """
    svc = spec.services[name]
    if not svc.is_web:
        return "worker"
    return "pserv" if not svc.public and not peers.for_people(spec, name) else "web"


@record(frozen=True)
class FromService:
    """A Blueprint `fromService` value: Render fills in the other service's address."""

    entry: dict


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> FromService:
    """Render knows a service's private address only as `host`, `port` or `hostport` (no scheme,
    no public URL): a URL becomes hostport, and `check` says so."""
    prop = "hostport" if ref.property == "url" else ref.property
    return FromService({"type": service_type(spec, ref.service), "name": service_name(spec, ref.service),
                        "property": prop})


def _repo_path(path: str) -> str:
    """Blueprint paths are relative to the repository root, written ./like/this."""
    path = posixpath.normpath(path)
    return "." if path == "." else f"./{path}"


def _plan_key(spec: Spec, name: str) -> str:
    return f"targets.render.plan.{name}" if isinstance(spec.targets.render.plan, dict) else "targets.render.plan"


def instance_plan(spec: Spec, name: str, resources: Resources, disk: bool, notes: list[Note]) -> str:
    """The Render instance type of one service or store: the one set for it, else the smallest that
    has its cpu and memory (and disks, when it has one). A set plan smaller than the resources
    ask for is said: Render gives what the plan has, whatever `resources` says."""
    from streamdeploy import capabilities, pricing

    platform = capabilities.platform(NAME)
    chosen = spec.targets.render.plan
    chosen = chosen.get(name) if isinstance(chosen, dict) else chosen
    if chosen is None:
        fitted = pricing.fit(platform, resources.cpu, resources.memory, disk=disk)
        return fitted.label if fitted else "pro ultra"  # `check` reports that no size fits
    size = pricing.size_named(platform, chosen)
    if size is not None and (size.cpu < resources.cpu or size.memory < resources.memory):
        notes.append(Note(
            NAME, f"the `{chosen}` plan gives `{name}` {size.cpu:g} CPU and {units.format_size(size.memory)}; its "
            f"resources ({resources.cpu:g} CPU, {units.format_size(resources.memory)}) are not what it gets",
            key=_plan_key(spec, name), fix=f"leave `{name}` out of targets.render.plan to get the smallest plan that "
            "fits, or lower its resources", level="warning" if size.memory < resources.memory else "info"))
    return chosen


def _unknown_plan_names(spec: Spec) -> list[Note]:
    chosen = spec.targets.render.plan
    if not isinstance(chosen, dict):
        return []
    known = set(spec.services) | set(spec.stores)
    return [Note(NAME, f"targets.render.plan names `{name}`, which is no service or store", key=f"targets.render.plan.{name}",
                 fix=f"use one of: {', '.join(sorted(known))}") for name in chosen if name not in known]


def _free_plan_note(plan: str, key: str, what: str) -> list[Note]:
    if plan != "free":
        return []
    return [Note(NAME, f"Render's free instance type is for web services only; {what} needs a paid one",
                 key=key, fix=f"{key}: starter (or larger)")]


def _service_entry(spec: Spec, name: str, svc: Service, notes: list[Note]) -> dict:
    target = spec.targets.render
    base = f"services.{name}"
    entry: dict[str, object] = {
        "type": service_type(spec, name),
        "name": service_name(spec, name),
        "runtime": "docker",
    }
    if target.repo:
        entry["repo"] = target.repo
    if target.branch:
        entry["branch"] = target.branch
    entry["plan"] = instance_plan(spec, name, svc.resources, bool(svc.volumes), notes)
    entry["region"] = target.region
    entry["dockerfilePath"] = _repo_path(docker.dockerfile_path(spec, name))
    entry["dockerContext"] = _repo_path(docker.build_context(spec, name))
    if docker.build_context(spec, name).startswith(".."):
        notes.append(Note(
            NAME, f"the build context {docker.build_context(spec, name)} of `{name}` is above this directory, but "
            "Render reads render.yaml's paths from the repository's root", key=f"{base}.build.context",
            fix="keep streamdeploy.yaml at the repository's root with every service below it, or correct "
            "dockerContext and dockerfilePath in the Dashboard"))
    if svc.build.dockerfile != "auto":
        # The generated image's CMD runs `start`; for the user's own image say it here.
        entry["dockerCommand"] = "/bin/sh -c " + shlex.quote("exec " + svc.start)

    disk = volumes.single_volume(NAME, name, svc, notes, limit="Render attaches one disk per service")
    entry["numInstances"] = volumes.instances(NAME, name, svc, notes, reason="a Render service with a disk runs one instance")
    if svc.health is not None and entry["type"] == "web":  # private services have no health check path
        entry["healthCheckPath"] = svc.health.path
        notes.append(Note(
            NAME, "Render's health check interval and timeout are Dashboard settings, not Blueprint keys; "
            "interval, timeout and grace use Render's defaults", key=f"{base}.health", level="info"))
    # From SIGTERM to SIGKILL: time for open SSE streams to end (same rule as every target).
    entry["maxShutdownDelaySeconds"] = docker.drain_seconds(svc)
    # `up` is what deploys: pushing the commit it ships must not start a second deploy of it
    # (with a disk every deploy has downtime).
    entry["autoDeployTrigger"] = "off"

    # with PORT (Render's default is 10000)
    env, env_notes = peers.env(spec, name, NAME, lambda ref: peer_value(spec, name, ref))
    notes.extend(env_notes)
    env_vars: list[dict] = [{"key": key, "fromService": value.entry} if isinstance(value, FromService)
                            else {"key": key, "value": value} for key, value in env.items()]
    if svc.store in spec.stores:
        store = spec.stores[svc.store]
        host_name, port_name = store.env_names
        ref = {"type": "pserv", "name": service_name(spec, svc.store)}
        env_vars.append({"key": host_name, "fromService": {**ref, "property": "host"}})
        env_vars.append({"key": port_name, "fromService": {**ref, "property": "port"}})
    env_vars += [{"key": secret, "sync": False} for secret in svc.secrets]
    if env_vars:
        entry["envVars"] = env_vars

    if disk is not None:
        mount = disk.mount.rstrip("/") or "/"
        if mount in FORBIDDEN_MOUNTS:
            notes.append(Note(NAME, f"Render does not mount disks at {mount}", key=f"{base}.volumes.0.mount",
                              fix=f"mount it under /data, e.g. /data/{disk.name}"))
        entry["disk"] = {"name": disk.name, "mountPath": disk.mount, "sizeGB": units.gigabytes(disk.size)}
        if svc.build.dockerfile != "auto":
            notes.append(Note(
                NAME, "Render does not document who owns a disk's mount point; an image that runs as a non-root "
                "user may not be able to write there", key=f"{base}.build.dockerfile",
                fix="start as root and hand the mount to the app user in the entrypoint", level="info"))
    if not svc.is_web:
        notes += _free_plan_note(entry["plan"], _plan_key(spec, name), f"the background worker `{name}`")
    return entry


def _store_entry(spec: Spec, name: str, store: Store, notes: list[Note]) -> dict:
    target = spec.targets.render
    entry: dict[str, object] = {
        "type": "pserv",
        "name": service_name(spec, name),
        "runtime": "image",
        "image": {"url": f"docker.io/{docker.CHROMA_IMAGE.format(version=store.version)}"},
        "plan": instance_plan(spec, name, store.resources, True, notes),
        "region": target.region,
        "numInstances": 1,
    }
    if store.port != 8000:
        entry["envVars"] = [{"key": "CHROMA_PORT", "value": str(store.port)}]  # chroma's `port`, by env
    entry["disk"] = {"name": f"{name}-data", "mountPath": docker.CHROMA_DATA, "sizeGB": units.gigabytes(store.size)}
    notes.append(Note(
        NAME, f"the `{name}` store runs {docker.CHROMA_IMAGE.format(version=store.version)} as a private service "
        "with a disk; its services find it through fromService host and port", key=f"stores.{name}", level="info"))
    notes += _free_plan_note(entry["plan"], _plan_key(spec, name), f"the `{name}` store (a private service with a disk)")
    return entry


def blueprint(spec: Spec) -> tuple[dict, list[Note]]:
    """The Blueprint as data, with what it could not say."""
    notes: list[Note] = _unknown_plan_names(spec)
    services = [_store_entry(spec, name, spec.stores[name], notes)
                for name in dict.fromkeys(s.store for s in spec.services.values() if s.store in spec.stores)]
    services += [_service_entry(spec, name, spec.services[name], notes) for name in peers.deploy_order(spec)]
    notes.append(_plans_note(services))
    return {"services": services}, notes


def _plans_note(services: list[dict]) -> Note:
    from streamdeploy import capabilities, pricing

    platform = capabilities.platform(NAME)
    shown = []
    for entry in services:
        size = pricing.size_named(platform, entry["plan"])
        what = f" ({size.cpu:g} CPU, {units.format_size(size.memory)})" if size else ""
        shown.append(f"{entry['name']}: {entry['plan']}{what}")
    return Note(NAME, "Render sizes each service by its instance type, not by `resources`: " + "; ".join(shown),
                key="targets.render.plan", level="info")


def dump_yaml(data: dict) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        # A multi-line value reads best as one double-quoted line with \n escapes.
        style = '"' if any(ch in value for ch in "\n\r\t") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    # Wide lines: a long value stays on one line instead of being folded.
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=1_000_000)


class RenderTarget:
    name = NAME
    title = "Render"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        data, notes = blueprint(spec)
        images = docker.image_files(spec, ctx)
        needs = SecretNeeds.of(*spec.services.values())
        if needs.names:
            notes.append(Note(
                NAME, f"secrets are declared `sync: false` ({needs.describe()}): Render asks for their values "
                "when the Blueprint is created, and they never appear in render.yaml", level="info"))
        notes.append(Note(
            NAME, "render.yaml's paths are relative to the repository root: keep streamdeploy.yaml there, or set "
            "the Blueprint path and root directory in the Dashboard", level="info"))
        notes.append(Note(
            NAME, "autoDeployTrigger is off: `streamdeploy up` deploys each service once the commit is pushed",
            level="info"))
        text = MODELINE + dump_yaml(data)
        files = tuple(images.files) + (RenderedFile(FILE, text),)
        return Rendering(files, tuple(images.notes) + tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        files = [f.path for f in self.render(spec, ctx).files]
        target = spec.targets.render
        glue = (sys.executable, "-m", "streamdeploy.glue")
        steps = [
            Step(("render", "blueprints", "validate", FILE, "-o", "json"),
                 "Validating render.yaml with Render", pipe_to=glue + ("render-validated", FILE),
                 hint="Render needs a workspace: set RENDER_WORKSPACE or run `render workspace set`"),
            *pushed.git_steps(files, target.branch, "Render", shipped=shipped(spec), default_branch=True,
                              branch_key="targets.render.branch"),
        ]
        for name in peers.deploy_order(spec):
            render_name, svc = service_name(spec, name), spec.services[name]
            if svc.secrets:
                needs = SecretNeeds.of(svc)
                # Required names, then each `any_of` group as A,B (one is enough), then optional ones.
                wanted = (*needs.required, *(",".join(g) for g in needs.groups),
                          *(f"{n}?" for n in needs.optional if not any(n in g for g in needs.groups)))
                steps.append(Step(
                    glue + ("render-secrets", render_name, *wanted),
                    f"Setting the secrets of {render_name} on Render ({', '.join(svc.secrets)})",
                    pass_if_set=tuple(svc.secrets),
                    hint=f"give each secret a value (export it, or --env-file), or set it in the Render Dashboard: "
                    f"{render_name} > Environment"))
            steps.append(Step(
                ("render", "services", "-o", "json"),
                f"Deploying {render_name} on Render at this commit (waits until it is live)",
                pipe_to=glue + ("render-deploy", render_name), timeout=DEPLOY_TIMEOUT,
                hint="read its logs: `render logs -r <service id> --limit 200` (the id is in `render services`)"))
        names = ", ".join(service_name(spec, n) for n in spec.services)
        needs = SecretNeeds.of(*spec.services.values())
        secrets = list(needs.names)
        asks = f", and enter the secrets it asks for ({needs.describe()})" if needs.names else ""
        notes = [Note(
            NAME, "Render applies render.yaml from your git repository, never from this directory, and no CLI "
            f"or API can create a Blueprint: the first time, push, then in the Render Dashboard choose New > "
            f"Blueprint and pick this repository{asks}. After that `up` checks your work is pushed and deploys "
            f"{names} at this commit", key="targets.render",
            fix="once: git push, then Render Dashboard > New > Blueprint > this repository")]
        notes.append(Note(
            NAME, "a push that changes render.yaml makes Render sync the Blueprint and redeploy the services it "
            "touches, even with autoDeployTrigger off; `up` then deploys once more (with a disk, two short "
            "outages). The Blueprint's first sync deploys at once too", key="targets.render",
            fix="turn off the Blueprint's auto sync in the Dashboard (Blueprint > Settings) to let only `up` deploy",
            level="info"))
        if secrets:
            notes.append(Note(
                NAME, f"`up` sets each secret you give it ({', '.join(secrets)}) on its service through Render's API "
                "(RENDER_API_KEY; the value in the request body), and stops when one is neither given nor set on "
                "Render: a secret added to the Blueprint later is never asked for", level="info"))
        return Plan(NAME, tuple(steps), tuple(notes), url=None, secrets=(), tools=("render", "git"))

    def rollback(self, spec: Spec, ctx: Context) -> Plan:
        return _rollback(spec, ctx)


TARGET = RenderTarget()


# --- rollback --------------------------------------------------------------------------------
# The CLI has no rollback command; Render's API has RollbackDeploy (POST /services/{id}/rollback
# with {deployId}: a new deploy of that deploy's build; render-oss/cli pkg/client), and
# ListDeploys says which deploys went live and at which commit.


def _rollback(spec: Spec, ctx: Context) -> Plan:
    from streamdeploy import releases

    steps = []
    for name in peers.deploy_order(spec):
        render_name = service_name(spec, name)
        steps.append(Step(
            ("render", "services", "-o", "json"),
            f"Rolling {render_name} back to the deploy before the live one (waits until it is live)",
            pipe_to=(*releases.GLUE, "render", render_name), timeout=DEPLOY_TIMEOUT,
            hint=f"the Render Dashboard lists its deploys ({render_name} > Events), each with a Rollback button; "
                 "`render logs -r <service id> --limit 200` shows why one did not go live"))
    notes = (Note(
        NAME, "Render redeploys the previous deploy's build (through its API: RENDER_API_KEY); environment variables, "
        "secrets, settings and the disk stay as they are. autoDeployTrigger is off, so a push does not undo the "
        "rollback; the next `up` deploys this commit again", level="info"),)
    return Plan(NAME, tuple(steps), notes, url=None, tools=("render",))

def shipped(spec: Spec) -> list[str]:
    """What a Render deploy builds from: render.yaml, each service's build context and Dockerfile.
    An uncommitted change elsewhere does not reach Render, so it does not stop `up`."""
    paths = [FILE]
    for name in spec.services:
        paths += [docker.build_context(spec, name), docker.dockerfile_path(spec, name)]
    paths = list(dict.fromkeys(posixpath.normpath(p) for p in paths))
    # A path inside another one (a Dockerfile in its context) adds nothing.
    return [p for p in paths if not any(o != p and (o == "." or p.startswith(o + "/")) for o in paths)]
