"""fake `railway`: projects, links, services, volumes, variables, IaC apply and deploys,
per railwayapp/cli @ df3838bf (5.43.1)."""

from __future__ import annotations

import re
from pathlib import Path

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest, ident

VERSION = "5.43.1"
UNAUTHORIZED = "Unauthorized. Please login with `railway login`"  # src/errors.rs
NO_LINK = "No linked project found. Run railway link to connect to a project"
ACCOUNT_ONLY = {("init",), ("link",), ("whoami",)}  # a project token (RAILWAY_TOKEN) cannot run these
NEEDS_NO_AUTH = {()}


def check_auth(call: Call) -> None:
    if call.inv.command in NEEDS_NO_AUTH:
        return
    api, project = call.env.get("RAILWAY_API_TOKEN"), call.env.get("RAILWAY_TOKEN")
    if not api and not project:
        raise Exit(1, UNAUTHORIZED)
    if call.inv.command in ACCOUNT_ONLY and not api:
        raise Exit(1, "Unauthorized. Please check that your RAILWAY_TOKEN is valid and has access to the resource "
                      "you're trying to use.")


def reads_stdin(call: Call) -> bool:
    return (call.inv.command == ("variable", "set") and call.has("--stdin")) or \
        (call.inv.command == ("variable",) and bool(call.flag("--set-from-stdin")))


# --- state helpers ------------------------------------------------------------------------


def _rail(state: dict) -> dict:
    rail = state.setdefault("railway", {})
    rail.setdefault("projects", {})
    rail.setdefault("links", {})
    return rail


def _new_project(rail: dict, name: str) -> dict:
    number = len(rail["projects"])
    pid = ident("", "project", name, number, length=8) + "-" + ident("", "p", name, number, length=4)
    project = {"id": pid, "name": name, "environments": {"production": ident("env-", pid, length=8)},
               "services": {}, "applied": None}
    rail["projects"][pid] = project
    return project


def _link_of(rail: dict, cwd: Path) -> dict | None:
    for directory in (cwd, *cwd.parents):
        link = rail["links"].get(str(directory))
        if link:
            return link
    return None


def _project(call: Call, rail: dict) -> tuple[dict, str]:
    """(project, environment name) from RAILWAY_TOKEN, RAILWAY_PROJECT_ID or the cwd's link."""
    if call.env.get("RAILWAY_TOKEN"):
        pid = rail.get("token_project")
        if pid is None or pid not in rail["projects"]:
            project = next(iter(rail["projects"].values()), None) or _new_project(rail, "token-project")
            rail["token_project"] = project["id"]
            pid = project["id"]
        return rail["projects"][pid], "production"
    if call.env.get("RAILWAY_PROJECT_ID"):
        project = rail["projects"].get(call.env["RAILWAY_PROJECT_ID"])
        if project is None:
            raise Exit(1, "Project not found. Run `railway link` to connect to a project.")
        return project, "production"
    link = _link_of(rail, call.cwd)
    if link is None:
        raise Exit(1, NO_LINK)
    return rail["projects"][link["project"]], link["environment"]


def _service(call: Call, project: dict, wanted: str | None, rail: dict) -> dict:
    if wanted is None:
        link = _link_of(rail, call.cwd)
        sid = link.get("service") if link else None
        if sid is None:
            if len(project["services"]) == 1:
                return next(iter(project["services"].values()))
            raise Exit(1, "No service linked and no --service given. Run `railway service` to link a service")
        return project["services"][sid]
    for service in project["services"].values():
        if wanted in (service["id"], service["name"]) or wanted.lower() == service["name"].lower():
            return service
    raise Exit(1, f'Service "{wanted}" not found.')


def _selected(call: Call, state: dict) -> tuple[dict, str, dict]:
    """(project, environment, service) a command acts on: --service, else the linked service."""
    rail = _rail(state)
    project, environment = _project(call, rail)
    return project, environment, _service(call, project, call.flag("--service"), rail)


