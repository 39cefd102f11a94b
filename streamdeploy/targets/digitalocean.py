"""DigitalOcean App Platform: an app spec (`.do/app.yaml`), shipped by `doctl apps create --upsert`.

App Platform has no volumes, so it runs the stateless API: an embedded database is refused
(store mode is the fix) and a Chroma server is named by URL (``targets.digitalocean.store_urls``).
Each web service is an App Platform service with its health check; a service without a port is
a worker. Secrets are ``type: SECRET`` envs without values in the file; `up` fills in their
values from the environment and hands the spec to doctl on stdin (``--spec -``), so they travel
only in the request body and App Platform stores them encrypted.

App Platform builds from git (``targets.digitalocean.repo``) or runs a pushed image
(``targets.digitalocean.image``). Building from git, `up` first checks that the generated files
are committed and the commit is pushed. Flags: tests/fakes/contracts_extra.json (doctl @ 168188d).

Run as `python -m streamdeploy.targets.digitalocean spec FILE [--optional A,B]`, it prints the
spec with the secrets' values for the pipe into doctl. An optional secret (or an `any_of`
alternative) with no value keeps the encrypted value the live app holds (App Platform's spec
reference: "On following submissions, the encrypted value should be used"), so a deploy from CI
without it does not take it away; one the app never had is left out of the spec.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import sys

from streamdeploy.description import Service, ServiceRef, Spec
from streamdeploy.targets import docker, peers, pushed, stores
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering, SecretNeeds, Step

NAME = "digitalocean"
TITLE = "DigitalOcean App Platform"
FILE = ".do/app.yaml"
MAX_GRACE = 600  # termination.grace_period_seconds bounds (app_service_spec_termination.yml)
DRAIN = 15  # termination.drain_seconds: App Platform's default wait before SIGTERM
DEPLOY_TIMEOUT = 3600.0
NO_DISK = "App Platform has no volumes, and an instance's files are lost at every deploy"
REGISTRIES = {"registry.digitalocean.com": "DOCR", "ghcr.io": "GHCR", "docker.io": "DOCKER_HUB"}


REPO_PLACEHOLDER = "OWNER/REPOSITORY"


def _check(spec: Spec) -> None:
    stores.refuse_volumes(spec, NAME, TITLE, NO_DISK)
    stores.require_urls(spec, NAME, TITLE, NO_DISK)


def _source_problem():
    from streamdeploy.problems import fail

    return fail("App Platform builds from a GitHub repository or runs a pushed image; neither is set",
                key="targets.digitalocean", fix="set targets.digitalocean.repo: owner/name (and branch), or "
                "targets.digitalocean.image: registry.digitalocean.com/REGISTRY/NAME:TAG")


def image_source(reference: str) -> dict:
    """`ghcr.io/acme/api:1.0` -> App Platform's image source (registry type, registry, repository, tag)."""
    from streamdeploy.problems import fail

    rest, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    parts = rest.split("/")
    host = parts[0] if len(parts) > 1 and ("." in parts[0] or ":" in parts[0]) else "docker.io"
    path = parts[1:] if host != "docker.io" or parts[0] == "docker.io" else parts
    kind = REGISTRIES.get(host)
    if kind is None or len(path) != 2:
        raise fail(f"App Platform pulls from DigitalOcean's registry, GHCR or Docker Hub as REGISTRY/REPOSITORY; "
                   f"{reference!r} is not one of those", key="targets.digitalocean.image",
                   fix="e.g. registry.digitalocean.com/my-registry/api:1.0 or ghcr.io/my-org/api:1.0")
    source = {"registry_type": kind, "registry": path[0], "repository": path[1], "tag": tag or "latest"}
    if kind == "DOCR":
        del source["registry"]  # the account's own registry
    return source


