"""Google Cloud Run: a Knative ``serving.knative.dev/v1`` Service per web service, shipped by gcloud.

Cloud Run has no disk, so it runs the stateless API only: an embedded database on a volume is
refused (store mode is the fix), and a Chroma server runs elsewhere and is named by URL
(``targets.cloudrun.store_urls``). For streams: the request timeout comes from
``streaming.max_duration`` (60 min at most), CPU stays allocated between requests
(``run.googleapis.com/cpu-throttling: "false"``), at least one instance stays warm, and each
instance takes up to 1,000 concurrent requests, one per open stream. Secrets are Secret
Manager secrets referenced by name (``secretKeyRef``), never values.

`up`: an Artifact Registry repository (once), each secret's value as a new Secret Manager
version (on stdin), ``gcloud builds submit`` of the image, then ``gcloud run services replace``
with the image pinned to the digest Cloud Build just pushed (so every `up` rolls out the code
it built), then public access. Flags: tests/fakes/contracts_extra.json (gcloud 578.0.0).

Run as `python -m streamdeploy.targets.cloudrun replace FILE [--optional NAME=SECRET_ID,...] --
GCLOUD ARGV...`, it is the glue the deploy step pipes Cloud Build's JSON into. Optional secrets
(and `any_of` alternatives) get a new version only when set. One unset in this run keeps its
reference when Secret Manager already holds an enabled version of it (an earlier `up` stored it:
a deploy from CI without that value must not take it away from the service); one never stored
is left out of the revision: Cloud Run's secretKeyRef has no `optional`, and a reference to a
secret with no version would stop the revision from starting.
"""

from __future__ import annotations

import json
import math
import os
import sys

from streamdeploy import units
from streamdeploy.description import Service, ServiceRef, Spec
from streamdeploy.targets import docker, peers, stores
from streamdeploy.targets.base import Context, Note, Plan, Probe, RenderedFile, Rendering, SecretNeeds, Step, Stdin

NAME = "cloudrun"
TITLE = "Google Cloud Run"
DIR = "cloudrun"
MAX_TIMEOUT = 3600  # timeoutSeconds cap (docs.cloud.google.com/run/docs/configuring/request-timeout)
TIMEOUT_MARGIN = 30  # seconds past max_duration, so the server ends a stream before Cloud Run cuts it
STREAM_CONCURRENCY = 1000  # the maximum; every open stream holds one request slot
DEFAULT_CONCURRENCY = 80
# vCPU steps above 1 and the memory each allows (docs.cloud.google.com/run/docs/configuring/services/cpu)
CPU_MEMORY = ((1, 4 * 1024**3), (2, 8 * 1024**3), (4, 16 * 1024**3), (6, 24 * 1024**3), (8, 32 * 1024**3))
RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")  # Cloud Run sets these itself
BUILD_TIMEOUT = 3600.0
NO_DISK = "its instances have no disk (only network mounts without file locking)"
PROJECT_PLACEHOLDER = "PROJECT_ID"


def service_name(spec: Spec, service: str) -> str:
    """Cloud Run names are per project and region: prefix the description's name."""
    return f"{spec.name}-{service}"


def secret_id(spec: Spec, secret: str) -> str:
    """The Secret Manager secret holding one of the description's secrets."""
    return f"{spec.name}-{secret}"


def config_path(service: str) -> str:
    return f"{DIR}/{service}.yaml"


def image(spec: Spec, service: str) -> str:
    run = spec.targets.cloudrun
    project = run.project or PROJECT_PLACEHOLDER
    return f"{run.region}-docker.pkg.dev/{project}/{run.repository}/{service_name(spec, service)}:latest"


def timeout_seconds(svc: Service) -> int:
    if svc.streaming is None:
        return 300
    return min(MAX_TIMEOUT, math.ceil(svc.streaming.max_duration) + TIMEOUT_MARGIN)


def project_problem():
    from streamdeploy.problems import fail

    return fail("Cloud Run needs the Google Cloud project to deploy to (the image is pushed there)",
                key="targets.cloudrun", fix="set targets.cloudrun.project: your-project-id")