def _new_service(project: dict, name: str) -> dict:
    sid = ident("", project["id"], "service", name, length=8) + "-svc"
    service = {"id": sid, "name": name, "variables": {}, "volumes": [], "deployments": [], "domain": None,
               "redeploys": 0}
    project["services"][sid] = service
    return service


# --- commands -----------------------------------------------------------------------------


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"railway {VERSION}")
        return 0
    raise Exit(2, "error: 'railway' requires a subcommand but one was not provided")


def whoami(call: Call) -> int:
    if call.has("--json"):
        call.json({"name": "Fake User", "email": "fake@example.com",
                   "workspaces": [{"id": "ws-fake", "name": "Fake's Projects"}]})
    else:
        call.print("Logged in as Fake User (fake@example.com) 👋")
    return 0


def init(call: Call) -> int:
    name = call.flag("--name") or ident("project-", call.record["id"], length=6)
    with call.state() as state:
        rail = _rail(state)
        project = _new_project(rail, name)
        rail["links"][str(call.cwd)] = {"project": project["id"], "environment": "production", "service": None}
    if call.has("--json"):
        call.json({"id": project["id"], "name": project["name"]})
    else:
        call.print(f"Created project {name} on Fake's Projects\nhttps://railway.com/project/{project['id']}")
    return 0


def link(call: Call) -> int:
    wanted = call.flag("--project")
    environment = call.flag("--environment") or "production"
    with call.state() as state:
        rail = _rail(state)
        matches = [p for p in rail["projects"].values() if wanted in (p["id"], p["name"])] if wanted else []
        if not matches:
            available = ", ".join(sorted(p["name"] for p in rail["projects"].values())) or "(none)"
            raise Exit(1, f'Project "{wanted}" not found in workspace "Fake\'s Projects".\nAvailable: {available}')
        project = matches[-1]
        if environment not in project["environments"]:
            raise Exit(1, f'Environment "{environment}" not found.\nAvailable: production')
        service_id = None
        if call.flag("--service"):
            service_id = _service(call, project, call.flag("--service"), rail)["id"]
        rail["links"][str(call.cwd)] = {"project": project["id"], "environment": environment, "service": service_id}
    data = {"projectId": project["id"], "projectName": project["name"],
            "environmentId": project["environments"][environment], "environmentName": environment}
    if service_id:
        data.update(serviceId=service_id, serviceName=project["services"][service_id]["name"])
    if call.has("--json"):
        call.json(data)
    else:
        call.print(f"Project {project['name']} linked successfully! 🎉")
    return 0


def add(call: Call) -> int:
    name = call.flag("--service")
    if not name or name == "true":
        raise Exit(1, "Non-interactive mode requires --service NAME, --database, --repo or --image")
    with call.state() as state:
        rail = _rail(state)
        project, _ = _project(call, rail)
        if any(s["name"] == name for s in project["services"].values()):
            raise Exit(1, f'Service name "{name}" is already taken in this project')
        service = _new_service(project, name)
        link_ = _link_of(rail, call.cwd)
        if link_:
            link_["service"] = service["id"]
    if call.has("--json"):
        call.json({"id": service["id"], "name": name})
    else:
        call.print(f"Created service {name}")
    return 0


def service_link(call: Call) -> int:
    wanted = (call.inv.positionals or [None])[0]
    if wanted is None:
        raise Exit(1, "Non-interactive mode requires a SERVICE")
    with call.state() as state:
        rail = _rail(state)
        project, _ = _project(call, rail)
        link_ = _link_of(rail, call.cwd)
        if link_ is None:
            raise Exit(1, NO_LINK)
        service = _service(call, project, wanted, rail)
        link_["service"] = service["id"]
    call.print(f"Linked service {service['name']}")
    return 0


def service_list(call: Call) -> int:
    with call.state() as state:
        project, _ = _project(call, _rail(state))
    rows = [{"id": s["id"], "name": s["name"]} for s in project["services"].values()]
    return call.answer(rows, [row["name"] for row in rows])


