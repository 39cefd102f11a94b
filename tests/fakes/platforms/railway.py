"""fake `railway`: projects, links, services, volumes, variables, IaC apply and deploys,
per railwayapp/cli @ df3838bf (5.43.1)."""

from __future__ import annotations

import json
import re
import subprocess
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
        with call.state() as state:
            workspaces = _rail(state).get("workspaces") or WORKSPACES
        call.json({"name": "Fake User", "email": "fake@example.com", "workspaces": workspaces})
    else:
        call.print("Logged in as Fake User (fake@example.com) 👋")
    return 0


WORKSPACES = [{"id": "ws-fake", "name": "Fake's Projects"}]


def _workspace(rail: dict, wanted: str | None) -> dict:
    """init.rs prompt_workspace: the one workspace, or --workspace by id or name (case-insensitive)."""
    workspaces = rail.get("workspaces") or WORKSPACES
    if wanted is not None:
        for workspace in workspaces:
            if wanted.lower() in (workspace["id"].lower(), workspace["name"].lower()):
                return workspace
        raise Exit(1, f'Workspace "{wanted}" not found.')
    if len(workspaces) == 1:
        return workspaces[0]
    raise Exit(1, "--workspace required in non-interactive mode (multiple workspaces available)")


def init(call: Call) -> int:
    name = call.flag("--name") or ident("project-", call.record["id"], length=6)
    with call.state() as state:
        rail = _rail(state)
        workspace = _workspace(rail, call.flag("--workspace"))
        project = _new_project(rail, name)
        project["workspace"] = workspace["id"]
        rail["links"][str(call.cwd)] = {"project": project["id"], "environment": "production", "service": None}
    if call.has("--json"):
        call.json({"id": project["id"], "name": project["name"]})
    else:
        call.print(f"Created project {name} on {workspace['name']}\nhttps://railway.com/project/{project['id']}")
    return 0


def link(call: Call) -> int:
    wanted = call.flag("--project")
    environment = call.flag("--environment") or "production"
    with call.state() as state:
        rail = _rail(state)
        matches = [p for p in rail["projects"].values() if wanted in (p["id"], p["name"])] if wanted else []
        if call.flag("--workspace") is not None:  # link.rs select_workspace: the named one must exist
            workspace = _workspace(rail, call.flag("--workspace"))
            matches = [p for p in matches if p.get("workspace", WORKSPACES[0]["id"]) == workspace["id"]]
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


# --- Infrastructure as Code: `config plan` and `config apply` ---------------------------------
#
# As railwayapp/cli does it: evaluate the file with node (src/iac/eval.rs), turn the project
# into a graph (compiler.rs project_definition_to_graph), diff it against what the environment
# holds (change_set.rs diff_graphs), refuse destructive changes without --confirm-destructive
# when not interactive (commands/config/runner.rs guard_destructive_apply), then apply.

# The -e script eval.rs passes to node; the SDK's version guard recognises it by these lines.
EVAL_SCRIPT = """
import { pathToFileURL } from "node:url";
const file = process.argv[1];
const mod = await import(`${pathToFileURL(file).href}?t=${Date.now()}`);
const partial = mod.partial ?? mod.PARTIAL ?? mod.Partial ?? undefined;
let exported = mod.default ?? mod.main ?? mod.Railway ?? mod;
const project = typeof exported === "function" ? await exported({}) : exported;
const graph = project && typeof project === "object" && "to_graph" in project ? project.to_graph() : project;
process.stdout.write(JSON.stringify({ partial, project: graph }));
"""
DESTRUCTIVE = ("Destructive Railway configuration changes require explicit confirmation. Review `railway config "
               "plan`, then re-run with `railway config apply --confirm-destructive` if the removals are expected.")
DEFAULT_REGION = "us-west2"  # where Railway places what names no region (a workspace default in reality)


def _iac_file(call: Call) -> Path:
    path = call.path(call.flag("--file") or ".railway/railway.ts")
    if not path.is_file():
        raise Exit(1, "Could not find .railway/railway.ts, railway.py, or railway.go")
    return path


