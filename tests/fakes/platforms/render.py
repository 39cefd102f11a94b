"""fake `render`: Blueprint validation, services and deploys, per render-oss/cli @ 85c8c2c (2.24.0).

There is no Blueprint apply (the real CLI has none either): services exist once a test
seeds them, the way the one-time Dashboard step would create them:
``fake_clis.seed("render", {"services": {"srv-x": {"name": "api", "type": "web_service"}}})``.
A service's env vars (set through the API, ``tests/fakes/render_api.py``) are kept as digests;
each deploy records the commit it built and the env var names it had.
"""

from __future__ import annotations

import subprocess

from fakes.fake_cli import Call, Exit
from fakes.platforms import ident

VERSION = "2.24.0"
NO_AUTH = "Error: run `render login` to authenticate"
NO_WORKSPACE = "Error: no workspace set. Use `render workspace set` to set a workspace"
NEEDS_NO_AUTH = {(), ("login",)}
NEEDS_NO_WORKSPACE = {(), ("login",), ("whoami",), ("workspace", "set"), ("workspaces",), ("workspace", "current")}
SERVICE_TYPES = {"web", "pserv", "worker", "cron", "keyvalue", "redis"}
# Blueprint schema `serviceEnvVarProperty` (web and private services; databases use connectionString)
FROM_SERVICE_PROPERTIES = {"host", "port", "hostport"}


def check_auth(call: Call) -> None:
    if call.inv.command in NEEDS_NO_AUTH:
        return
    if not call.env.get("RENDER_API_KEY"):
        with call.state() as state:
            logged_in = state.get("render", {}).get("logged_in")
        if not logged_in:
            raise Exit(1, NO_AUTH)
    if call.inv.command not in NEEDS_NO_WORKSPACE and not _workspace(call):
        raise Exit(1, NO_WORKSPACE)


def reads_stdin(call: Call) -> bool:
    # Without --confirm, `deploys create` asks "(y/n)" and reads the answer from stdin.
    return call.inv.command == ("deploys", "create") and not call.has("--confirm")


def _workspace(call: Call) -> str | None:
    if call.env.get("RENDER_WORKSPACE"):
        return call.env["RENDER_WORKSPACE"]
    with call.state() as state:
        return state.get("render", {}).get("workspace")


def _json_output(call: Call) -> bool:
    return (call.flag("--output") or call.env.get("RENDER_OUTPUT")) == "json"


def _services(state: dict) -> dict:
    return state.setdefault("render", {}).setdefault("services", {})


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"render v{VERSION}\n\nYou are using the latest version")
        return 0
    raise Exit(1, "Error: fake render: nothing to do")


def whoami(call: Call) -> int:
    call.print("Name: Fake User\nEmail: fake@example.com")  # text only: whoami ignores -o
    return 0


def workspace_set(call: Call) -> int:
    wanted = (call.inv.positionals or [None])[0]
    if not wanted:
        raise Exit(1, "Error: workspace name or id is required when not running interactively")
    with call.state() as state:
        state.setdefault("render", {})["workspace"] = wanted
    call.print(f"Workspace set to {wanted}")
    return 0


def workspace_current(call: Call) -> int:
    workspace = _workspace(call)
    if not workspace:
        raise Exit(1, NO_WORKSPACE)
    call.print(workspace)
    return 0


def workspaces(call: Call) -> int:
    rows = [{"id": "tea-fake", "name": "Fake's workspace"}]
    return call.answer(rows, "tea-fake  Fake's workspace", as_json=_json_output(call))