def status(call: Call) -> int:
    with call.state() as state:
        project, environment = _project(call, _rail(state))
    data = {
        "id": project["id"], "name": project["name"],
        "environments": {"edges": [{"node": {"id": eid, "name": name}}
                                   for name, eid in project["environments"].items()]},
        "services": {"edges": [{"node": {"id": s["id"], "name": s["name"]}} for s in project["services"].values()]},
    }
    if call.has("--json"):
        call.json(data)
    else:
        call.print(f"Project: {project['name']}\nEnvironment: {environment}\nServices: "
                   + ", ".join(s["name"] for s in project["services"].values()))
    return 0


_SERVICE_DECL = re.compile(r'const\s+(\w+)\s*=\s*service\(\s*"([^"]+)"')
_VOLUME_DECL = re.compile(r'const\s+(\w+)\s*=\s*volume\(\s*"([^"]+)"\s*,\s*\{[^}]*?sizeMB:\s*(\d+)', re.S)
_PROJECT_DECL = re.compile(r'project\(\s*"([^"]+)"')


def _iac(call: Call) -> tuple[Path, str]:
    path = call.path(call.flag("--file") or ".railway/railway.ts")
    if not path.is_file():
        raise Exit(1, f"No Railway IaC file found at {path}. Create .railway/railway.ts or pass --file")
    if not (path.parent / "node_modules" / "railway").is_dir():
        raise Exit(1, "error: Cannot find package 'railway' imported from "
                      f"{path}\nRun `npm install` in {path.parent} first")
    return path, path.read_text(encoding="utf-8")


def _iac_changes(text: str, project: dict) -> list[dict]:
    """What applying the file would change: services, volumes, plain variables."""
    changes: list[dict] = []
    volumes = {var: (name, int(size)) for var, name, size in _VOLUME_DECL.findall(text)}
    services = _SERVICE_DECL.findall(text)
    existing = {s["name"]: s for s in project["services"].values()}
    for index, (var, name) in enumerate(services):
        block = text[text.index(f"const {var}"):]
        following = [text.index(f"const {v}") for v, _ in services[index + 1:]]
        block = block[:min(following) - text.index(f"const {var}")] if following else block
        service = existing.get(name)
        if service is None:
            changes.append({"kind": "service", "name": name, "action": "create"})
        for mount, vol_var in re.findall(r'"(/[^"]*)"\s*:\s*(\w+)', block):
            if vol_var in volumes:
                vol_name, size = volumes[vol_var]
                if service is None or not any(v["name"] == vol_name for v in service["volumes"]):
                    changes.append({"kind": "volume", "service": name, "name": vol_name, "mountPath": mount,
                                    "sizeMB": size, "action": "create"})
        env_block = re.search(r"env:\s*\{(.*?)\n\s{4}\}", block, re.S)
        for key, value in re.findall(r'(\w+):\s*"((?:[^"\\]|\\.)*)"', env_block.group(1) if env_block else ""):
            current = (service or {}).get("variables", {}).get(key)
            if current != value:
                changes.append({"kind": "variable", "service": name, "name": key, "value": value,
                                "action": "set"})
    return changes


def config_plan(call: Call) -> int:
    _, text = _iac(call)
    with call.state() as state:
        project, _ = _project(call, _rail(state))
        changes = _iac_changes(text, project)
    _print_changes(call, changes)
    return 2 if changes and call.has("--detailed-exit-code") else 0