def _source(spec: Spec, name: str) -> dict:
    target = spec.targets.digitalocean
    if target.image:
        return {"image": image_source(target.image.replace("{service}", name))}
    context = docker.build_context(spec, name)
    return {
        "github": {"repo": target.repo or REPO_PLACEHOLDER, "branch": target.branch, "deploy_on_push": False},
        "source_dir": "/" if context == "." else f"/{context}",
        "dockerfile_path": docker.dockerfile_path(spec, name),
    }


def instance_size(spec: Spec, svc: Service) -> str:
    if spec.targets.digitalocean.instance_size:
        return spec.targets.digitalocean.instance_size
    from streamdeploy import capabilities, pricing

    sizing = pricing.fit(capabilities.platform(NAME), svc.resources.cpu, svc.resources.memory, replicas=svc.replicas)
    return sizing.label if sizing else "apps-d-8vcpu-32gb"


def _health(svc: Service) -> dict:
    assert svc.health is not None
    return {
        "http_path": svc.health.path,
        "initial_delay_seconds": math.ceil(svc.health.grace),
        "period_seconds": max(1, math.ceil(svc.health.interval)),
        "timeout_seconds": max(1, math.ceil(svc.health.timeout)),
        "success_threshold": 1,
        "failure_threshold": 3,
    }


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """Components reach a service on the app's private network at http://<component>:<port>
    (docs: how-to/manage-internal-routing); its public address is App Platform's bindable
    `${<component>.PUBLIC_URL}`, filled in at deploy."""
    from streamdeploy.problems import fail

    if ref.network == "public":
        if ref.property != "url":
            raise fail("App Platform gives another component's public address only as a URL",
                       key=f"services.{user}.env", fix=f"use {{service: {ref.service}, network: public}} (a URL)")
        return f"${{{ref.service}.PUBLIC_URL}}"
    return peers.literal(ref, peers.Address(ref.service, spec.services[ref.service].port))


def _envs(spec: Spec, name: str, svc: Service, notes: list[Note]) -> list[dict]:
    env, env_notes = peers.env(spec, name, NAME, lambda ref: peer_value(spec, name, ref))
    notes.extend(env_notes)
    env.update(stores.external_env(spec, NAME, name))
    out = [{"key": key, "value": value, "scope": "RUN_TIME", "type": "GENERAL"} for key, value in env.items()]
    out += [{"key": secret, "scope": "RUN_TIME", "type": "SECRET"} for secret in svc.secrets]
    return out


def _component(spec: Spec, name: str, svc: Service, notes: list[Note]) -> dict:
    entry: dict = {"name": name, **_source(spec, name)}
    if svc.is_web:
        entry["http_port"] = svc.port
    entry["instance_count"] = svc.replicas
    entry["instance_size_slug"] = instance_size(spec, svc)
    if svc.is_web and svc.health is not None:
        entry["health_check"] = _health(svc)
    grace = min(MAX_GRACE, docker.drain_seconds(svc))
    entry["termination"] = {"drain_seconds": DRAIN, "grace_period_seconds": grace} if svc.is_web else \
        {"grace_period_seconds": grace}
    envs = _envs(spec, name, svc, notes)
    if envs:
        entry["envs"] = envs
    if svc.build.dockerfile != "auto" and not spec.targets.digitalocean.image:
        entry["run_command"] = "/bin/sh -c " + json.dumps("exec " + svc.start)
    return entry