def _evaluate(call: Call, path: Path) -> dict:
    """node, started as eval.rs starts it: the CLI's own environment, unchanged, plus NODE_PATH."""
    env = dict(call.env)
    for directory in (path.parent, *path.parent.parents):
        if (directory / "node_modules").is_dir():
            env["NODE_PATH"] = str(directory / "node_modules")
            break
    argv = ["node", "--experimental-strip-types", "--disable-warning=ExperimentalWarning", "--input-type=module",
            "-e", EVAL_SCRIPT, "--", str(path)]
    try:
        out = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise Exit(1, "Failed to run node to evaluate the IaC file\n\nCaused by:\n    No such file or directory "
                      "(os error 2)") from None
    if out.returncode != 0:
        raise Exit(1, f"node failed to evaluate IaC file.\n{out.stderr.strip()}\n{out.stdout.strip()}")
    try:
        payload = json.loads(out.stdout)
    except ValueError:
        raise Exit(1, f"node returned non-JSON output.\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}") from None
    return _to_graph(payload.get("project") or {})


def _to_graph(project: dict) -> dict:
    """eval.rs normalize_project + compiler.rs project_definition_to_graph, for what the fakes see."""
    resources = [dict(r) for r in project.get("resources") or []]
    for resource in resources:
        resource.setdefault("address", f"{resource.get('type', 'service')}.{resource.get('name', 'web')}")
    seen = {r["address"] for r in resources}
    for resource in list(resources):
        for attachment in (resource.get("volumeAttachments") or {}).values():
            volume = attachment.get("volume")
            if volume and volume not in seen:
                node = {"address": volume, "type": "volume", "name": volume.split(".", 1)[1]}
                if "volumeConfig" in attachment:
                    node["config"] = attachment["volumeConfig"]
                resources.append(node)
                seen.add(volume)
    for resource in resources:
        for attachment in (resource.get("volumeAttachments") or {}).values():
            attachment.pop("volumeConfig", None)
    return {"project": {"name": project.get("name", "app")}, "resources": resources}


def _region_of(service: dict) -> str | None:
    regions = [r for r, c in ((service.get("deploy") or {}).get("multiRegionConfig") or {}).items() if c]
    return regions[0] if len(regions) == 1 else None


def _current_graph(project: dict, reveal: bool) -> dict:
    """What the environment holds. Without decryption variable values read as preserve()
    (engine.rs: "Environment config reads mask variable values")."""
    resources = []
    for service in project["services"].values():
        node = {"address": f"service.{service['name']}", "type": "service", "name": service["name"]}
        for key in ("source", "build", "deploy"):
            if service.get(key):
                node[key] = service[key]
        if service["variables"]:
            node["variables"] = {k: {"type": "literal", "value": v} if reveal else {"type": "preserve"}
                                 for k, v in service["variables"].items()}
        if service["volumes"]:
            node["volumeAttachments"] = {
                v["name"]: {"volume": f"volume.{v['name']}", "mountPath": v["mountPath"],
                            **({"backupSchedules": v["backupSchedules"]} if v.get("backupSchedules") else {})}
                for v in service["volumes"]}
        resources.append(node)
        for v in service["volumes"]:
            config = {"sizeMB": v["sizeMB"]}
            if v.get("region"):
                config["region"] = v["region"]
            resources.append({"address": f"volume.{v['name']}", "type": "volume", "name": v["name"],
                              "config": config})
    return {"project": {"name": project["name"]}, "resources": resources}


def _held_value(value: dict) -> str | None:
    """What the environment config keeps of a variable: a literal's text, a reference as
    `${{service.OUTPUT}}` (change_set.rs normalize_variable_for_diff, compiler.rs)."""
    if value.get("type") == "literal":
        return value["value"]
    if value.get("type") == "reference":
        return "${{" + value["resource"].split(".", 1)[-1] + "." + value["output"] + "}}"
    return None


def _same_variable(current: str | None, wanted: dict) -> bool:
    """Backboard's preview compares against decrypted values and drops no-op sets."""
    text = _held_value(wanted)
    if text is None or current is None:
        return False
    return current in (text, f"sha256:{digest(text)}")