def blueprints_validate(call: Call) -> int:
    import yaml

    name = (call.inv.positionals or ["render.yaml"])[0]
    path = call.path(name)
    errors: list[dict] = []
    plan: dict = {"services": [], "databases": [], "keyValue": [], "envGroups": [], "totalActions": 0}
    if not path.is_file():
        raise Exit(1, f"Error: open {name}: no such file or directory")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        errors.append({"error": f"invalid YAML: {getattr(err, 'problem', err)}", "path": "",
                       "line": mark.line + 1 if mark else 0, "column": mark.column + 1 if mark else 0})
        data = None
    if data is not None and not isinstance(data, dict):
        errors.append({"error": "a Blueprint is a mapping", "path": "", "line": 1, "column": 1})
    elif isinstance(data, dict):
        for index, service in enumerate(data.get("services") or []):
            where = f"services[{index}]"
            if not isinstance(service, dict) or not service.get("name"):
                errors.append({"error": "name is required", "path": where, "line": 0, "column": 0})
                continue
            if service.get("type") not in SERVICE_TYPES:
                errors.append({"error": f"invalid service type {service.get('type')!r}", "path": f"{where}.type",
                               "line": 0, "column": 0})
            if service.get("disk") and int(service.get("numInstances", 1)) > 1:
                errors.append({"error": "services with a disk cannot have more than one instance",
                               "path": f"{where}.numInstances", "line": 0, "column": 0})
            plan["services"].append({"name": service.get("name"), "action": "create"})
        declared = {s.get("name"): s.get("type") for s in data.get("services") or [] if isinstance(s, dict)}
        for index, service in enumerate(data.get("services") or []):
            for number, var in enumerate((service or {}).get("envVars") or []):
                ref = var.get("fromService") if isinstance(var, dict) else None
                if ref is None:
                    continue
                where = f"services[{index}].envVars[{number}].fromService"
                if declared.get(ref.get("name")) != ref.get("type"):
                    errors.append({"error": f"fromService: no {ref.get('type')} service named {ref.get('name')!r} "
                                   "in this Blueprint", "path": where, "line": 0, "column": 0})
                if ref.get("property") not in FROM_SERVICE_PROPERTIES:
                    errors.append({"error": f"fromService: invalid property {ref.get('property')!r}",
                                   "path": f"{where}.property", "line": 0, "column": 0})
        plan["totalActions"] = len(plan["services"])
    result = {"valid": not errors, "errors": errors, "plan": plan}
    if call.flag("--output") == "json":
        call.json(result)
    elif call.flag("--output") == "yaml":
        call.print(yaml.safe_dump(result))
    else:
        call.print("valid" if not errors else "\n".join(e["error"] for e in errors))
    # With -o json/yaml/text (or any non-TTY output) it exits 0 even when invalid.
    return 0


def services(call: Call) -> int:
    with call.state() as state:
        listed = [{"service": {"id": sid, "name": s["name"], "type": s.get("type", "web_service"),
                               "suspended": "not_suspended", "serviceDetails": {"url": s.get("url")}}}
                  for sid, s in sorted(_services(state).items())]
    return call.answer(listed, [f"{s['name']}  {s['id']}  {s['type']}" for s in (i["service"] for i in listed)],
                       as_json=_json_output(call))


def services_create(call: Call) -> int:
    name = call.flag("--name")
    if not name or not call.flag("--type"):
        raise Exit(1, "Error: --name and --type are required when not running interactively")
    with call.state() as state:
        sid = ident("srv-", name, len(_services(state)), length=20)
        _services(state)[sid] = {"name": name, "type": call.flag("--type"), "deploys": []}
    if _json_output(call):
        call.json({"id": sid, "name": name})
    else:
        call.print(f"Created service {name} ({sid})")
    return 0


def _service_id(call: Call) -> str:
    service_id = (call.inv.positionals or [None])[0]
    if not service_id:
        raise Exit(1, "Error: service id is required when not running interactively")
    return service_id


def _existing(state: dict, service_id: str) -> dict:
    service = _services(state).get(service_id)
    if service is None:
        raise Exit(1, f"Error: could not find service {service_id}")
    return service


