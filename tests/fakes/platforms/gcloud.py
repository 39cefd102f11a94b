"""fake `gcloud`: Artifact Registry, Secret Manager, Cloud Build and Cloud Run, per gcloud 578.0.0.

What it refuses, as Cloud Run does: a Service that does not match the Knative schema (the
published cloud-run-v1 schema when ../shared is present: `services replace` converts the YAML
to the API's message type and rejects unknown fields), reserved env names (PORT), CPU below 1
with concurrency above 1, a timeout above 3600 s, an image that was never pushed, a secret
reference to a secret whose latest version is missing or disabled. A replace whose template did not change makes no new
revision, as Knative does; one that did serves the new revision.

Login: CLOUDSDK_AUTH_ACCESS_TOKEN_FILE (or state "logged_in"); project: --project or
CLOUDSDK_CORE_PROJECT.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest

VERSION = "578.0.0"
RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
SCHEMA = Path(os.environ.get("STREAMDEPLOY_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared")) \
    / "schemas" / "cloud-run-v1.schema.json"


def _command(call: Call) -> str:
    return ".".join(("gcloud", *call.inv.command)).replace("-", "_")


def _error(call: Call, message: str, code: int = 1) -> Exit:
    return Exit(code, f"ERROR: ({_command(call)}) {message}")


def check_auth(call: Call) -> None:
    if call.inv.command == () or call.has("--version"):
        return
    logged_in = call.env.get("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")
    if not logged_in:
        with call.state() as state:
            logged_in = state.get("gcloud", {}).get("logged_in")
    if not logged_in:
        raise _error(call, "You do not currently have an active account selected.\nPlease run:\n\n  $ gcloud auth "
                           "login\n\nto obtain new credentials.")


def reads_stdin(call: Call) -> bool:
    if call.inv.command in (("secrets", "create"), ("secrets", "versions", "add")):
        return call.flag("--data-file") == "-"
    return call.inv.command == ("run", "services", "replace") and call.inv.positionals[:1] == ["-"]


def _project(call: Call) -> str:
    project = call.flag("--project") or call.env.get("CLOUDSDK_CORE_PROJECT")
    if not project:
        raise _error(call, "The required property [project] is not currently set.")
    return project


def _cloud(state: dict, project: str) -> dict:
    cloud = state.setdefault("gcloud", {}).setdefault("projects", {}).setdefault(project, {})
    for key in ("repositories", "secrets", "images", "services", "builds"):
        cloud.setdefault(key, {})
    return cloud


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"Google Cloud SDK {VERSION}\nbq 2.1.22\ncore 2026.08.01\ngsutil 5.35")
        return 0
    raise Exit(2, "ERROR: (gcloud) Command name argument expected.")


# --- Artifact Registry -----------------------------------------------------------------------


def repositories_describe(call: Call) -> int:
    name, location = call.inv.positionals[0], call.flag("--location")
    with call.state() as state:
        repo = _cloud(state, _project(call))["repositories"].get(f"{location}/{name}")
    if repo is None:
        raise _error(call, f"NOT_FOUND: Requested entity was not found. (repository {name} in {location})")
    call.json(repo)
    return 0


def repositories_create(call: Call) -> int:
    name, location = call.inv.positionals[0], call.flag("--location")
    if not location:
        raise _error(call, "argument --location: Must be specified.", 2)
    if call.flag("--repository-format") is None:
        raise _error(call, "Missing required argument [--repository-format]: Repository format is required.", 2)
    with call.state() as state:
        repos = _cloud(state, _project(call))["repositories"]
        if f"{location}/{name}" in repos:
            raise _error(call, f"ALREADY_EXISTS: the repository already exists: {name}")
        repos[f"{location}/{name}"] = {"name": name, "format": call.flag("--repository-format").upper()}
    call.err(f"Created repository [{name}].")
    return 0


# --- Secret Manager -----------------------------------------------------------------------


def _payload(call: Call) -> str | None:
    source = call.flag("--data-file")
    if source is None:
        return None
    if source == "-":
        return call.record["stdin"] or ""
    return call.path(source).read_text(encoding="utf-8")


def secrets_create(call: Call) -> int:
    name = call.inv.positionals[0]
    with call.state() as state:
        secrets = _cloud(state, _project(call))["secrets"]
        if name in secrets:
            raise _error(call, f"ALREADY_EXISTS: Secret [{name}] already exists.")
        secrets[name] = {"versions": []}
        data = _payload(call)
        if data is not None:
            secrets[name]["versions"].append(digest(data))
    call.err(f"Created secret [{name}].")
    return 0


def secrets_describe(call: Call) -> int:
    name = call.inv.positionals[0]
    with call.state() as state:
        secret = _cloud(state, _project(call))["secrets"].get(name)
    if secret is None:
        raise _error(call, f"NOT_FOUND: Secret [projects/{_project(call)}/secrets/{name}] not found or has no "
                           "versions.")
    call.json({"name": name, "replication": {"automatic": {}}})
    return 0


def secrets_versions_add(call: Call) -> int:
    name = call.inv.positionals[0]
    data = _payload(call) or ""
    if not data:
        raise _error(call, "INVALID_ARGUMENT: Secret Payload cannot be empty.")
    with call.state() as state:
        secret = _cloud(state, _project(call))["secrets"].get(name)
        if secret is None:
            raise _error(call, f"NOT_FOUND: Secret [projects/{_project(call)}/secrets/{name}] not found.")
        secret["versions"].append(digest(data))
        number = len(secret["versions"])
    call.err(f"Created version [{number}] of the secret [{name}].")
    return 0


def _latest(secret: dict) -> tuple[int, str] | None:
    """The newest version of a secret and its state (`disabled` lists the disabled numbers)."""
    if not secret.get("versions"):
        return None
    number = len(secret["versions"])
    return number, "DISABLED" if number in secret.get("disabled", []) else "ENABLED"


def secrets_versions_describe(call: Call) -> int:
    version, name = call.inv.positionals[0], call.flag("--secret")
    if not name:
        raise _error(call, "Error parsing [version].\nThe [version] resource is not properly specified.\n"
                           "Failed to find attribute [secret]. The attribute can be set in the following ways:\n"
                           "- provide the argument [--secret] on the command line")
    with call.state() as state:
        secret = _cloud(state, _project(call))["secrets"].get(name)
    latest = _latest(secret) if secret else None
    path = f"projects/{_project(call)}/secrets/{name}/versions/{version}"
    if latest is None or (version != "latest" and not (version.isdigit() and 1 <= int(version) <= latest[0])):
        raise _error(call, f"NOT_FOUND: Secret Version [{path}] not found or has no versions.")
    number = latest[0] if version == "latest" else int(version)
    doc = {"name": f"projects/{_project(call)}/secrets/{name}/versions/{number}",
           "state": "DISABLED" if number in secret.get("disabled", []) else "ENABLED"}
    fmt = call.flag("--format") or ""
    if fmt.startswith("value(") and fmt.endswith(")"):
        call.print("\t".join(str(doc.get(field.strip(), "")) for field in fmt[6:-1].split(",")))
    elif fmt == "json":
        call.json(doc)
    else:
        call.print("\n".join(f"{k}: {v}" for k, v in doc.items()))
    return 0


# --- Cloud Build -----------------------------------------------------------------------------


def _tree_digest(source: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file() and ".git" not in path.parts and ".streamdeploy" not in path.parts:
            h.update(str(path.relative_to(source)).encode())
            h.update(path.read_bytes())
    return "sha256:" + h.hexdigest()


def builds_submit(call: Call) -> int:
    import yaml

    project = _project(call)
    source = call.path((call.inv.positionals or ["."])[0])
    if not source.is_dir():
        raise _error(call, f"could not find source [{source}]")
    tag, config = call.flag("--tag"), call.flag("--config")
    if bool(tag) == bool(config):
        raise _error(call, "argument --tag: exactly one of (--config | --tag) must be specified.", 2)
    if tag:
        if not (source / "Dockerfile").is_file():
            raise _error(call, "Dockerfile required when specifying --tag")
        images = [tag]
    else:
        build = yaml.safe_load(call.path(config).read_text(encoding="utf-8"))
        images = list(build.get("images") or [])
    pushed = []
    with call.state() as state:
        cloud = _cloud(state, project)
        for image in images:
            host_path, _, _ = image.rpartition(":")
            parts = host_path.split("/")  # REGION-docker.pkg.dev/PROJECT/REPO/NAME
            location = parts[0].removesuffix("-docker.pkg.dev")
            if len(parts) != 4 or parts[1] != project or f"{location}/{parts[2]}" not in cloud["repositories"]:
                raise _error(call, f"build failed: step exited: name unknown: Repository \"{'/'.join(parts[1:3])}\" "
                                   "not found")
            value = _tree_digest(source)
            cloud["images"][host_path] = value
            pushed.append({"name": image, "digest": value})
        number = len(cloud["builds"]) + 1
        build_id = f"build-{number:04d}"
        cloud["builds"][build_id] = {"images": pushed, "region": call.flag("--region")}
    call.err(f"Creating temporary archive of {sum(1 for _ in source.rglob('*'))} file(s) ...\nDONE")
    result = {"id": build_id, "status": "SUCCESS", "images": images, "results": {"images": pushed}}
    if call.flag("--format") == "json":
        call.json(result)
    else:
        call.print(f"{build_id}  SUCCESS  {' '.join(images)}")
    return 0


# --- Cloud Run --------------------------------------------------------------------------------


def _validate_service(call: Call, data: object) -> dict:
    if not isinstance(data, dict):
        raise _error(call, "Cannot parse YAML: a Knative Service is a mapping.")
    if SCHEMA.is_file():
        import jsonschema

        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path)
            raise _error(call, f"Invalid value at [{where}]: {errors[0].message}")
    if data.get("apiVersion") != "serving.knative.dev/v1" or data.get("kind") != "Service":
        raise _error(call, "Expected a Knative Service (apiVersion serving.knative.dev/v1, kind Service).")
    template = data["spec"]["template"]
    spec = template["spec"]
    if int(spec.get("timeoutSeconds", 300)) > 3600:
        raise _error(call, "spec.template.spec.timeout_seconds: must be at most 3600")
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for container in spec["containers"]:
        names = {e["name"] for e in container.get("env") or []}
        reserved = sorted(names & RESERVED_ENV)
        if reserved:
            raise _error(call, f"The following reserved env names were provided: {', '.join(reserved)}. These "
                               "values are automatically set by the system.")
        cpu = float(str((container.get("resources") or {}).get("limits", {}).get("cpu", "1")))
        if cpu < 1 and int(spec.get("containerConcurrency", 80)) > 1:
            raise _error(call, "spec.template.spec.container_concurrency: must be 1 when CPU is less than 1")
        if cpu < 1 and annotations.get("run.googleapis.com/cpu-throttling") == "false":
            raise _error(call, "Total cpu < 1 is not supported with instance-based billing (cpu-throttling false)")
    return data


def services_replace(call: Call) -> int:
    import yaml

    project, region = _project(call), call.flag("--region")
    if not region:
        raise _error(call, "Missing required argument [--region]: You must specify a region.")
    source = (call.inv.positionals or ["service.yaml"])[0]
    text = call.record["stdin"] if source == "-" else call.path(source).read_text(encoding="utf-8")
    service = _validate_service(call, yaml.safe_load(text or ""))
    name = service["metadata"]["name"]
    template = service["spec"]["template"]
    with call.state() as state:
        cloud = _cloud(state, project)
        for container in template["spec"]["containers"]:
            image = container["image"]
            repository = image.split("@")[0].rsplit(":", 1)[0] if "@" in image else image.rsplit(":", 1)[0]
            if repository not in cloud["images"]:
                raise _error(call, f"Image '{image}' not found.")
            if "@" in image and cloud["images"][repository] != image.split("@", 1)[1]:
                raise _error(call, f"Image '{image}' not found (no such digest).")
            for entry in container.get("env") or []:
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if ref and (_latest(cloud["secrets"].get(ref["name"]) or {}) or (0, ""))[1] != "ENABLED":
                    raise _error(call, f"spec.template.spec.containers[0].env.value_from.secret_key_ref.name: Secret "
                                       f"projects/{project}/secrets/{ref['name']}/versions/{ref['key']} was not found")
        key = f"{region}/{name}"
        current = cloud["services"].get(key)
        revisions = list(current["revisions"]) if current else []
        if current is None or current["template"] != template:
            revisions.append(f"{name}-{len(revisions) + 1:05d}")
        cloud["services"][key] = {"template": template, "revisions": revisions, "serving": revisions[-1],
                                  "url": f"https://{name}-fake.{region}.run.app",
                                  "iam": (current or {}).get("iam", [])}
    call.err(f"Applying new configuration to Cloud Run service [{name}] in project [{project}] region [{region}]\n"
             f"New configuration has been applied to service [{name}].\nURL: https://{name}-fake.{region}.run.app")
    return 0


def services_describe(call: Call) -> int:
    name, region = call.inv.positionals[0], call.flag("--region")
    with call.state() as state:
        service = _cloud(state, _project(call))["services"].get(f"{region}/{name}")
    if service is None:
        raise _error(call, f"Cannot find service [{name}]")
    call.json({"metadata": {"name": name}, "status": {"url": service["url"],
                                                       "latestReadyRevisionName": service["serving"]}})
    return 0


def services_add_iam_policy_binding(call: Call) -> int:
    name, region = call.inv.positionals[0], call.flag("--region")
    if not call.flag("--member") or not call.flag("--role"):
        raise _error(call, "argument --member --role: Must be specified.", 2)
    with call.state() as state:
        service = _cloud(state, _project(call))["services"].get(f"{region}/{name}")
        if service is None:
            raise _error(call, f"NOT_FOUND: Resource 'projects/{_project(call)}/locations/{region}/services/{name}' "
                               "was not found")
        binding = {"members": [call.flag("--member")], "role": call.flag("--role")}
        if binding not in service["iam"]:
            service["iam"].append(binding)
    call.err(f"Updated IAM policy for service [{name}].")
    return 0


HANDLERS = {
    (): root,
    ("artifacts", "repositories", "describe"): repositories_describe,
    ("artifacts", "repositories", "create"): repositories_create,
    ("secrets", "create"): secrets_create,
    ("secrets", "describe"): secrets_describe,
    ("secrets", "versions", "add"): secrets_versions_add,
    ("secrets", "versions", "describe"): secrets_versions_describe,
    ("builds", "submit"): builds_submit,
    ("run", "services", "replace"): services_replace,
    ("run", "services", "describe"): services_describe,
    ("run", "services", "add-iam-policy-binding"): services_add_iam_policy_binding,
}
