"""fake `fly`: apps, volumes, secrets and deploys, per superfly/flyctl @ ad0172f."""

from __future__ import annotations

import re

import time
import tomllib

from fakes.fake_cli import Call, Exit
from fakes.platforms import digest, ident

VERSION = "0.4.87"
NO_TOKEN = "Error: No access token available. Please login with 'flyctl auth login'"  # fly-go ErrNoAuthToken
NEEDS_NO_AUTH = {("version",), ()}


def check_auth(call: Call) -> None:
    if call.inv.command in NEEDS_NO_AUTH:
        return
    if not (call.env.get("FLY_ACCESS_TOKEN") or call.env.get("FLY_API_TOKEN") or call.has("--access-token")):
        raise Exit(1, NO_TOKEN)


def reads_stdin(call: Call) -> bool:
    if call.inv.command == ("secrets", "import"):
        return True
    return call.inv.command == ("secrets", "set") and any(p.endswith("=-") for p in call.inv.positionals)


def parse_secrets(text: str) -> dict[str, str]:
    """flyctl internal/command/secrets/parser.go, line for line."""
    secrets: dict[str, str] = {}
    multiline_key = None
    parsed: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # bufio.ScanLines: no empty token after a final newline
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line  # ScanLines drops a trailing \r
        if multiline_key is None:
            if line.startswith("#") or line.strip() == "":
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise Exit(1, f"Error: Failed to parse secrets from stdin: Secrets must be provided as NAME=VALUE "
                              f"pairs ({line} is invalid)")
            key = key.strip()
            value = value.lstrip(" ")
            before, hashed, _ = value.partition("#")
            if hashed and before.count('"') % 2 == 0:
                value = before.rstrip(" ")
            if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
                secrets[key] = value[3:-3]
            elif value.startswith('"""'):
                multiline_key = key
                parsed = [value[3:] + "\n"]
            else:
                if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
                    value = value[1:-1]
                elif len(value) >= 2 and value.startswith("'") and value.endswith("'"):
                    value = value[1:-1]
                secrets[key] = value
        elif line.endswith('"""'):
            parsed.append(line[:-3])
            secrets[multiline_key] = "".join(parsed)
            multiline_key, parsed = None, []
        else:
            parsed.append(line + "\n")
    return secrets


# --- helpers ------------------------------------------------------------------------------


def _config_path(call: Call, workdir: str | None = None):
    given = call.flag("--config")
    if given:
        return call.path(given)
    base = call.path(workdir) if workdir else call.cwd
    return base / "fly.toml"


def _load_config(call: Call, workdir: str | None = None) -> dict:
    path = _config_path(call, workdir)
    if not path.is_file():
        if call.flag("--config"):
            raise Exit(1, f"Error: failed loading app config from {path}: open {path}: no such file or directory")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise Exit(1, f"Error: failed loading app config from {path}: {err}")


def _app_name(call: Call, config: dict | None = None) -> str:
    name = call.flag("--app") or call.env.get("FLY_APP") or (config or _load_config(call)).get("app")
    if not name:
        raise Exit(1, "Error: the config for your app is missing an app name, add an app field to the fly.toml "
                      "file or specify with the -a flag")
    return name


def _app(state: dict, name: str) -> dict:
    app = state.setdefault("fly", {}).setdefault("apps", {}).get(name)
    if app is None:
        raise Exit(1, f'Error: Could not find App "{name}"')
    return app


_PRIVATE_NAME = re.compile(r"\b([a-z0-9-]+)\.(internal|flycast|fly\.dev)\b")


def _unreachable(apps: dict, env: dict) -> list[str]:
    """Env values naming another app where it would not answer: `.internal` needs started Machines,
    `.flycast` a private IP, `.fly.dev` a public one (flyctl deploy_first.go gives each on a first deploy)."""
    problems = []
    for key, value in env.items():
        for name, kind in _PRIVATE_NAME.findall(str(value)):
            app = apps.get(name)
            kinds = {ip["type"] for ip in (app or {}).get("ips", [])}
            ok = app is not None and {
                "internal": any(m["state"] == "started" for m in app.get("machines", [])),
                "flycast": "private_v6" in kinds,
                "fly.dev": bool(kinds & {"v6", "shared_v4"}),
            }[kind]
            if not ok:
                problems.append(f"{key}: {name}.{kind}")
    return problems