def config_apply(call: Call) -> int:
    path, text = _iac(call)
    if not call.has("--yes") and not call.has("--json"):
        raise Exit(1, "Applying changes needs confirmation: pass --yes when not running interactively")
    declared = _PROJECT_DECL.search(text)
    with call.state() as state:
        rail = _rail(state)
        project, _ = _project(call, rail)
        if declared and declared.group(1) != project["name"]:
            raise Exit(1, f'{path.name} declares project "{declared.group(1)}" but this directory is linked to '
                          f'"{project["name"]}"')
        changes = _iac_changes(text, project)
        by_name = {s["name"]: s for s in project["services"].values()}
        for change in changes:
            if change["kind"] == "service":
                by_name[change["name"]] = _new_service(project, change["name"])
        for change in changes:
            service = by_name[change.get("service", change["name"])]
            if change["kind"] == "volume":
                service["volumes"].append({"id": ident("vol-", project["id"], change["name"], length=8),
                                           "name": change["name"], "mountPath": change["mountPath"],
                                           "sizeMB": change["sizeMB"]})
            elif change["kind"] == "variable":
                service["variables"][change["name"]] = change["value"]
        project["applied"] = digest(text)
    _print_changes(call, changes)
    return 0


def _print_changes(call: Call, changes: list[dict]) -> None:
    if call.has("--json"):
        call.json({"changes": [{k: v for k, v in c.items() if k != "value"} for c in changes]})
        return
    if not changes:
        call.print("No changes. Your environment matches the configuration.")
        return
    for change in changes:
        where = f" on {change['service']}" if "service" in change else ""
        call.print(f"  + {change['action']} {change['kind']} {change['name']}{where}")
    call.print(f"Applied {len(changes)} change(s)")