def _normalize(field_name: str, value):
    """change_set.rs normalize_for_diff: defaults Railway fills in do not count as changes."""
    if not isinstance(value, dict):
        return value
    copy = dict(value)
    if field_name == "build":
        for key, default in (("builder", "RAILPACK"), ("buildEnvironment", "V3"), ("buildCommand", ""),
                             ("dockerfilePath", "Dockerfile")):
            if copy.get(key) == default:
                del copy[key]
    if field_name == "deploy":
        for key, default in (("useLegacyStacker", False), ("ipv6EgressEnabled", False), ("runtime", "V2")):
            if copy.get(key) == default:
                del copy[key]
        multi = copy.pop("multiRegionConfig", None)
        if isinstance(multi, dict):
            multi = {r: c for r, c in multi.items() if not isinstance(c, dict) or c.get("numReplicas") is not None}
            default = len(multi) == 1 and all(k == "numReplicas" and v == 1 or k == "stackerAssignment" and v is None
                                              for k, v in next(iter(multi.values())).items())
            if multi and not default:
                copy["multiRegionConfig"] = multi
    return copy or None


def _with_current_region(previous: dict | None, desired: dict | None) -> dict | None:
    """service_deploy_with_current_region: a bare replica count keeps the region Railway holds."""
    if not desired or "numReplicas" not in desired or "multiRegionConfig" in desired:
        return desired
    region = _region_of({"deploy": previous})
    if region is None:
        return desired
    rest = {k: v for k, v in desired.items() if k != "numReplicas"}
    rest["multiRegionConfig"] = {region: {"numReplicas": desired["numReplicas"]}}
    return rest


def _change(kind: str, address: str, summary: str, severity: str, deploys: bool, **extra) -> dict:
    return {"kind": kind, "address": address, "summary": summary, "severity": severity,
            "deployEffect": "deploy" if deploys else "none", **extra}


def _diff(current: dict, desired: dict) -> tuple[list[dict], list[dict]]:
    """change_set.rs diff_graphs for the resources streamdeploy writes: (changes, diagnostics)."""
    changes: list[dict] = []
    diagnostics: list[dict] = []
    now = {r["address"]: r for r in current["resources"]}
    wanted = {r["address"]: r for r in desired["resources"]}
    for address, resource in wanted.items():
        kind, name = resource["type"], resource["name"]
        previous = now.get(address)
        if previous is None:
            changes.append(_change("resource.create", address, f"Create {kind} {name}", "safe",
                                   kind in ("service", "database"), resource=resource))
            continue
        before, after = previous.get("variables") or {}, resource.get("variables") or {}
        for key, value in after.items():
            if value.get("type") == "preserve":
                continue
            held = before.get(key, {}).get("value") if key in before else None
            if _same_variable(held, value):
                continue
            verb = "Update" if key in before else "Set"
            changes.append(_change("variable.set", address, f"{verb} variable {name}.{key}", "safe", True,
                                   variable=key, after=value))
        for key in before:
            if key not in after:
                changes.append(_change("variable.delete", address, f"Delete variable {name}.{key}", "destructive",
                                       True, variable=key))
        for field_name in ("source", "build"):
            if _normalize(field_name, previous.get(field_name)) != _normalize(field_name, resource.get(field_name)):
                changes.append(_change("resource.update", address, f"Update {name} {field_name}", "safe", True,
                                       field=field_name, after=resource.get(field_name)))
        if kind == "service":
            deploy = _with_current_region(previous.get("deploy"), resource.get("deploy"))
            if _normalize("deploy", previous.get("deploy")) != _normalize("deploy", deploy):
                changes.append(_change("resource.update", address, f"Update {name} deploy", "safe", True,
                                       field="deploy", after=deploy))
        if kind == "volume":
            changes += _diff_volume(address, name, previous.get("config") or {}, resource.get("config") or {})
        if _normalize("volumeAttachments", previous.get("volumeAttachments")) != \
                _normalize("volumeAttachments", resource.get("volumeAttachments")):
            gone = set(previous.get("volumeAttachments") or {}) - set(resource.get("volumeAttachments") or {})
            changes.append(_change("resource.update", address, f"Update {name} volumeAttachments",
                                   "destructive" if gone else "safe", True, field="volumeAttachments",
                                   after=resource.get("volumeAttachments")))
    for address, resource in now.items():
        if address in wanted:
            continue
        if resource["type"] == "volume":
            diagnostics.append({"severity": "warning", "path": f"resources.{address}",
                                "message": f"Volume {resource['name']} exists on Railway but is not declared in the "
                                           "config. Volumes are never deleted by config apply; delete it from the "
                                           "dashboard if that is intended."})
            continue
        changes.append(_change("resource.delete", address, f"Delete {resource['type']} {resource['name']}",
                               "destructive", resource["type"] in ("service", "database")))
    return changes, diagnostics