def _mounts(config: dict) -> list[dict]:
    mounts = config.get("mounts", [])
    return [mounts] if isinstance(mounts, dict) else list(mounts)


# --- commands -----------------------------------------------------------------------------


def version(call: Call) -> int:
    if call.has("--json"):
        call.json({"Name": call.binary, "Version": VERSION, "Commit": "ad0172f", "BranchName": "",
                   "BuildDate": "2026-08-21T14:11:32Z", "OS": "linux", "Architecture": "amd64",
                   "Environment": "production"})
    else:
        call.print(f"{call.binary} v{VERSION} linux/amd64 Commit: ad0172f BuildDate: 2026-08-21T14:11:32Z")
    return 0


def root(call: Call) -> int:
    if call.has("--version"):
        call.print(f"{call.binary} v{VERSION} linux/amd64 Commit: ad0172f BuildDate: 2026-08-21T14:11:32Z")
        return 0
    raise Exit(1, "Error: fake fly: nothing to do")


def whoami(call: Call) -> int:
    if call.has("--json"):
        call.json({"email": "fake@example.com"})
    else:
        call.print("fake@example.com")
    return 0


def apps_create(call: Call) -> int:
    name = (call.inv.positionals or [None])[0] or call.flag("--name")
    if not name and not call.has("--generate-name"):
        raise Exit(1, "Error: app name must be specified when not running interactively")
    name = name or ident("app-", call.record["id"], length=8)
    with call.state() as state:
        apps = state.setdefault("fly", {}).setdefault("apps", {})
        if name in apps:
            raise Exit(1, "Error: Validation failed: Name has already been taken")
        org = _org(state, call.flag("--org") or call.env.get("FLY_ORG"))
        apps[name] = {"org": org, "status": "pending", "deployed": False, "releases": 0, "secrets": {},
                      "volumes": [], "machines": []}
    if call.has("--json"):
        call.json({"id": name, "name": name, "status": "pending", "organization": {"slug": org}})
    else:
        call.print(f"New app created: {name}")
    return 0


ORGS = [{"slug": "personal", "type": "PERSONAL"}]


def _org(state: dict, slug: str | None) -> str:
    """internal/prompt/prompt.go Org: no slug works only with exactly one PERSONAL org."""
    orgs = state.get("fly", {}).get("orgs") or ORGS
    if slug:
        if not any(o["slug"] == slug for o in orgs):
            raise Exit(1, f"Error: organization {slug} not found")
        return slug
    if len(orgs) == 1 and orgs[0]["type"] == "PERSONAL":
        return orgs[0]["slug"]
    raise Exit(1, "Error: org slug must be specified when not running interactively")


def apps_list(call: Call) -> int:
    with call.state() as state:
        apps = state.get("fly", {}).get("apps", {})
    rows = [{"ID": n, "Name": n, "Status": a["status"], "Organization": {"Slug": a["org"]},
             "Deployed": a["deployed"]} for n, a in sorted(apps.items())]
    return call.answer(rows, ["NAME\tOWNER\tSTATUS",
                              *(f"{r['Name']}\t{r['Organization']['Slug']}\t{r['Status']}" for r in rows)])


def status(call: Call) -> int:
    name = _app_name(call)
    with call.state() as state:
        app = _app(state, name)
    data = {"ID": name, "Name": name, "Status": app["status"], "Deployed": app["deployed"],
            "Hostname": f"{name}.fly.dev", "Version": app["releases"], "Organization": {"Slug": app["org"]},
            "Machines": app["machines"]}
    if call.has("--json"):
        call.json(data)
    else:
        call.print(f"App\n  Name     = {name}\n  Owner    = {app['org']}\n  Hostname = {name}.fly.dev\n"
                   f"  Status   = {app['status']}")
    return 0


def volumes_list(call: Call) -> int:
    name = _app_name(call)
    with call.state() as state:
        volumes = _app(state, name)["volumes"]
    return call.answer(volumes, ["ID\tSTATE\tNAME\tSIZE\tREGION\tZONE\tENCRYPTED\tATTACHED VM", *(
        f"{v['id']}\t{v['state']}\t{v['name']}\t{v['size_gb']}GB\t{v['region']}\t{v['zone']}\ttrue\t" for v in volumes)])


