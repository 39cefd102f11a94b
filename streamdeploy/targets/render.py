"""Render: a `render.yaml` Blueprint, and the `up` plan that ships it.

Render applies a Blueprint from the git repository, never from this directory, and its CLI can
validate a Blueprint and trigger deploys but not apply one: the Blueprint is created once in the
Dashboard. So `up` validates, checks that the work is committed and pushed, then deploys each
service and waits for it to go live. Sources: shared/research/platform-formats.md §5,
cli-contracts.md §3 (render-oss/cli 2.24.0).

Run as `python -m streamdeploy.targets.render validated FILE | deploy NAME`, it is the small glue
two plan steps pipe the CLI's JSON into (the runner passes no output from one step to the next).
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import sys
from dataclasses import dataclass

from streamdeploy import units
from streamdeploy.spec import Service, ServiceRef, Spec, Store
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


@dataclass(frozen=True)
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


def _free_plan_note(spec: Spec, key: str, what: str) -> list[Note]:
    if spec.targets.render.plan != "free":
        return []
    return [Note(NAME, f"Render's free instance type is for web services only; {what} needs a paid one",
                 key=key, fix="targets.render.plan: starter (or larger)")]


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
    entry["plan"] = target.plan
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
        notes += _free_plan_note(spec, "targets.render.plan", f"the background worker `{name}`")
    return entry


def _store_entry(spec: Spec, name: str, store: Store, notes: list[Note]) -> dict:
    target = spec.targets.render
    entry: dict[str, object] = {
        "type": "pserv",
        "name": service_name(spec, name),
        "runtime": "image",
        "image": {"url": f"docker.io/{docker.CHROMA_IMAGE.format(version=store.version)}"},
        "plan": target.plan,
        "region": target.region,
        "numInstances": 1,
    }
    if store.port != 8000:
        entry["envVars"] = [{"key": "CHROMA_PORT", "value": str(store.port)}]  # chroma's `port`, by env
    entry["disk"] = {"name": f"{name}-data", "mountPath": docker.CHROMA_DATA, "sizeGB": units.gigabytes(store.size)}
    notes.append(Note(
        NAME, f"the `{name}` store runs {docker.CHROMA_IMAGE.format(version=store.version)} as a private service "
        "with a disk; its services find it through fromService host and port", key=f"stores.{name}", level="info"))
    notes += _free_plan_note(spec, "targets.render.plan", f"the `{name}` store (a private service with a disk)")
    return entry


def blueprint(spec: Spec) -> tuple[dict, list[Note]]:
    """The Blueprint as data, with what it could not say."""
    notes: list[Note] = []
    services = [_store_entry(spec, name, spec.stores[name], notes)
                for name in dict.fromkeys(s.store for s in spec.services.values() if s.store in spec.stores)]
    services += [_service_entry(spec, name, spec.services[name], notes) for name in peers.deploy_order(spec)]
    return {"services": services}, notes


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
        glue = (sys.executable, "-m", "streamdeploy.targets.render")
        steps = [
            Step(("render", "blueprints", "validate", FILE, "-o", "json"),
                 "Validating render.yaml with Render", pipe_to=glue + ("validated", FILE),
                 hint="Render needs a workspace: set RENDER_WORKSPACE or run `render workspace set`"),
            *pushed.git_steps(files, target.branch, "Render"),
        ]
        for name in peers.deploy_order(spec):
            render_name = service_name(spec, name)
            steps.append(Step(
                ("render", "services", "-o", "json"),
                f"Deploying {render_name} on Render (waits until it is live)",
                pipe_to=glue + ("deploy", render_name), timeout=DEPLOY_TIMEOUT,
                hint="read its logs: `render logs -r <service id> --limit 200` (the id is in `render services`)"))
        names = ", ".join(service_name(spec, n) for n in spec.services)
        needs = SecretNeeds.of(*spec.services.values())
        asks = f", and enter the secrets it asks for ({needs.describe()})" if needs.names else ""
        notes = (Note(
            NAME, "Render applies render.yaml from your git repository, never from this directory, and no CLI "
            f"or API can create a Blueprint: the first time, push, then in the Render Dashboard choose New > "
            f"Blueprint and pick this repository{asks}. After that `up` checks your work is pushed and deploys "
            f"{names}", key="targets.render",
            fix="once: git push, then Render Dashboard > New > Blueprint > this repository"),)
        return Plan(NAME, tuple(steps), notes, url=None, secrets=(), tools=("render", "git"))


TARGET = RenderTarget()


# --- glue for the plan's pipes ---------------------------------------------------------------


def validation_errors(text: str, file: str) -> list[str]:
    """`render blueprints validate -o json` exits 0 even when invalid: read its `valid`."""
    try:
        result = json.loads(text)
    except ValueError:
        return [f"{file}: Render's validator did not answer with JSON: {text.strip()[:500]}"]
    if not isinstance(result, dict):
        return [f"{file}: unexpected answer from Render's validator: {text.strip()[:500]}"]
    if result.get("valid") is True:
        return []
    errors = []
    for error in result.get("errors") or []:
        if not isinstance(error, dict):
            continue
        where = ":".join(str(p) for p in (file, error.get("line"), error.get("column")) if p)
        path = f" ({error['path']})" if error.get("path") else ""
        errors.append(f"{where}: {error.get('error', 'invalid')}{path}")
    return errors or [f"{file}: Render says the Blueprint is not valid"]


def find_service_id(text: str, name: str) -> str:
    """The id of the one service called `name` in `render services -o json`."""
    try:
        listed = json.loads(text)
    except ValueError as err:
        raise LookupError(f"`render services -o json` did not print JSON: {text.strip()[:500]}") from err
    ids = []
    for item in listed if isinstance(listed, list) else []:
        service = item.get("service", item) if isinstance(item, dict) else {}
        if isinstance(service, dict) and service.get("name") == name and service.get("id"):
            ids.append(str(service["id"]))
    if not ids:
        raise LookupError(
            f"no Render service is named {name}: create the Blueprint once in the Render Dashboard "
            "(New > Blueprint, pick this repository), then run `streamdeploy up` again")
    if len(ids) > 1:
        raise LookupError(f"{len(ids)} Render services are named {name} ({', '.join(ids)}): rename or delete "
                          "the extra ones, so the deploy goes to the right one")
    return ids[0]


def deploy_argv(service_id: str) -> tuple[str, ...]:
    # --confirm: without it the CLI asks y/n on stdin; --wait: exit 1 unless the deploy goes live.
    return ("render", "deploys", "create", service_id, "--wait", "--confirm", "-o", "json")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "validated":
        errors = validation_errors(sys.stdin.read(), args[1])
        for line in errors:
            print(line, file=sys.stderr)
        if not errors:
            print(f"{args[1]} is a valid Blueprint")
        return 1 if errors else 0
    if len(args) == 2 and args[0] == "deploy":
        try:
            service_id = find_service_id(sys.stdin.read(), args[1])
        except LookupError as err:
            print(err, file=sys.stderr)
            return 1
        command = deploy_argv(service_id)
        print(f"deploying {args[1]} ({service_id})", flush=True)
        os.execvp(command[0], command)  # the deploy's own exit code is the step's
    print("usage: python -m streamdeploy.targets.render validated FILE | deploy NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