def deploys_create(call: Call) -> int:
    service_id = _service_id(call)
    if call.flag("--commit") and call.flag("--image"):
        raise Exit(1, "Error: --commit and --image are mutually exclusive")
    if not call.has("--confirm"):
        call.print("Are you sure you want to deploy? (y/n): ")
        answer = (call.record["stdin"] or "").strip().lower()
        if answer not in ("y", "yes"):
            raise Exit(1, "Error: EOF" if not answer else "Error: deploy cancelled")
    with call.state() as state:
        service = _existing(state, service_id)
    commit = _commit(service, call.flag("--commit"))
    with call.state() as state:
        service = _existing(state, service_id)
        deploy = new_deploy(service, service_id, commit, "live" if call.has("--wait") else "build_in_progress", "api")
        state.setdefault("render", {}).setdefault("deploy_order", []).append(service["name"])
    if call.has("--wait") and not _json_output(call):
        call.print(f"Waiting for deploy {deploy['id']} to complete...")
    if _json_output(call):
        call.json(deploy)
    else:
        call.print(f"Deploy {deploy['id']} {deploy['status']}")
    return 0


def new_deploy(service: dict, service_id: str, commit: str | None, status: str, trigger: str) -> dict:
    """A deploy of the service; once one is live, the one that was live is deactivated (what
    `deploys list` and the API then show), as a Render service serves one deploy at a time."""
    deploys = service.setdefault("deploys", [])
    number = len(deploys)
    deploy = {"id": ident("dep-", service_id, number, length=20), "status": status, "commit": commit,
              "trigger": trigger, "createdAt": f"2026-08-22T10:{number // 60:02d}:{number % 60:02d}Z",
              "env_vars": sorted(service.get("env_vars", {}))}
    if status == "live":
        for older in deploys:
            if older["status"] == "live":
                older["status"] = "deactivated"
    deploys.append(deploy)
    return deploy


def _commit(service: dict, wanted: str | None) -> str | None:
    """What Render builds: the commit asked for, which must be in the repository, else the head of
    the branch the service follows (cmd/deploycreate.go: --commit is optional). A seeded service
    names its repository (a path to a bare one) and branch; without them nothing is checked."""
    repo, branch = service.get("repo"), service.get("branch", "main")
    if not repo:
        return wanted
    if wanted:
        found = subprocess.run(["git", "--git-dir", repo, "cat-file", "-e", f"{wanted}^{{commit}}"],
                               capture_output=True)
        if found.returncode != 0:
            raise Exit(1, f"Error: commit {wanted} was not found in the repository")
        return wanted
    head = subprocess.run(["git", "--git-dir", repo, "rev-parse", f"refs/heads/{branch}"], capture_output=True,
                          text=True)
    return head.stdout.strip() or None


def deploys_list(call: Call) -> int:
    service_id = _service_id(call)
    with call.state() as state:
        service = _existing(state, service_id)
    rows = list(reversed(service.get("deploys", [])))
    return call.answer(rows, [f"{deploy['id']}  {deploy['status']}" for deploy in rows], as_json=_json_output(call))


def logs(call: Call) -> int:
    if not call.flag("--resources"):
        raise Exit(1, "Error: --resources is required when not running interactively")
    call.print("==> Your service is live 🎉")
    return 0


def restart(call: Call) -> int:
    call.print(f"Restarted {call.inv.positionals[0]}")
    return 0


def login(call: Call) -> int:
    raise Exit(1, "Error: `render login` opens a browser; set RENDER_API_KEY instead when not interactive")


HANDLERS = {
    (): root,
    ("whoami",): whoami,
    ("workspace", "set"): workspace_set,
    ("workspace", "current"): workspace_current,
    ("workspaces",): workspaces,
    ("blueprints", "validate"): blueprints_validate,
    ("services",): services,
    ("services", "create"): services_create,
    ("deploys", "create"): deploys_create,
    ("deploys", "list"): deploys_list,
    ("logs",): logs,
    ("restart",): restart,
    ("login",): login,
}