def app_spec(spec: Spec) -> tuple[dict, list[Note]]:
    target = spec.targets.digitalocean
    notes: list[Note] = []
    data: dict = {"name": spec.name, "region": target.region}
    if target.domain:
        # The CDN in front of the app can buffer SSE; edge settings need a custom domain.
        data["disable_edge_cache"] = True
        data["domains"] = [{"domain": target.domain, "type": "PRIMARY"}]
    web = [n for n, s in spec.services.items() if s.is_web]
    if web:
        data["services"] = [_component(spec, n, spec.services[n], notes) for n in web]
        rules = []
        for index, name in enumerate(web):
            prefix = "/" if index == 0 else f"/{name}"
            rules.append({"match": {"path": {"prefix": prefix}}, "component": {"name": name}})
            if index:
                notes.append(Note(NAME, f"`{name}` is served under {prefix} of the app's domain; App Platform strips "
                                  "the prefix, so the app must accept being served from a sub-path",
                                  key=f"services.{name}", fix="for Streamlit: --server.baseUrlPath "
                                  f"{name} and preserve_path_prefix", level="info"))
        data["ingress"] = {"rules": rules}
    workers = [n for n, s in spec.services.items() if not s.is_web]
    if workers:
        data["workers"] = [_component(spec, n, spec.services[n], notes) for n in workers]
    streaming = [n for n in web if spec.services[n].streaming is not None]
    if streaming and not target.domain:
        notes.append(Note(NAME, "App Platform's CDN sits in front of the app and can buffer SSE; turning it off "
                          "(disable_edge_cache) needs a custom domain", key="targets.digitalocean.domain",
                          fix="set targets.digitalocean.domain: api.example.com"))
    return data, notes