def _new_volume(app_name: str, name: str, region: str, size_gb: int, number: int, retention: int | None = None,
                guest: dict | None = None) -> dict:
    return {"id": ident("vol_", app_name, name, number, length=16), "name": name, "state": "created",
            "size_gb": size_gb, "region": region, "zone": f"{region}-a", "encrypted": True,
            "attached_machine_id": None, "snapshot_retention": retention or 5,
            "compute": guest}  # the Machine size its host was picked for (none: a default guest)


def volumes_create(call: Call) -> int:
    name = call.inv.positionals[0]
    app_name = _app_name(call)
    region = call.flag("--region") or call.env.get("FLY_REGION")
    size = int(call.flag("--size", "1"))
    count = int(call.flag("--count", "1"))
    with call.state() as state:
        app = _app(state, app_name)
        same = [v for v in app["volumes"] if v["name"] == name]
        if not call.has("--yes") and count <= 1 and not same:
            call.err("Warning! Every volume is pinned to a specific physical host. You should create two or more "
                     "volumes per application to avoid downtime. Learn more at https://fly.io/docs/volumes/overview/")
            raise Exit(1, "Error: yes flag must be specified when not running interactively")
        if not region:
            raise Exit(1, "Error: region code must be specified when not running interactively")
        created = []
        retention = int(call.flag("--snapshot-retention") or 5)
        if not 1 <= retention <= 60:
            raise Exit(1, "Error: snapshot retention must be between 1 and 60 days")
        guest = {"size": call.flag("--vm-size"), "memory": call.flag("--vm-memory")} \
            if call.flag("--vm-size") or call.flag("--vm-memory") else None
        for _ in range(count):
            volume = _new_volume(app_name, name, region, size, len(app["volumes"]), retention, guest)
            app["volumes"].append(volume)
            created.append(volume)
    if call.has("--json"):
        call.json(created[0] if count == 1 else created)
    else:
        for v in created:
            call.print(f"                  ID: {v['id']}\n                Name: {v['name']}\n                 App: "
                       f"{app_name}\n              Region: {v['region']}\n             Size GB: {v['size_gb']}\n"
                       f"           Encrypted: true")
    return 0


def _store_secrets(call: Call, app_name: str, values: dict[str, str]) -> int:
    with call.state() as state:
        app = _app(state, app_name)
        staged = call.has("--stage") or not app["deployed"]
        for key, value in values.items():
            app["secrets"][key] = {"digest": digest(value), "staged": staged}
    if not app["deployed"]:
        call.print("Secrets are staged for the first deployment")
    elif call.has("--stage"):
        call.print("Secrets have been staged, but not set on VMs. Deploy or update machines in this app for the "
                   "secrets to take effect.")
    else:
        call.print("Updating existing machines in '%s' with rolling strategy\n✔ Machines updated" % app_name)
    return 0


def secrets_import(call: Call) -> int:
    app_name = _app_name(call)
    values = parse_secrets(call.record["stdin"] or "")
    if not values:
        raise Exit(1, "Error: requires at least one SECRET=VALUE pair")
    return _store_secrets(call, app_name, values)


def secrets_set(call: Call) -> int:
    app_name = _app_name(call)
    values = {}
    for pair in call.inv.positionals:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Exit(1, f"Error: Secrets must be provided as NAME=VALUE pairs ({pair} is invalid)")
        if value == "-":
            value = call.record["stdin"] or ""
            if len(value) > 64 * 1024:
                raise Exit(1, "Error: secret value from stdin is too large (max 64 KiB)")
        values[key] = value
    return _store_secrets(call, app_name, values)


def secrets_list(call: Call) -> int:
    app_name = _app_name(call)
    with call.state() as state:
        secrets = _app(state, app_name)["secrets"]
    rows = [{"name": k, "digest": v["digest"], "status": "Staged" if v["staged"] else "Deployed"}
            for k, v in sorted(secrets.items())]
    return call.answer(rows, ["NAME\tDIGEST\tSTATUS", *(f"{r['name']}\t{r['digest']}\t{r['status']}" for r in rows)])