def _check(spec: Spec) -> None:
    from streamdeploy.problems import fail

    stores.refuse_volumes(spec, NAME, TITLE, NO_DISK)
    stores.require_urls(spec, NAME, TITLE, NO_DISK)
    for name, svc in spec.services.items():
        if not svc.is_web:
            raise fail(f"`{name}` has no port: a Cloud Run service answers HTTP requests", key=f"services.{name}",
                       fix="give it a port, or run it on a platform with background workers")
        if svc.streaming is not None and svc.streaming.max_duration > MAX_TIMEOUT:
            raise fail(f"Cloud Run ends every request after {MAX_TIMEOUT // 60} minutes; streams of "
                       f"`{name}` last {units.format_duration(svc.streaming.max_duration)}",
                       key=f"services.{name}.streaming.max_duration",
                       fix="max_duration: 60m or less, with clients that resume with Last-Event-ID")


def _cpu_memory(svc: Service, name: str, notes: list[Note]) -> tuple[str, str]:
    """The smallest whole-vCPU step that allows the memory; below 1 vCPU Cloud Run serves one request at a time."""
    wanted = svc.resources.cpu
    cpu = next((c for c, most in CPU_MEMORY if c >= wanted and most >= svc.resources.memory), None)
    if cpu is None:
        cpu = CPU_MEMORY[-1][0]
    if cpu != wanted:
        why = ("below 1 vCPU Cloud Run allows one request per instance and throttles CPU between requests"
               if wanted < 1 else "Cloud Run sells whole vCPU steps (1, 2, 4, 6, 8) and memory per vCPU")
        notes.append(Note(NAME, f"`{name}` gets {cpu} vCPU, not {wanted:g}: {why}",
                          key=f"services.{name}.resources.cpu", level="info"))
    return str(cpu), f"{units.mebibytes(svc.resources.memory)}Mi"


def _probes(svc: Service) -> dict:
    if svc.health is None:
        return {}
    def check() -> dict:  # a fresh dict per probe: shared ones would dump as YAML anchors
        return {"httpGet": {"path": svc.health.path, "port": svc.port}}

    period = max(1, min(240, math.ceil(svc.health.interval)))
    timeout = max(1, min(period, math.ceil(svc.health.timeout)))
    return {
        # A first check after the grace period, then every `interval`, three misses and the instance is replaced.
        "startupProbe": {**check(), "initialDelaySeconds": min(240, math.ceil(svc.health.grace)),
                         "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": 3},
        "livenessProbe": {**check(), "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": 3},
    }


def peer_value(spec: Spec, user: str, ref: ServiceRef) -> str:
    """Cloud Run has no private names and no reference variables: a service's URL exists once
    it is deployed (https://<service>-<project number>.<region>.run.app), never in service.yaml."""
    from streamdeploy.problems import fail

    raise fail(f"Cloud Run cannot write `{ref.service}`'s address into `{user}`'s service.yaml",
               key=f"services.{user}.env",
               fix=f"deploy `{ref.service}` first, then set the variable to its URL as plain text "
                   f"(`gcloud run services describe {ref.service} --format 'value(status.url)'`)")


def _env(spec: Spec, name: str, svc: Service, notes: list[Note]) -> list[dict]:
    env, env_notes = peers.env(spec, name, NAME, lambda ref: peer_value(spec, name, ref))
    notes.extend(env_notes)
    for reserved in RESERVED_ENV:
        if reserved in env:
            if reserved != "PORT":
                notes.append(Note(NAME, f"Cloud Run sets {reserved} itself; the value in env is dropped",
                                  key=f"services.{name}.env.{reserved}", fix=f"remove {reserved} from env"))
            del env[reserved]
    env.update(stores.external_env(spec, NAME, name))
    out: list[dict] = [{"name": key, "value": value} for key, value in env.items()]
    out += [{"name": secret, "valueFrom": {"secretKeyRef": {"name": secret_id(spec, secret), "key": "latest"}}}
            for secret in svc.secrets]
    return out


