"""fake `doctl`: App Platform apps, per digitalocean/doctl @ 168188d (2026-08-06).

As doctl does, it reads the spec from a file or stdin (`--spec -`, internal/apps/apps.go) and
decodes it with DisallowUnknownFields: a key the app spec does not have fails the command
(checked here against the published do-app-spec schema's properties, when ../shared is
present). `apps create` of a name that exists fails with 409 unless `--upsert`, which then
updates it (commands/apps.go RunAppsCreate); an update deploys again only when the spec
changed or `--update-sources` asks for the latest source. Secrets are kept as digests; the
`EV[...]` ciphertext `apps list` shows of one is accepted back for the same app and keeps it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest, ident

VERSION = "1.148.0"
NO_TOKEN = ("Error: Unable to initialize DigitalOcean API client: access token is required. "
            "(hint: run 'doctl auth init')")
SCHEMA = Path(os.environ.get("STREAMDEPLOY_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared")) \
    / "schemas" / "do-app-spec.schema.json"
REGIONS = {"atl", "nyc", "sfo", "tor", "ams", "fra", "lon", "blr", "sgp", "syd"}


def check_auth(call: Call) -> None:
    if call.inv.command in ((), ("version",), ("apps", "spec", "validate")) and \
            (call.inv.command != ("apps", "spec", "validate") or call.has("--schema-only")):
        return
    if not (call.env.get("DIGITALOCEAN_ACCESS_TOKEN") or call.flag("--access-token")):
        raise Exit(1, NO_TOKEN)


def reads_stdin(call: Call) -> bool:
    if call.inv.command == ("apps", "spec", "validate"):
        return call.inv.positionals[:1] == ["-"]
    return call.inv.command in (("apps", "create"), ("apps", "update")) and call.flag("--spec") == "-"


def _fail(message: str) -> Exit:
    return Exit(1, f"Error: {message}")


def _spec(call: Call, where: str) -> dict:
    import yaml

    if where == "-":
        text = call.record["stdin"] or ""
    else:
        path = call.path(where)
        if not path.is_file():
            raise _fail(f"opening app spec: {where} does not exist")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _fail(f"parsing app spec: {err}")
    if not isinstance(data, dict):
        raise _fail("parsing app spec: json: cannot unmarshal into Go value of type godo.AppSpec")
    _strict(data)
    return data


def _strict(data: dict) -> None:
    """json.Decoder.DisallowUnknownFields against the spec's own fields, and the schema's rules."""
    if not SCHEMA.is_file():
        return
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    definitions = schema["definitions"]

    def fields(node: dict) -> dict:
        out: dict = {}
        for part in node.get("allOf", [node]):
            if "$ref" in part:
                out.update(fields(definitions[part["$ref"].rsplit("/", 1)[-1]]))
            out.update(part.get("properties", {}))
        return out

    def walk(value, node: dict, path: str) -> None:
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        if isinstance(value, dict):
            known = fields(node)
            if not known:
                return
            for key, item in value.items():
                if key not in known:
                    raise _fail(f'parsing app spec: json: unknown field "{key}"')
                walk(item, known[key], f"{path}.{key}")
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for item in value:
                walk(item, node["items"], path)

    walk(data, schema, "")
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(data))
    if errors:
        raise _fail(f"error validating app spec: {errors[0].message}")


def _apps(state: dict) -> dict:
    return state.setdefault("doctl", {}).setdefault("apps", {})


def _cipher(stored_digest: str) -> str:
    """The encrypted form App Platform shows of a stored secret (never the value)."""
    return "EV[1:fake:" + stored_digest[:6] + "]"


def _view(app: dict) -> dict:
    spec = json.loads(json.dumps(app["spec"]))
    for kind in ("services", "workers"):
        for component in spec.get(kind) or []:
            for env in component.get("envs") or []:
                if env.get("type") == "SECRET" and "value" in env:
                    env["value"] = _cipher(env["value"])
    return {"id": app["id"], "spec": spec, "default_ingress": app["ingress"],
            "active_deployment": {"id": app["deployments"][-1]["id"], "phase": "ACTIVE"}}


def _kept(spec: dict, before: dict) -> tuple[dict, dict]:
    """The spec as stored (secret values as digests), and the secrets' digests. An ``EV[...]``
    value is the app's own ciphertext of a secret it holds (``before``), which it keeps: "On
    following submissions, the encrypted value should be used" (the app spec reference)."""
    stored = json.loads(json.dumps(spec))
    secrets = {}
    for kind in ("services", "workers"):
        for component in stored.get(kind) or []:
            for env in component.get("envs") or []:
                if env.get("type") == "SECRET" and "value" in env:
                    where = f"{component['name']}.{env['key']}"
                    value = str(env["value"])
                    if value.startswith("EV["):
                        if where not in before or _cipher(before[where]) != value:
                            raise _fail(f"error validating app spec: {where}: the encrypted value does not decrypt "
                                        "for this app")
                        secrets[where] = before[where]
                    else:
                        secrets[where] = digest(value)
                    env["value"] = secrets[where]
    return stored, secrets