def secrets_deploy(call: Call) -> int:
    app_name = _app_name(call)
    with call.state() as state:
        app = _app(state, app_name)
        if not app["deployed"]:
            raise Exit(1, f"Error: app {app_name} has not been deployed yet. Deploy it first with `fly deploy`")
        for secret in app["secrets"].values():
            secret["staged"] = False
    call.print("✔ Machines updated")
    return 0


def deploy(call: Call) -> int:
    workdir = (call.inv.positionals or [None])[0]
    if workdir and not call.path(workdir).is_dir():
        raise Exit(1, f"Error: stat {workdir}: no such file or directory")
    config = _load_config(call, workdir)
    app_name = _app_name(call, config)
    mounts = _mounts(config)
    strategy = call.flag("--strategy") or config.get("deploy", {}).get("strategy", "rolling")
    if strategy == "canary" and mounts:
        raise Exit(1, "Error: validation failed: canary deployment strategy is not supported when using mounted "
                      "volumes")
    if not call.flag("--image") and not config.get("build", {}).get("image"):
        base = call.path(workdir) if workdir else (_config_path(call).parent if call.flag("--config") else call.cwd)
        dockerfile = call.flag("--dockerfile") or config.get("build", {}).get("dockerfile") or "Dockerfile"
        if not (base / dockerfile).is_file():
            raise Exit(1, "Error: app does not have a Dockerfile or buildpacks configured. See "
                          "https://fly.io/docs/reference/configuration/#the-build-section")
    region = call.flag("--primary-region") or config.get("primary_region") or "iad"
    vm = (config.get("vm") or [{}])[0] if isinstance(config.get("vm"), list) else config.get("vm") or {}
    created = []
    base = call.path(workdir) if workdir else (_config_path(call).parent if call.flag("--config") else call.cwd)
    with call.state() as state:
        app = _app(state, app_name)
        registry = app.setdefault("registry", {})  # registry.fly.io/<app>:<label> -> digest of the code built
        image = call.flag("--image")
        if image:
            if image not in registry:
                raise Exit(1, f"Error: failed to fetch an image or build from source: {image}: not found")
        else:
            # flyctl internal/build/imgsrc/docker.go NewDeploymentTag: --image-label, else deployment-<ULID>
            release_number = app["releases"] + 1
            label = call.flag("--image-label") or f"deployment-{ident('', app_name, release_number, length=26).upper()}"
            image = f"registry.fly.io/{app_name}:{label}"
            registry[image] = _tree_digest(base)
        # deploy/machines.go: a first deploy is an app never deployed, with no Machines.
        first = not app["deployed"] and not app["machines"]
        for mount in mounts:
            source = mount.get("source")
            if any(v["name"] == source for v in app["volumes"]):
                continue
            if not first:
                raise Exit(1, f"Error: creating a new machine in group 'app' requires an unattached '{source}' "
                              f"volume. Create it with `fly volume create {source} -r {region} -n 1`")
            # deploy_first.go provisionVolumesOnFirstDeploy: primary_region, the Machine's guest.
            size = int(str(mount.get("initial_size", call.flag("--volume-initial-size") or "1")).rstrip("gb"))
            app["volumes"].append(_new_volume(app_name, source, region, size, len(app["volumes"]),
                                              mount.get("snapshot_retention"),
                                              {"size": vm.get("size"), "memory": vm.get("memory")}))
            created.append((size, source))
        if first and config.get("http_service") or first and config.get("services"):
            # deploy_first.go provisionIpsOnFirstDeploy: private with --flycast, none with --no-public-ips
            if call.has("--flycast"):
                app["ips"] = [{"type": "private_v6"}]
            elif not call.has("--no-public-ips"):
                app["ips"] = [{"type": "v6"}, {"type": "shared_v4"}]
        app["env"] = dict(config.get("env", {}))
        app["vm"] = config.get("vm")
        app["unreachable"] = _unreachable(state["fly"]["apps"], app["env"])
        state["fly"].setdefault("deploy_order", []).append(app_name)
        app["deployed"] = True
        app["status"] = "deployed"
        app["releases"] += 1
        app["image"], app["code"] = image, registry[image]  # what the Machine runs now
        app.setdefault("release_list", []).append({
            "ID": ident("", app_name, "release", app["releases"], length=12), "Version": app["releases"],
            "Stable": True, "InProgress": False, "Reason": "", "Description": "Release", "Status": "complete",
            "DeploymentStrategy": strategy, "Metadata": None, "User": {"ID": "", "Email": "fake@example.com", "Name": ""},
            "EvaluationID": "", "CreatedAt": "2026-08-22T10:00:00Z", "ImageRef": image})
        for secret in app["secrets"].values():
            secret["staged"] = False
        if not app["machines"]:  # --ha=false: one Machine per process group; later deploys update in place
            app["machines"] = [{"id": ident("", app_name, "machine", length=14), "state": "started",
                                "region": region, "config": {"metadata": {"fly_process_group": "app"}}}]
        for machine, volume in zip(app["machines"], app["volumes"]):
            volume["attached_machine_id"] = machine["id"]
            machine["config"]["mounts"] = [{"volume": volume["id"], "name": volume["name"],
                                            "path": (mounts[0] if mounts else {}).get("destination")}]
        machine = app["machines"][0]["id"]
        release = app["releases"]
    for size, source in created:
        call.print(f"Creating a {size} GB volume named '{source}' for process group 'app'. Use 'fly vol extend' "
                   "to increase its size")
    call.print("==> Verifying app config")
    call.print(f"Validating {_config_path(call, workdir).name}")
    call.print("✓ Configuration is valid")
    call.print("--> Verified app config")
    if call.flag("--image"):
        call.print(f"==> Building image\nSearching for image '{image}' remotely...\nimage found: img_fake")
    else:
        call.print(f"==> Building image\n==> Building image with Depot\n--> build:  (remote)\nimage: {image}")
    call.print("Watch your deployment at https://fly.io/apps/%s/monitoring" % app_name)
    if call.has("--detach"):
        call.print(f"--> v{release} deployed (detached)")
        return 0
    call.print(f"-------\nUpdating existing machines in '{app_name}' with {strategy} strategy\n-------")
    call.print(f" ✔ Machine {machine} [app] update finished: success")
    call.print("Checking DNS configuration for %s.fly.dev" % app_name)
    call.print(f"\nVisit your newly deployed app at https://{app_name}.fly.dev/\n")
    return 0