def _diff_volume(address: str, name: str, before: dict, after: dict) -> list[dict]:
    """diff_volume_config: a region that differs (None vs set too) or a smaller size is destructive."""
    before = {k: v for k, v in before.items() if k not in ("alerts", "allowOnlineResize") or k in after}
    if before == after:
        return []
    old, new = before.get("sizeMB"), after.get("sizeMB")
    destructive = before.get("region") != after.get("region") or (old is not None and new is not None and new < old)
    summary = f"Resize volume {name} from {old}MB to {new}MB" if old is not None and new is not None and new > old \
        else f"Update {name} config"
    details = [f"config.{k} ({json.dumps(before.get(k))} → {json.dumps(after.get(k))})"
               for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return [_change("resource.update", address, summary, "destructive" if destructive else "safe", False,
                    field="config", after=after, details=details)]


def _apply(project: dict, desired: dict, changes: list[dict]) -> None:
    services = {s["name"]: s for s in project["services"].values()}
    region = project.get("region", DEFAULT_REGION)
    wanted = {r["address"]: r for r in desired["resources"]}
    redeployed: set[str] = set()
    for change in changes:
        resource = wanted.get(change["address"], {})
        if change["kind"] == "resource.create" and resource.get("type") == "service":
            service = _new_service(project, resource["name"])
            services[resource["name"]] = service
            for key in ("source", "build"):
                if resource.get(key):
                    service[key] = resource[key]
            service["deploy"] = _held_deploy(None, resource.get("deploy"), region)
            for key, value in (resource.get("variables") or {}).items():
                if _held_value(value) is not None:
                    service["variables"][key] = _held_value(value)
    owners = {a["volume"]: (r["name"], path, a) for r in desired["resources"]
              for path, a in (r.get("volumeAttachments") or {}).items()}
    for change in changes:
        resource = wanted.get(change["address"], {})
        kind = change["kind"]
        if kind == "resource.create" and resource.get("type") == "volume":
            owner_name, _, attachment = owners.get(change["address"], (None, None, {}))
            owner = services.get(owner_name)
            if owner is None:
                raise Exit(1, f"fake railway: volume {resource['name']} is mounted by no service")
            config = resource.get("config") or {}
            owner["volumes"].append({
                "id": ident("vol-", project["id"], resource["name"], length=8), "name": resource["name"],
                "mountPath": attachment["mountPath"], "sizeMB": config.get("sizeMB", 5000),
                "region": config.get("region") or _region_of(owner) or region,
                **({"backupSchedules": attachment["backupSchedules"]} if attachment.get("backupSchedules") else {})})
        elif kind == "resource.delete" and change["address"].startswith("service."):
            project["services"].pop(services[change["address"].split(".", 1)[1]]["id"], None)
            continue
        service = services.get(resource.get("name")) if resource.get("type") == "service" else None
        if kind == "variable.set":
            service["variables"][change["variable"]] = _held_value(change["after"]) or ""
        elif kind == "variable.delete":
            service["variables"].pop(change["variable"], None)
        elif kind == "resource.update" and change["field"] in ("source", "build"):
            service[change["field"]] = change["after"]
        elif kind == "resource.update" and change["field"] == "deploy":
            service["deploy"] = _held_deploy(service.get("deploy"), change["after"], region)
        elif kind == "resource.update" and change["field"] == "volumeAttachments":
            for held in service["volumes"]:
                attachment = (change["after"] or {}).get(held["name"], {})
                held["mountPath"] = attachment.get("mountPath", held["mountPath"])
                held.pop("backupSchedules", None)
                if attachment.get("backupSchedules"):
                    held["backupSchedules"] = attachment["backupSchedules"]
        elif kind == "resource.update" and change["field"] == "config":
            for held in (v for s in services.values() for v in s["volumes"] if f"volume.{v['name']}" ==
                         change["address"]):
                held["sizeMB"] = change["after"].get("sizeMB", held["sizeMB"])
                held["region"] = change["after"].get("region") or held["region"]
        if change["deployEffect"] == "deploy" and service is not None and kind != "resource.create":
            redeployed.add(service["name"])
    for name in redeployed:
        services[name]["redeploys"] += 1


def _held_deploy(previous: dict | None, desired: dict | None, region: str) -> dict:
    """What Railway keeps of a deploy config: the region is always explicit."""
    deploy = dict(_with_current_region(previous, desired) or {})
    if "numReplicas" in deploy and "multiRegionConfig" not in deploy:
        deploy["multiRegionConfig"] = {region: {"numReplicas": deploy.pop("numReplicas")}}
    return deploy


def _runner_json(call: Call, command: str, path: Path, project: dict, environment: str, changes: list[dict],
                 diagnostics: list[dict], desired: dict) -> dict:
    """runner.rs RunnerResponse as `--json` prints it: each change keeps summary, severity, kind and
    details only, and every resource lists all DesiredResource fields (null when absent)."""
    fields = ("address", "type", "name", "engine", "variables", "source", "build", "deploy", "networking",
              "volumeAttachments", "config", "groupId")

    def graph(g: dict) -> dict:
        return {"project": g["project"], "resources": [{f: r.get(f) for f in fields} for r in g["resources"]]}

    return {
        "ok": not any(d["severity"] == "error" for d in diagnostics), "command": command, "file": str(path),
        "currentEnvironment": {"projectId": project["id"], "projectName": project["name"],
                               "environmentId": project["environments"][environment],
                               "environmentName": environment},
        "changeSet": {"changes": [{"summary": c["summary"], "severity": c["severity"], "kind": c["kind"],
                                   "details": c.get("details")} for c in changes]},
        "diff": "\n".join(c["summary"] for c in changes) or "No changes.",
        "diagnostics": diagnostics,
        "currentGraph": graph(_current_graph(project, reveal=False)),
        "desiredGraph": graph(desired),
        "stagedPatch": None, "applyResult": None, "deploymentId": None, "stagedPatchId": None,
    }


def _plan_changes(call: Call) -> tuple[Path, dict, str, dict, list[dict], list[dict]]:
    with call.state() as state:  # runner.rs ensure_config_context: a token and a linked project first
        project, environment = _project(call, _rail(state))
    path = _iac_file(call)
    desired = _evaluate(call, path)  # outside the state lock: node may run `railway --version`
    with call.state() as state:
        project, environment = _project(call, _rail(state))
        changes, diagnostics = _diff(_current_graph(project, reveal=True), desired)
    return path, project, environment, desired, changes, diagnostics


def config_plan(call: Call) -> int:
    path, project, environment, desired, changes, diagnostics = _plan_changes(call)
    if call.has("--json"):
        call.json(_runner_json(call, "plan", path, project, environment, changes, diagnostics, desired))
    else:
        _print_changes(call, changes, diagnostics)
    return 2 if changes and call.has("--detailed-exit-code") else 0


def config_apply(call: Call) -> int:
    if not call.has("--yes") and not call.has("--json"):
        raise Exit(1, "Run `railway config apply --yes` to apply changes non-interactively.")
    path, project, environment, desired, changes, diagnostics = _plan_changes(call)
    if not changes:
        if not call.has("--json"):
            _print_changes(call, changes, diagnostics)
        return 0
    if any(c["severity"] == "destructive" for c in changes) and not call.has("--confirm-destructive"):
        _print_changes(call, changes, diagnostics, applied=False)
        raise Exit(1, DESTRUCTIVE)
    with call.state() as state:
        project, environment = _project(call, _rail(state))
        changes, diagnostics = _diff(_current_graph(project, reveal=True), desired)
        _apply(project, desired, changes)
        project["applied"] = digest(path.read_text(encoding="utf-8"))
    if call.has("--json"):
        call.json(_runner_json(call, "apply", path, project, environment, changes, diagnostics, desired))
    else:
        _print_changes(call, changes, diagnostics)
    return 0


def _print_changes(call: Call, changes: list[dict], diagnostics: list[dict], applied: bool = True) -> None:
    call.print("\nRailway configuration")
    for diagnostic in diagnostics:
        call.print(f"{diagnostic['severity']}: {diagnostic['path']}: {diagnostic['message']}")
    if not changes:
        call.print("No changes.")
        return
    add = sum(1 for c in changes if c["kind"] == "resource.create")
    destroy = sum(1 for c in changes if c["kind"] in ("resource.delete", "variable.delete"))
    call.print(f"Plan: {add} to add, {len(changes) - add - destroy} to change, {destroy} to destroy")
    for change in changes:
        marker = {"resource.create": "+", "resource.delete": "-"}.get(change["kind"], "~")
        call.print(f"{marker} {change['summary']}")
    if applied:
        call.print("Applied Railway configuration")


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