def _check_semantics(spec: dict) -> None:
    if not spec.get("name"):
        raise _fail("error validating app spec: app name is required")
    if spec.get("region") and spec["region"] not in REGIONS:
        raise _fail(f"error validating app spec: invalid region {spec['region']!r}")
    for component in spec.get("services") or []:
        if not (component.get("github") or component.get("image") or component.get("git")):
            raise _fail(f"error validating app spec: component {component.get('name')!r} has no source")


def _deploy(app: dict, spec: dict, pull_sources: bool) -> None:
    stored, secrets = _kept(spec, app.get("secrets") or {})
    changed = stored != app.get("spec")
    app["spec"], app["secrets"] = stored, secrets
    if changed or pull_sources or not app["deployments"]:
        app["deployments"].append({"id": ident("dep-", app["id"], len(app["deployments"])), "phase": "ACTIVE",
                                   "cause": "spec" if changed else "sources"})


def apps_create(call: Call) -> int:
    spec = _spec(call, call.flag("--spec"))
    _check_semantics(spec)
    with call.state() as state:
        apps = _apps(state)
        existing = next((a for a in apps.values() if a["spec"]["name"] == spec["name"]), None)
        if existing is not None and not call.has("--upsert"):
            raise _fail("POST https://api.digitalocean.com/v2/apps: 409 (request \"fake\") an app with this name "
                        "already exists")
        if existing is None:
            app_id = ident("", spec["name"], length=8) + "-fake-app"
            existing = apps[app_id] = {"id": app_id, "deployments": [], "spec": None,
                                       "ingress": f"https://{spec['name']}-fake.ondigitalocean.app"}
            _deploy(existing, spec, False)
            message = "App created"
        else:
            call.err("Notice: App already exists, updating")
            _deploy(existing, spec, call.has("--update-sources"))
            message = "App created"  # doctl prints this after an upsert too
        view = _view(existing)
    if call.has("--wait"):
        call.err("Notice: App creation is in progress, waiting for app to be running")
    call.err(f"Notice: {message}")
    return call.answer([view], f"{view['id']}  {spec['name']}  {view['default_ingress']}",
                       as_json=call.flag("--output") == "json")


def apps_update(call: Call) -> int:
    spec = _spec(call, call.flag("--spec"))
    _check_semantics(spec)
    with call.state() as state:
        app = _apps(state).get(call.inv.positionals[0])
        if app is None:
            raise _fail(f"PUT https://api.digitalocean.com/v2/apps/{call.inv.positionals[0]}: 404 app not found")
        _deploy(app, spec, call.has("--update-sources"))
        view = _view(app)
    call.err("Notice: App updated")
    return call.answer([view], f"{view['id']}  {spec['name']}", as_json=call.flag("--output") == "json")


def apps_list(call: Call) -> int:
    with call.state() as state:
        views = [_view(a) for a in _apps(state).values()]
    return call.answer(views, [f"{v['id']}  {v['spec']['name']}  {v['default_ingress']}" for v in views],
                       as_json=call.flag("--output") == "json")


def apps_spec_validate(call: Call) -> int:
    import yaml

    spec = _spec(call, call.inv.positionals[0])
    call.print(yaml.safe_dump(spec, sort_keys=False))
    return 0


def account_get(call: Call) -> int:
    return call.answer({"email": "fake@example.com", "status": "active"}, "fake@example.com  active",
                       as_json=call.flag("--output") == "json")


def version(call: Call) -> int:
    call.print(f"doctl version {VERSION}-release")
    return 0


HANDLERS = {
    ("apps", "create"): apps_create,
    ("apps", "update"): apps_update,
    ("apps", "list"): apps_list,
    ("apps", "spec", "validate"): apps_spec_validate,
    ("account", "get"): account_get,
    ("version",): version,
}