def service_yaml(spec: Spec, name: str) -> tuple[dict, list[Note]]:
    """One Knative Service, as data."""
    run = spec.targets.cloudrun
    svc = spec.services[name]
    notes: list[Note] = []
    min_instances = run.min_instances if run.min_instances is not None else svc.replicas
    if svc.streaming is not None and min_instances == 0:
        notes.append(Note(NAME, f"min_instances 0: `{name}` scales to zero when idle, and its first request waits "
                          "for an instance to start", key="targets.cloudrun.min_instances", level="info"))
    annotations = {
        "autoscaling.knative.dev/minScale": str(min_instances),
        # Instance-based billing: CPU stays allocated between requests, so heartbeats keep flowing.
        "run.googleapis.com/cpu-throttling": "false",
        "run.googleapis.com/startup-cpu-boost": "true",
        "run.googleapis.com/execution-environment": "gen2",
    }
    if run.max_instances is not None:
        annotations["autoscaling.knative.dev/maxScale"] = str(max(run.max_instances, min_instances))
    cpu, memory = _cpu_memory(svc, name, notes)
    container: dict = {
        "image": image(spec, name),
        "ports": [{"name": "http1", "containerPort": svc.port}],
    }
    env = _env(spec, name, svc, notes)
    if env:
        container["env"] = env
    container["resources"] = {"limits": {"cpu": cpu, "memory": memory}}
    container.update(_probes(svc))
    template_spec: dict = {
        "containerConcurrency": run.concurrency or (STREAM_CONCURRENCY if svc.streaming else DEFAULT_CONCURRENCY),
        "timeoutSeconds": timeout_seconds(svc),
    }
    if run.service_account:
        template_spec["serviceAccountName"] = run.service_account
    template_spec["containers"] = [container]
    data = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": service_name(spec, name), "annotations": {"run.googleapis.com/ingress": "all"}},
        "spec": {
            "template": {"metadata": {"annotations": annotations}, "spec": template_spec},
            "traffic": [{"percent": 100, "latestRevision": True}],
        },
    }
    if svc.streaming is not None and svc.streaming.max_duration > 900:
        notes.append(Note(NAME, f"Google advises clients to reconnect for streams past 15 minutes; `{name}` keeps "
                          f"them up to {units.format_duration(svc.streaming.max_duration)}",
                          key=f"services.{name}.streaming.max_duration",
                          fix="have clients resume with Last-Event-ID (the SSE retry does it)", level="info"))
    return data, notes


def _yaml(data: dict) -> str:
    from streamdeploy.targets.render import dump_yaml

    return dump_yaml(data)