class DigitalOceanTarget:
    name = NAME
    title = TITLE

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        _check(spec)
        data, notes = app_spec(spec)
        files: list[RenderedFile] = []
        if not spec.targets.digitalocean.image:
            images = docker.image_files(spec, ctx)
            files.extend(images.files)
            notes = list(images.notes) + notes
        from streamdeploy.targets.render import dump_yaml

        files.append(RenderedFile(FILE, dump_yaml(data)))
        if not spec.targets.digitalocean.repo and not spec.targets.digitalocean.image:
            notes.append(Note(NAME, f"the app spec builds from {REPO_PLACEHOLDER}: `up` needs the repository",
                              key="targets.digitalocean.repo", fix="set targets.digitalocean.repo: owner/name, or "
                              "targets.digitalocean.image"))
        secrets = _secrets(spec)
        if secrets:
            notes.append(Note(NAME, f"secrets ({', '.join(secrets)}) are `type: SECRET` envs without values; `up` "
                              "sends their values in the request to App Platform, which keeps them encrypted",
                              level="info"))
        return Rendering(tuple(files), tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        _check(spec)
        target = spec.targets.digitalocean
        if not target.repo and not target.image:
            raise _source_problem()
        files = [f.path for f in self.render(spec, ctx).files]
        needs = SecretNeeds.of(*spec.services.values())
        steps = [Step(("doctl", "apps", "spec", "validate", FILE, "--schema-only"),
                      f"Validating {FILE} with doctl",
                      hint="doctl rejects keys it does not know; `streamdeploy render --target digitalocean` "
                           "rewrites the file")]
        if not target.image:
            steps += pushed.git_steps(files, target.branch, "App Platform")
        glue = (sys.executable, "-m", "streamdeploy.targets.digitalocean", "spec", FILE)
        if needs.optional:  # names only: the glue keeps or leaves out the ones with no value
            glue += ("--optional", ",".join(needs.optional))
        steps.append(Step(
            glue, f"Creating or updating the app {spec.name} on App Platform (waits for the deployment)",
            pass_secrets=needs.required, pass_if_set=needs.optional,
            pipe_to=("doctl", "apps", "create", "--spec", "-", "--upsert", "--update-sources", "--wait",
                     "--output", "json"),
            timeout=DEPLOY_TIMEOUT,
            hint="the first time, App Platform needs access to the repository (GitHub app install); deployment "
                 f"logs: `doctl apps list` for the id, then `doctl apps logs ID --type build`"))
        url = f"https://{target.domain}" if target.domain else None
        notes = [Note(NAME, "the app's URL (…ondigitalocean.app) is shown by `doctl apps list`; "
                      "`streamdeploy verify URL` checks it", level="info")] if url is None else []
        if needs.optional:
            notes.append(Note(NAME, f"optional secrets ({', '.join(needs.optional)}) with no value when `up` runs keep "
                              "the encrypted value the app holds; one it never had is left out of the app spec",
                              level="info"))
        return Plan(NAME, tuple(steps), tuple(notes), url=url, secrets=needs.required, secret_groups=needs.groups,
                    tools=("doctl",) + (() if target.image else ("git",)))


def _secrets(spec: Spec) -> list[str]:
    out: list[str] = []
    for svc in spec.services.values():
        out.extend(s for s in svc.secrets if s not in out)
    return out


TARGET = DigitalOceanTarget()


# --- glue for the pipe into doctl ----------------------------------------------------------------


def with_values(data: dict, env: dict[str, str], optional: frozenset[str] = frozenset(),
                held: dict[str, str] | None = None) -> dict:
    """The spec with each SECRET env's value from the environment (the step passes them by
    name). An ``optional`` one with no value takes the encrypted value the live app ``held``
    (``component.KEY`` -> ``EV[...]``), else it is left out (a SECRET env needs a value)."""
    for kind in ("services", "workers"):
        for component in data.get(kind) or []:
            envs = []
            for entry in component.get("envs") or []:
                if entry.get("type") == "SECRET":
                    if not env.get(entry["key"]):
                        kept = (held or {}).get(f"{component.get('name')}.{entry['key']}")
                        if entry["key"] in optional and kept:
                            entry["value"] = kept
                            envs.append(entry)
                            continue
                        if entry["key"] in optional:
                            continue
                        raise KeyError(f"{entry['key']} is not set")
                    entry["value"] = env[entry["key"]]
                envs.append(entry)
            if "envs" in component:
                component["envs"] = envs
    return data


def held_secrets(app_name: str, doctl: str = "doctl") -> dict[str, str]:
    """``component.KEY`` -> the encrypted ``EV[...]`` value of each SECRET env of the live app
    named ``app_name`` (`doctl apps list`); empty when there is no such app or doctl fails."""
    import subprocess

    try:
        done = subprocess.run([doctl, "apps", "list", "--output", "json"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)
        apps = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    held: dict[str, str] = {}
    for app in apps if isinstance(apps, list) else []:
        spec = (app or {}).get("spec") or {}
        if spec.get("name") != app_name:
            continue
        for kind in ("services", "workers"):
            for component in spec.get(kind) or []:
                for entry in component.get("envs") or []:
                    value = str(entry.get("value") or "")
                    if entry.get("type") == "SECRET" and value.startswith("EV["):
                        held[f"{component.get('name')}.{entry.get('key')}"] = value
    return held


def _unset_optional(data: dict, env: dict[str, str], optional: frozenset[str]) -> list[str]:
    keys = {e.get("key") for kind in ("services", "workers") for c in data.get(kind) or []
            for e in c.get("envs") or [] if e.get("type") == "SECRET"}
    return sorted(k for k in keys if k in optional and not env.get(k))


USAGE = "usage: python -m streamdeploy.targets.digitalocean spec FILE [--optional A,B]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    optional: frozenset[str] = frozenset()
    if len(args) == 4 and args[2] == "--optional":
        optional = frozenset(n for n in args[3].split(",") if n)
        args = args[:2]
    if len(args) != 2 or args[0] != "spec":
        print(USAGE, file=sys.stderr)
        return 2
    import yaml

    env = dict(os.environ)
    try:
        with open(args[1], encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        unset = _unset_optional(data, env, optional) if isinstance(data, dict) else []
        held = held_secrets(str(data.get("name"))) if unset else {}
        data = with_values(data, env, optional, held)
    except (OSError, ValueError, KeyError, AttributeError, yaml.YAMLError) as err:
        print(f"cannot read {posixpath.normpath(args[1])}: {err}", file=sys.stderr)
        return 1
    for key in sorted({k.partition(".")[2] for k in held} & set(unset)):
        # stderr: stdout is the spec doctl reads
        print(f"{key} is not set here: the app keeps the encrypted value App Platform holds", file=sys.stderr)
    sys.stdout.write(json.dumps(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