def _volume_service(call: Call, project: dict, rail: dict) -> dict:
    wanted = call.flag("--service")
    if wanted is None:
        return _service(call, project, None, rail)
    for service in project["services"].values():
        if service["id"] == wanted:
            return service
    # volume.rs unwraps the lookup of an ID: a service *name* panics (exit 101).
    raise Exit(101, "thread 'main' panicked at src/commands/volume.rs:\ncalled `Option::unwrap()` on a `None` value\n"
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace")


def volume_list(call: Call) -> int:
    with call.state() as state:
        rail = _rail(state)
        project, environment = _project(call, rail)
    volumes = [{"id": v["id"], "name": v["name"], "mountPath": v["mountPath"], "serviceName": s["name"],
                "currentSizeMB": 0.0, "sizeMB": v["sizeMB"], "status": "READY", "isPendingDeletion": False,
                "deletedAt": None}
               for s in project["services"].values() for v in s["volumes"]]
    if call.has("--json"):
        call.json({"project": project["name"], "environment": environment, "volumes": volumes} if volumes
                  else {"volumes": []})
        return 0
    if not volumes:
        raise Exit(1, f"No volumes found in environment {environment}")
    call.print(f"Project: {project['name']}\nEnvironment: {environment}")
    for v in volumes:
        call.print(f"\nVolume: {v['name']}\nAttached to: {v['serviceName']}\nMount path: {v['mountPath']}")
    return 0


def volume_add(call: Call) -> int:
    mount = call.flag("--mount-path")
    if not mount:
        raise Exit(1, "Non-interactive mode requires --mount-path")
    if not mount.startswith("/"):
        raise Exit(1, "All mount paths must start with /")
    with call.state() as state:
        rail = _rail(state)
        project, _ = _project(call, rail)
        service = _volume_service(call, project, rail)
        if service["volumes"]:
            raise Exit(1, f"A volume is already mounted on service {service['name']}")
        volume = {"id": ident("vol-", service["id"], mount, length=8),
                  "name": f"{service['name']}-volume", "mountPath": mount, "sizeMB": 5000}
        service["volumes"].append(volume)
    if call.has("--json"):
        call.json({"id": volume["id"], "name": volume["name"]})
    else:
        call.print(f'Volume "{volume["name"]}" created for service {service["name"]} at {mount}')
    return 0


def variable_set(call: Call) -> int:
    pairs: dict[str, str] = {}
    if call.has("--stdin"):
        keys = call.inv.positionals
        if len(keys) != 1 or "=" in keys[0]:
            raise Exit(1, "--stdin takes exactly one KEY (without =VALUE)")
        value = (call.record["stdin"] or "").rstrip("\r\n")
        if not value:
            raise Exit(1, f"The value for {keys[0]} read from stdin is empty")
        pairs[keys[0]] = value
    else:
        for pair in call.inv.positionals:
            key, sep, value = pair.partition("=")
            if not sep:
                raise Exit(1, f"Invalid variable {pair!r}: expected KEY=VALUE (or KEY with --stdin)")
            pairs[key] = value
    with call.state() as state:
        project, _, service = _selected(call, state)
        for key, value in pairs.items():
            service["variables"][key] = f"sha256:{digest(value)}" if call.has("--stdin") else value
        if not call.has("--skip-deploys"):
            service["redeploys"] += 1
    if call.has("--json"):
        call.json({"keys": list(pairs), "set": True})
    else:
        call.print(f"Set variables {', '.join(pairs)}")
    return 0


def variable_list(call: Call) -> int:
    with call.state() as state:
        project, _, service = _selected(call, state)
    return call.answer(service["variables"], [f"{key}={value}" if call.has("--kv") else f"║ {key:<20} │ {value}"
                                              for key, value in sorted(service["variables"].items())])


_REFERENCE = re.compile(r"\$\{\{\s*([\w-]+)\.(\w+)\s*\}\}")


def _resolve(project: dict, service: dict) -> tuple[dict, list[str]]:
    """A service's variables as its deployment sees them: `${{other.VAR}}` filled in by Railway.

    Railway resolves a reference to a missing service or variable to an empty string, silently
    (docs: variables/reference); the fake resolves the same way and lists what it could not.
    """
    by_name = {s["name"]: s for s in project["services"].values()}
    missing: list[str] = []

    def value_of(match: re.Match) -> str:
        other, name = by_name.get(match.group(1)), match.group(2)
        if other is None:
            missing.append(match.group(0))
            return ""
        provided = {"RAILWAY_PRIVATE_DOMAIN": f"{other['name']}.railway.internal",
                    "RAILWAY_PUBLIC_DOMAIN": other.get("domain") or "", "RAILWAY_SERVICE_NAME": other["name"]}
        value = provided.get(name, other["variables"].get(name))
        if not value:
            missing.append(match.group(0))
        return value or ""

    resolved = {key: _REFERENCE.sub(value_of, value) if isinstance(value, str) else value
                for key, value in service["variables"].items()}
    return resolved, missing


def up(call: Call) -> int:
    path = (call.inv.positionals or [None])[0]
    if path and not call.path(path).is_dir():
        raise Exit(1, f"Path {path} does not exist")
    uploaded = call.path(path) if path else call.cwd
    with call.state() as state:
        project, environment, service = _selected(call, state)
        resolved, missing = _resolve(project, service)
        service["resolved"], service["unresolved"] = resolved, missing
        _rail(state).setdefault("deploy_order", []).append(service["name"])
        waits = call.has("--ci") or call.has("--json") or \
            call.env.get("CI", "").lower() not in ("", "false", "0")
        deployment = _new_deployment(service, _tree_digest(uploaded),
                                     "SUCCESS" if waits and not call.has("--detach") else "BUILDING")
        deployment["waited"] = waits and not call.has("--detach")
    logs_url = f"https://railway.com/project/{project['id']}/service/{service['id']}?id={deployment['id']}"
    if call.has("--detach") and call.has("--json"):
        call.json({"deploymentId": deployment["id"], "logsUrl": logs_url})
        return 0
    call.print("Indexing...\nUploading...")
    call.print(f"  Build Logs: {logs_url}")
    if not deployment["waited"]:
        return 0  # without --ci in a non-TTY, railway up returns right after the upload
    call.print("[Region: us-west1] \n=========================\nUsing Detected Dockerfile!\n=========================")
    call.print("Build time: 41.2 seconds\nDeploy complete")
    return 0


def domain(call: Call) -> int:
    with call.state() as state:
        project, environment, service = _selected(call, state)
        created = service["domain"] is None
        if created:
            service["domain"] = f"{service['name']}-{environment}-{ident('', service['id'], length=4)}.up.railway.app"
    if call.has("--json"):
        call.json({"domain": f"https://{service['domain']}"})
    else:
        call.print(("Service Domain created:\n🚀 " if created else "Domains already exists on the service:\n🚀 ")
                   + f"https://{service['domain']}")
    return 0


def environment_edit(call: Call) -> int:
    call.print("Environment updated")
    return 0


def _new_deployment(service: dict, code: str, status: str) -> dict:
    """A deployment; once it is SUCCESS the one it replaces is REMOVED (what
    `deployment list` shows). ``code``: a digest of what was uploaded, what runs."""
    number = len(service["deployments"])
    deployment = {"id": ident("", service["id"], number, length=8) + "-dep", "status": status,
                  "createdAt": f"2026-08-22T10:{number // 60:02d}:{number % 60:02d}Z", "code": code}
    if status == "SUCCESS":
        for older in service["deployments"]:
            if older["status"] == "SUCCESS":
                older["status"] = "REMOVED"
        service["live"] = code
    service["deployments"].append(deployment)
    return deployment


def _tree_digest(directory: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and ".streamdeploy" not in p.parts
                       and "node_modules" not in p.parts):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def deployment_list(call: Call) -> int:
    """src/commands/deployment.rs: newest first, at most --limit (default 20)."""
    with call.state() as state:
        project, _, service = _selected(call, state)
    limit = max(1, min(1000, int(call.flag("--limit", "20"))))
    rows = [{"id": d["id"], "status": d["status"], "createdAt": d.get("createdAt", "2026-08-22T10:00:00Z"),
             "meta": {}} for d in reversed(service["deployments"])][:limit]
    return call.answer(rows, [f"{row['id']}  {row['status']}" for row in rows])


def api(call: Call) -> int:
    """`railway api DOC --raw-var k=v`: the public GraphQL API, the one mutation plans send.
    deploymentRollback(id) makes a new deployment of that one's code (Railway restores its
    image and variables); the live one is then REMOVED."""
    import json

    document = (call.inv.positionals or [""])[0]
    variables = dict(v.split("=", 1) for v in call.inv.values("--raw-var"))
    with call.state() as state:
        rail = _rail(state)
        if "deploymentRollback" not in document:
            raise Exit(99, "fake railway api: only deploymentRollback is modelled")
        found = [(s, d) for p in rail["projects"].values() for s in p["services"].values() for d in s["deployments"]
                 if d["id"] == variables.get("id")]
        if not found:
            call.print(json.dumps({"data": None, "errors": [{"message": "Deployment not found"}]}, indent=2))
            raise Exit(1, "Railway API returned 1 GraphQL error(s)")
        service, target = found[0]
        if target["status"] != "REMOVED":
            call.print(json.dumps({"data": None, "errors": [{"message": "Cannot rollback to this deployment"}]},
                                  indent=2))
            raise Exit(1, "Railway API returned 1 GraphQL error(s)")
        _new_deployment(service, target["code"], "SUCCESS")["rollback_of"] = target["id"]
    call.print(json.dumps({"data": {"deploymentRollback": True}}, indent=2))
    return 0


def logs(call: Call) -> int:
    call.print("INFO:     Application startup complete.")
    return 0


def redeploy(call: Call) -> int:
    with call.state() as state:
        project, _, service = _selected(call, state)
        service["redeploys"] += 1
    call.print(f"Redeploying {service['name']}")
    return 0


HANDLERS = {
    (): root,
    ("whoami",): whoami,
    ("init",): init,
    ("link",): link,
    ("add",): add,
    ("service", "link"): service_link,
    ("service", "list"): service_list,
    ("status",): status,
    ("config", "plan"): config_plan,
    ("config", "apply"): config_apply,
    ("volume", "list"): volume_list,
    ("volume", "add"): volume_add,
    ("variable", "set"): variable_set,
    ("variable", "list"): variable_list,
    ("variable",): variable_list,
    ("up",): up,
    ("domain",): domain,
    ("environment", "edit"): environment_edit,
    ("deployment", "list"): deployment_list,
    ("api",): api,
    ("logs",): logs,
    ("redeploy",): redeploy,
}