class CloudRunTarget:
    name = NAME
    title = TITLE

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        _check(spec)
        images = docker.image_files(spec, ctx)
        files = list(images.files)
        notes = list(images.notes)
        for name in spec.services:
            data, service_notes = service_yaml(spec, name)
            files.append(RenderedFile(config_path(name), _yaml(data)))
            notes.extend(service_notes)
        if not spec.targets.cloudrun.project:
            notes.append(Note(NAME, f"the image path says {PROJECT_PLACEHOLDER}: `up` needs the project",
                              key="targets.cloudrun.project", fix="set targets.cloudrun.project: your-project-id"))
        for store, url in spec.targets.cloudrun.store_urls.items():
            notes.append(Note(NAME, f"the `{store}` store runs at {url}, outside Cloud Run (which has no disk for "
                              "it); the services reach it there", key=f"targets.cloudrun.store_urls.{store}",
                              level="info"))
        return Rendering(tuple(files), tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        _check(spec)
        run = spec.targets.cloudrun
        if not run.project:
            raise project_problem()
        where = ("--project", run.project, "--quiet")
        steps = [Step(
            ("gcloud", "artifacts", "repositories", "create", run.repository, "--repository-format=docker",
             f"--location={run.region}", *where),
            f"Creating the Artifact Registry repository {run.repository} ({run.region})",
            skip_if=Probe(("gcloud", "artifacts", "repositories", "describe", run.repository,
                           f"--location={run.region}", *where)),
            hint="enable the APIs once: `gcloud services enable artifactregistry.googleapis.com "
                 "cloudbuild.googleapis.com run.googleapis.com secretmanager.googleapis.com`",
        )]
        needs = SecretNeeds.of(*spec.services.values())
        for secret in needs.names:
            sid = secret_id(spec, secret)
            required = secret in needs.required
            # An optional secret's container is created either way (it costs nothing without a
            # version); a version is added only when the secret has a value.
            steps.append(Step(
                ("gcloud", "secrets", "create", sid, "--replication-policy=automatic", *where),
                f"Creating the Secret Manager secret {sid}",
                skip_if=Probe(("gcloud", "secrets", "describe", sid, *where))))
            steps.append(Step(
                ("gcloud", "secrets", "versions", "add", sid, "--data-file=-", *where),
                f"Storing {secret} as a new version of {sid} (value on stdin)" + ("" if required else ", when set"),
                stdin=Stdin((secret,), "value") if required else Stdin((), "value", optional=(secret,))))
        glue = (sys.executable, "-m", "streamdeploy.targets.cloudrun", "replace")
        for name, svc in spec.services.items():
            cloud_name = service_name(spec, name)
            context = docker.build_context(spec, name)
            build = ["gcloud", "builds", "submit", context, f"--region={run.region}", "--format=json", *where]
            dockerfile = docker.dockerfile_path(spec, name)
            if dockerfile == (f"{context}/Dockerfile" if context != "." else "Dockerfile"):
                build[4:4] = [f"--tag={image(spec, name)}"]
            else:
                build[4:4] = [f"--config={_cloudbuild_path(name)}"]
            replace = ("gcloud", "run", "services", "replace", "-", f"--region={run.region}", *where)
            optional = SecretNeeds.of(svc).optional
            # The glue leaves out of the revision the optional secrets with no value this run
            # and none stored before: a secretKeyRef to a secret with no version stops the
            # revision from starting.
            leave_out = ("--optional", ",".join(f"{n}={secret_id(spec, n)}" for n in optional)) if optional else ()
            steps.append(Step(
                tuple(build), f"Building {cloud_name} with Cloud Build and rolling it out on Cloud Run",
                pass_if_set=optional,
                pipe_to=(*glue, config_path(name), *leave_out, "--", *replace), timeout=BUILD_TIMEOUT + 900,
                hint=f"build logs: `gcloud builds list --region={run.region} --limit=1`; the service: "
                     f"`gcloud run services describe {cloud_name} --region={run.region}`"))
            if run.public:
                steps.append(Step(
                    ("gcloud", "run", "services", "add-iam-policy-binding", cloud_name, f"--region={run.region}",
                     "--member=allUsers", "--role=roles/run.invoker", *where),
                    f"Letting anyone call {cloud_name} (its own auth, e.g. API_KEY, still applies)",
                    hint="an organization policy may forbid allUsers; then set targets.cloudrun.public: false "
                         "and call it with an identity token"))
        notes = [Note(NAME, f"the service URL is printed by the rollout; `streamdeploy verify URL` checks it "
                      f"(`gcloud run services describe {service_name(spec, spec.first_service)} "
                      f"--region={run.region} --format='value(status.url)'`)", level="info")]
        if needs.names:
            notes.append(Note(NAME, "each `up` stores the secrets as new Secret Manager versions; instances read "
                              "`latest` when they start. The service account needs roles/secretmanager.secretAccessor",
                              level="info"))
        if needs.optional:
            notes.append(Note(NAME, f"optional secrets ({', '.join(needs.optional)}) with no value when `up` runs keep "
                              "the version Secret Manager holds; one never stored is left out of the new revision "
                              "(the service starts without it)", level="info"))
        return Plan(NAME, tuple(steps), tuple(notes), url=None, secrets=needs.required, secret_groups=needs.groups,
                    tools=("gcloud",))


def _cloudbuild_path(service: str) -> str:
    return f"{DIR}/{service}.cloudbuild.yaml"


TARGET = CloudRunTarget()


# --- glue for the deploy step's pipe -------------------------------------------------------------


def pinned(service: dict, build: dict) -> dict:
    """The Service with its image pinned to the digest Cloud Build pushed for it."""
    container = service["spec"]["template"]["spec"]["containers"][0]
    repository = container["image"].rsplit(":", 1)[0]
    for result in (build.get("results") or {}).get("images") or []:
        name, digest = str(result.get("name", "")), result.get("digest")
        if digest and name.rsplit(":", 1)[0] == repository:
            container["image"] = f"{repository}@{digest}"
            return service
    raise LookupError(f"Cloud Build reported no image {repository}: the build did not push it")


def without_unset(service: dict, optional: list[str], env: dict[str, str], stored: set[str] = frozenset()) -> dict:
    """The Service without the secretKeyRefs of optional secrets that have no value in ``env``
    (the step passes the ones that are set) and none ``stored`` in Secret Manager: Cloud Run
    has no optional secret reference."""
    unset = {name for name in optional if not env.get(name) and name not in stored}
    for container in service["spec"]["template"]["spec"]["containers"]:
        container["env"] = [e for e in container.get("env") or []
                            if not (e.get("name") in unset and "secretKeyRef" in (e.get("valueFrom") or {}))]
    return service


def has_enabled_version(gcloud: list[str], secret: str) -> bool:
    """Whether Secret Manager's `latest` version of ``secret`` is enabled (what Cloud Run reads).

    ``gcloud`` is the gcloud program and the flags that name the project. A missing secret or
    version is a NOT_FOUND error (exit 1), which means no; so does a gcloud that cannot run."""
    import subprocess

    argv = [gcloud[0], "secrets", "versions", "describe", "latest", f"--secret={secret}", "--format=value(state)",
            *gcloud[1:]]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "ENABLED"


def _project_flags(command: list[str]) -> list[str]:
    """The --project of the gcloud command the glue hands over to, for its own lookups."""
    for i, word in enumerate(command):
        if word == "--project" and i + 1 < len(command):
            return ["--project", command[i + 1]]
        if word.startswith("--project="):
            return [word]
    return []


USAGE = ("usage: python -m streamdeploy.targets.cloudrun replace FILE [--optional NAME=SECRET_ID,...] "
         "-- GCLOUD ARGV...")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    optional: dict[str, str] = {}  # name -> its Secret Manager secret
    if len(args) > 3 and args[2] == "--optional":
        pairs = [p.partition("=") for p in args[3].split(",") if p]
        optional = {name: sid for name, _, sid in pairs}
        args = [*args[:2], *args[4:]]
    if len(args) < 4 or args[0] != "replace" or args[2] != "--" or not all(optional.values()):
        print(USAGE, file=sys.stderr)
        return 2
    import yaml

    env = dict(os.environ)
    gcloud = [args[3], *_project_flags(args[3:])]
    try:
        build = json.loads(sys.stdin.read() or "{}")
        with open(args[1], encoding="utf-8") as handle:
            service = pinned(yaml.safe_load(handle), build if isinstance(build, dict) else {})
        stored = {name for name, sid in optional.items() if not env.get(name) and has_enabled_version(gcloud, sid)}
        service = without_unset(service, list(optional), env, stored)
        for name in sorted(stored):
            print(f"{name} is not set here: the revision keeps the version Secret Manager holds", flush=True)
    except (OSError, ValueError, LookupError, KeyError, IndexError, TypeError) as err:
        print(f"cannot roll out {args[1]}: {err}", file=sys.stderr)
        return 1
    text = json.dumps(service).encode("utf-8")
    command = args[3:]
    print(f"rolling out {service['spec']['template']['spec']['containers'][0]['image']}", flush=True)
    read, write = os.pipe()
    if len(text) >= 60_000:  # a pipe holds 64 KiB: more would block before gcloud reads it
        print(f"{args[1]} is too large to hand to gcloud on stdin", file=sys.stderr)
        return 1
    os.write(write, text)
    os.close(write)
    os.dup2(read, 0)
    os.execvp(command[0], command)  # gcloud's own exit code is the step's
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