def releases(call: Call) -> int:
    """flyctl internal/command/apps/releases.go: the last 25, newest first; JSON is fly-go's
    Release struct (no json tags: Go field names)."""
    app_name = _app_name(call)
    with call.state() as state:
        listed = list(reversed(_app(state, app_name).get("release_list", [])))[:25]
    lines = ["VERSION\tSTATUS  \tDESCRIPTION\tUSER\tDATE" + ("\tDOCKER IMAGE" if call.has("--image") else "")]
    lines += [f"v{r['Version']}\t{r['Status']}\t{r['Description']}\t{r['User']['Email']}\t1h ago"
              + (f"\t{r['ImageRef']}" if call.has("--image") else "") for r in listed]
    return call.answer(listed, lines)


def _tree_digest(directory) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and ".streamdeploy" not in p.parts):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def logs(call: Call) -> int:
    app_name = _app_name(call)
    with call.state() as state:
        _app(state, app_name)
    call.print(f"2026-08-22T10:00:00Z app[{ident('', app_name, length=14)}] iad [info]INFO:     Application "
               "startup complete.")
    if not call.has("--no-tail"):
        while True:  # streams until interrupted, like the real one
            time.sleep(0.2)
    return 0


def config_validate(call: Call) -> int:
    config = _load_config(call)
    if not config:
        raise Exit(1, "Error: app config not found")
    _app_name(call, config)
    call.print("✓ Configuration is valid")
    return 0


HANDLERS = {
    (): root,
    ("version",): version,
    ("auth", "whoami"): whoami,
    ("apps", "create"): apps_create,
    ("apps", "list"): apps_list,
    ("status",): status,
    ("volumes", "list"): volumes_list,
    ("volumes", "create"): volumes_create,
    ("secrets", "import"): secrets_import,
    ("secrets", "set"): secrets_set,
    ("secrets", "list"): secrets_list,
    ("secrets", "deploy"): secrets_deploy,
    ("deploy",): deploy,
    ("releases",): releases,
    ("logs",): logs,
    ("config", "validate"): config_validate,
}

