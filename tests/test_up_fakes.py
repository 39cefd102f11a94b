"""`streamdeploy up` for every platform target, against the fake CLIs.

Each target's real plan runs through the real runner and the fakes, which parse argv
like the real CLIs and keep state. For each: every command line is one the CLI accepts,
the plan's commands run in the plan's order, secrets travel only on stdin or by name
(distinctive values are grepped for in every argv, every output and every file written),
and a second `up` creates nothing twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, assert_no_traceback, init_repository
from fakes import fake_clis, store  # noqa: F401  (fixture)
from fakes.platforms import digest
from fakes.platforms.fly import parse_secrets as fly_reads
from fakes.render_api import RenderAPI
from streamdeploy import loader
from streamdeploy.commands.up import make_plan

SECRETS = {
    "OPENAI_API_KEY": "sk-live-Q7vX2mN9-openai",
    "API_KEY": "apikey-Z9y8X7w6-shared",
    "ADMIN_PASSWORD": 'adm-"P4ss" #w0rd',
}


def project_from(example: str, tmp_path: Path) -> Path:
    """A copy of examples/<example>; the two-service example with examples/app beside it (it builds
    the API from ../app)."""
    ignore = shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__", ".venv")
    root = tmp_path / ("multi" if example == "multi" else "project")
    shutil.copytree(EXAMPLES / example, root, ignore=ignore)
    if example == "multi":
        shutil.copytree(EXAMPLES / "app", tmp_path / "app", ignore=ignore)
        init_repository(tmp_path)  # ../app is inside the project
    # examples/scaled describes the app of examples/app: `check` wants the files builds read.
    for service in loader.load(root / "streamdeploy.yaml").spec.services.values():
        install = root / service.build.context / service.build.install
        if not install.exists():
            source = EXAMPLES / "app" / service.build.install
            install.parent.mkdir(parents=True, exist_ok=True)
            install.write_text(source.read_text() if source.is_file() else "# the dependencies\n")
    return root


def git(root: Path, *args: str, env: dict) -> str:
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def ship(fakes, root: Path, target: str, *extra: str, env: dict | None = None):
    result = fakes.run("up", "--target", target, "--no-verify", *extra, cwd=root, env={**SECRETS, **(env or {})})
    assert_no_traceback(result)
    return result


def plan_for(root: Path, target: str):
    return make_plan(loader.load(root / "streamdeploy.yaml"), target)


def assert_secrets_stayed_hidden(fakes, root: Path, *results) -> None:
    values = list(SECRETS.values())
    for call in fakes.calls():
        for value in values:
            assert all(value not in arg for arg in call.argv), f"secret value on argv: {call.line}"
    for result in results:
        for value in values:
            assert value not in result.stdout and value not in result.stderr
    for path in root.rglob("*"):
        if path.is_file() and "node_modules" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(v in text for v in values), f"secret value written to {path}"


def assert_every_call_parsed(fakes) -> None:
    rejected = [(c.line, c.usage_error) for c in fakes.calls() if c.usage_error]
    assert not rejected, rejected


def assert_plan_order(fakes, plan) -> None:
    """The plan's commands ran in the plan's order (probes and readiness checks interleave)."""
    calls = [(c.binary, *c.argv) for c in fakes.calls()]
    position = 0
    unmatched = []
    for step in plan.steps:
        wanted = tuple(step.argv)
        later = [i for i in range(position, len(calls)) if calls[i] == wanted]
        if later:
            position = later[0] + 1
        elif wanted in calls:
            unmatched.append(wanted)  # it ran, but before a step that comes earlier in the plan
    assert not unmatched, f"out of plan order: {unmatched}"


# --- fly -----------------------------------------------------------------------------------


def test_fly_up_creates_the_app_and_volume_imports_secrets_on_stdin_and_deploys(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    first = ship(fake_clis, root, "fly")
    assert first.returncode == 0, first.stderr
    plan = plan_for(root, "fly")
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan)
    by_command = {" ".join(c.command): c for c in fake_clis.calls("fly")}
    assert fly_reads(by_command["secrets import"].stdin) == {k: SECRETS[k] for k in ("OPENAI_API_KEY", "API_KEY")}
    deploy = by_command["deploy"]
    assert deploy.exit == 0 and deploy.env["FLY_API_TOKEN"] and "--config" in deploy.argv
    app = fake_clis.state()["fly"]["apps"]["stream-gen-ui"]
    assert app["deployed"] and [v["name"] for v in app["volumes"]] == ["chroma_data"]
    assert {k: v["digest"] for k, v in app["secrets"].items()} == {
        "OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"]), "API_KEY": digest(SECRETS["API_KEY"])}
    assert "[3/6] Creating volume chroma_data (1 GB, iad, for a shared-cpu-1x Machine)" in first.stderr
    # F6: sized for the Machine, as flyctl's first deploy would have done it
    assert app["volumes"][0]["compute"] == {"size": "shared-cpu-1x", "memory": "512"}

    fake_clis.clear_calls()
    second = ship(fake_clis, root, "fly")
    assert second.returncode == 0, second.stderr
    names = [" ".join(c.command) for c in fake_clis.calls("fly")]
    assert "apps create" not in names and "volumes create" not in names
    assert second.stderr.count("already exists, skipping") == 2
    app = fake_clis.state()["fly"]["apps"]["stream-gen-ui"]
    assert len(app["volumes"]) == 1 and app["releases"] == 2
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_fly_up_refuses_to_deploy_an_app_split_into_several_databases(fake_clis, tmp_path):
    """F3: `fly scale count 2` adds a Machine with a new, empty volume (flyctl
    internal/command/scale/count_machines.go): two Chroma databases behind one address."""
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "fly").returncode == 0
    with store.state(fake_clis.home) as state:  # what `fly scale count 2` leaves
        app = state["fly"]["apps"]["stream-gen-ui"]
        app["machines"].append({"id": "e2865f0c9d4e18", "state": "started", "region": "iad",
                                "config": {"metadata": {"fly_process_group": "app"}}})
        app["volumes"].append({**app["volumes"][0], "id": "vol_second000000", "attached_machine_id": "e2865f0c9d4e18"})
    releases = fake_clis.state()["fly"]["apps"]["stream-gen-ui"]["releases"]
    result = ship(fake_clis, root, "fly")
    assert result.returncode == 1
    assert "runs 2 Machines" in result.stderr and "2 separate databases" in result.stderr
    assert "fly machines destroy" in result.stderr
    assert fake_clis.state()["fly"]["apps"]["stream-gen-ui"]["releases"] == releases  # nothing deployed


def test_fly_up_with_several_orgs_needs_the_org(fake_clis, tmp_path):
    """F10"""
    root = project_from("app", tmp_path)
    fake_clis.seed("fly", {"orgs": [{"slug": "personal", "type": "PERSONAL"}, {"slug": "acme", "type": "SHARED"}]})
    stuck = ship(fake_clis, root, "fly")
    assert stuck.returncode == 1 and "org slug must be specified" in stuck.stderr
    assert "targets.fly.org" in stuck.stderr
    description = root / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("region: iad}", "region: iad, org: acme}"))
    shipped = ship(fake_clis, root, "fly")
    assert shipped.returncode == 0, shipped.stderr
    assert fake_clis.state()["fly"]["apps"]["stream-gen-ui"]["org"] == "acme"


# --- railway ---------------------------------------------------------------------------------


def test_railway_iac_up_applies_the_config_sets_secrets_on_stdin_and_waits(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    first = ship(fake_clis, root, "railway")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    plan = plan_for(root, "railway")
    assert_plan_order(fake_clis, plan)
    sets = [c for c in fake_clis.calls("railway") if c.command == ["variable", "set"] and "--stdin" in c.argv]
    assert {c.argv[2]: c.stdin for c in sets} == SECRETS  # one secret per call, the value on stdin
    ups = [c for c in fake_clis.calls("railway") if c.command == ["up"]]
    assert ups and all("--ci" in c.argv or c.env["CI"] for c in ups)  # waits for the deploy's verdict
    [project] = fake_clis.state()["railway"]["projects"].values()
    services = {s["name"]: s for s in project["services"].values()}
    assert set(services) == {"api", "admin"}
    assert [v["mountPath"] for v in services["api"]["volumes"]] == ["/data/chroma"]
    assert services["api"]["variables"]["OPENAI_API_KEY"] == f"sha256:{digest(SECRETS['OPENAI_API_KEY'])}"

    second = ship(fake_clis, root, "railway")
    assert second.returncode == 0, second.stderr
    [project] = fake_clis.state()["railway"]["projects"].values()  # still one project
    services = {s["name"]: s for s in project["services"].values()}
    assert set(services) == {"api", "admin"} and len(services["api"]["volumes"]) == 1
    assert sum(1 for c in fake_clis.calls("railway") if c.command == ["init"]) == 1
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def railway_service(fakes, name: str) -> dict:
    [project] = fakes.state()["railway"]["projects"].values()
    return next(s for s in project["services"].values() if s["name"] == name)


def change_railway(fakes, name: str, change) -> None:
    """Change what Railway holds, as a person in the dashboard would."""
    with store.state(fakes.home) as state:
        [project] = state["railway"]["projects"].values()
        change(next(s for s in project["services"].values() if s["name"] == name))


def test_railway_up_typed_in_a_shell_gets_through_the_sdk_version_check(fake_clis, tmp_path):
    """R1: bash and zsh export `_` as the command typed, here streamdeploy; the IaC SDK runs
    `$_ --version` when the CLI evaluates railway.ts (npm railway@3.11.0 dist/iac/index.js)."""
    root = project_from("app", tmp_path)
    typed = {"_": str(REPO / ".venv" / "bin" / "streamdeploy")}
    result = ship(fake_clis, root, "railway", env=typed)
    assert result.returncode == 0, result.stderr
    versions = [c for c in fake_clis.calls("railway") if c.argv == ["--version"]]
    assert versions, "the SDK's guard ran the railway CLI (found through `_`)"
    assert "requires Railway CLI 5.42.1" not in result.stderr
    # The fake is what it models: with `_` left as streamdeploy, the evaluation fails.
    direct = fake_clis.cli("railway", "config", "apply", "--file", ".railway/railway.ts", "--yes", cwd=root,
                           env=typed)
    assert direct.returncode == 1 and "requires Railway CLI 5.42.1 or newer" in direct.stderr


def test_railway_up_stops_before_step_1_when_node_is_too_old(fake_clis, tmp_path):
    """R2: `railway config` runs node --experimental-strip-types, new in Node 22.6 (Debian 12 has 18)."""
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "railway").returncode == 0
    fake_clis.seed("node", {"version": "v18.20.4"})
    fake_clis.clear_calls()
    result = ship(fake_clis, root, "railway")
    assert result.returncode == 3, result.stderr
    assert "Node.js 18.20.4" in result.stderr and "older than 22.6" in result.stderr
    assert "nvm install 22" in result.stderr
    assert not [c for c in fake_clis.calls("railway") if c.command in (["init"], ["config", "apply"])]
    doctor = fake_clis.run("doctor", "--target", "railway", cwd=root)
    assert doctor.returncode == 3 and "older than 22.6" in doctor.stdout + doctor.stderr
    # and the fake node is as strict as the real one
    assert "bad option: --experimental-strip-types" in fake_clis.cli(
        "railway", "config", "plan", "--file", ".railway/railway.ts", cwd=root).stderr


def test_railway_second_up_keeps_what_railway_holds(fake_clis, tmp_path):
    """R3, R8: Railway placed the volume in a region, it was grown in the dashboard, and a variable
    was added there. Re-running `up` must not move, shrink or delete any of it (each would be a
    destructive change that `config apply --yes` refuses)."""
    root = project_from("app", tmp_path)
    first = ship(fake_clis, root, "railway")
    assert first.returncode == 0, first.stderr
    [volume] = railway_service(fake_clis, "api")["volumes"]
    assert volume["region"] == "us-west2"  # Railway's placement: the file named none

    def in_the_dashboard(service):
        service["volumes"][0]["sizeMB"] = 5000
        service["variables"]["SENTRY_DSN"] = "https://key@sentry.example/1"

    change_railway(fake_clis, "api", in_the_dashboard)
    fake_clis.clear_calls()
    second = ship(fake_clis, root, "railway")
    assert second.returncode == 0, second.stderr
    assert "Destructive" not in second.stderr
    api = railway_service(fake_clis, "api")
    assert api["volumes"] == [{**volume, "sizeMB": 5000}]
    assert api["variables"]["SENTRY_DSN"] == "https://key@sentry.example/1"
    assert api["redeploys"] == 0  # nothing changed in the config: only `railway up` deployed
    text = (root / ".railway" / "railway.ts").read_text()
    assert 'sizeMB: 5000,\n    region: "us-west2",' in text and "SENTRY_DSN: preserve()," in text
    assert "keeps 1 variable set outside the description (SENTRY_DSN)" in second.stderr
    assert "changes nothing and deploys nothing" in second.stderr
    reads = [c for c in fake_clis.calls("railway") if c.command == ["config", "plan"]]
    assert reads[0].argv[3].endswith("railway_held.mjs")  # read before rendering, with no SDK
    assert_every_call_parsed(fake_clis)


def test_railway_up_says_which_changes_redeploy(fake_clis, tmp_path):
    """R7: a variable or deploy change makes `config apply` redeploy, and `railway up` deploys again."""
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "railway").returncode == 0
    description = root / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("ENVIRONMENT: production", "ENVIRONMENT: staging"))
    second = ship(fake_clis, root, "railway")
    assert second.returncode == 0, second.stderr
    assert "Update variable api.ENVIRONMENT  (redeploys)" in second.stderr
    assert "`railway up` deploys it again" in second.stderr
    api = railway_service(fake_clis, "api")
    assert api["variables"]["ENVIRONMENT"] == "staging" and api["redeploys"] == 1


def test_railway_up_never_deletes_a_service_left_out_of_the_description(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    assert ship(fake_clis, root, "railway").returncode == 0
    description = root / "streamdeploy.yaml"
    text = description.read_text()
    description.write_text(text[:text.index("  admin:")] + text[text.index("stores:"):] if "stores:" in text
                           else text[:text.index("  admin:")])
    result = ship(fake_clis, root, "railway")
    assert result.returncode == 1
    assert "destructive: Delete service admin" in result.stderr
    assert "never applies a change that deletes" in result.stderr
    assert railway_service(fake_clis, "admin")  # still there
    assert not [c for c in fake_clis.calls("railway") if c.command == ["config", "apply"] and c.exit == 0][1:]


def test_the_fake_railway_refuses_a_destructive_apply_like_the_real_one(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "railway").returncode == 0
    iac = root / ".railway" / "railway.ts"
    iac.write_text(iac.read_text().replace("sizeMB: 1000,", "sizeMB: 500,"))
    refused = fake_clis.cli("railway", "config", "apply", "--file", ".railway/railway.ts", "--yes", cwd=root)
    assert refused.returncode == 1
    assert "Destructive Railway configuration changes require explicit confirmation" in refused.stderr
    assert railway_service(fake_clis, "api")["volumes"][0]["sizeMB"] == 1000
    forced = fake_clis.cli("railway", "config", "apply", "--file", ".railway/railway.ts", "--yes",
                           "--confirm-destructive", cwd=root)
    assert forced.returncode == 0 and railway_service(fake_clis, "api")["volumes"][0]["sizeMB"] == 500


def test_railway_up_names_the_workspace_when_there_are_several(fake_clis, tmp_path):
    """R4: `railway init` needs --workspace when not interactive and the account has several."""
    root = project_from("app", tmp_path)
    fake_clis.seed("railway", {"workspaces": [{"id": "ws-me", "name": "Me"}, {"id": "ws-team", "name": "Acme"}]})
    stuck = ship(fake_clis, root, "railway")
    assert stuck.returncode == 1
    assert "--workspace required in non-interactive mode" in stuck.stderr
    assert "targets.railway.workspace" in stuck.stderr
    description = root / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("format: iac}", "format: iac, workspace: Acme}"))
    shipped = ship(fake_clis, root, "railway")
    assert shipped.returncode == 0, shipped.stderr
    [project] = fake_clis.state()["railway"]["projects"].values()
    assert project["workspace"] == "ws-team"


def test_railway_up_schedules_daily_backups_of_the_volume(fake_clis, tmp_path):
    """R10"""
    root = project_from("app", tmp_path)
    description = root / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("format: iac}", "format: iac, backups: [daily]}"))
    assert ship(fake_clis, root, "railway").returncode == 0
    assert railway_service(fake_clis, "api")["volumes"][0]["backupSchedules"] == ["DAILY"]
    again = ship(fake_clis, root, "railway")
    assert again.returncode == 0 and "changes nothing" in again.stderr


# Railway read railway.toml until 2026-12-01; the legacy path is judged on a day before that.
BEFORE_RAILWAY_CUTOFF = {"STREAMDEPLOY_TODAY": "2026-11-30"}


def test_railway_toml_up_adds_the_volume_once(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("format: iac", "format: toml"))
    # The legacy path links an existing project and service (made in the dashboard or by `railway add`).
    fake_clis.seed("railway", {"projects": {"p-1": {"id": "p-1", "name": "stream-gen-ui",
                                                    "environments": {"production": "env-1"}, "applied": None,
                                                    "services": {"s-1": {"id": "s-1", "name": "api", "variables": {},
                                                                         "volumes": [], "deployments": [],
                                                                         "domain": None, "redeploys": 0}}}}})
    first = ship(fake_clis, root, "railway", env=BEFORE_RAILWAY_CUTOFF)
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    second = ship(fake_clis, root, "railway", env=BEFORE_RAILWAY_CUTOFF)
    assert second.returncode == 0, second.stderr
    adds = [c for c in fake_clis.calls("railway") if c.command == ["volume", "add"]]
    assert len(adds) == 1
    service = fake_clis.state()["railway"]["projects"]["p-1"]["services"]["s-1"]
    assert len(service["volumes"]) == 1 and len(service["deployments"]) == 2
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_railway_toml_up_is_refused_after_the_cutoff(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("format: iac", "format: toml"))
    result = ship(fake_clis, root, "railway", env={"STREAMDEPLOY_TODAY": "2026-12-01"})
    assert result.returncode == 1
    assert "stopped reading railway.toml on 2026-12-01" in result.stderr
    assert "format: iac" in result.stderr
    assert not fake_clis.calls("railway"), "nothing may ship once Railway no longer reads the file"


# --- render ----------------------------------------------------------------------------------


@pytest.fixture
def render_api(fake_clis):
    """Render's REST API on loopback, serving the fake render CLI's state."""
    server = RenderAPI(fake_clis.home)
    yield server
    server.close()


def pushed_repository(fakes, root: Path, target: str, repo: Path | None = None) -> dict:
    """A git repository (``repo``, default the project itself) holding the files rendered for
    `target`, pushed to a local remote, as a clone would know it (origin/HEAD is main)."""
    env = fakes.env()
    repo = repo or root
    rendered = fakes.run("render", "--target", target, cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "--bare", "-q", "-b", "main", str(remote), env=env)
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "streamdeploy render", env=env)
    git(repo, "remote", "add", "origin", str(remote), env=env)
    git(repo, "push", "-q", "-u", "origin", "main", env=env)
    git(repo, "remote", "set-head", "origin", "--auto", env=env)
    return env


def render_repository(fakes, root: Path, repo: Path | None = None, services: dict | None = None) -> dict:
    """A pushed git repository holding the rendered files, and the services the Blueprint made
    (id -> name), following main in that repository, with the OPENAI_API_KEY it asked for."""
    env = pushed_repository(fakes, root, "render", repo)
    remote = (repo or root).parent / "remote.git"
    services = services or {"srv-d2abc3def4ghi5jkl6mn": "stream-gen-ui-api"}
    fakes.seed("render", {"services": {sid: {
        "name": name, "type": "web_service", "repo": str(remote), "branch": "main",
        "env_vars": {"OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"])}} for sid, name in services.items()}})
    return env


def ship_render(fakes, root: Path, api, env: dict | None = None):
    return ship(fakes, root, "render", env={"RENDER_HOST": api.url, **(env or {})})


def render_service(fakes) -> dict:
    return fakes.state()["render"]["services"]["srv-d2abc3def4ghi5jkl6mn"]


def test_render_up_validates_checks_git_and_deploys_the_blueprint_service(fake_clis, render_api, tmp_path):
    root = project_from("app", tmp_path)
    env = render_repository(fake_clis, root)
    head = git(root, "rev-parse", "HEAD", env=env).strip()
    first = ship_render(fake_clis, root, render_api)
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    calls = [" ".join(c.command) for c in fake_clis.calls("render")]
    assert calls.index("blueprints validate") < calls.index("deploys create")
    [deploy] = [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]
    assert deploy.argv[:5] == ["deploys", "create", "srv-d2abc3def4ghi5jkl6mn", "--commit", head]  # D2
    assert "--confirm" in deploy.argv and "--wait" in deploy.argv

    second = ship_render(fake_clis, root, render_api)
    assert second.returncode == 0, second.stderr
    deploys = render_service(fake_clis)["deploys"]
    assert [(d["status"], d["commit"]) for d in deploys] == [("deactivated", head), ("live", head)]
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_render_up_sets_secrets_added_after_the_blueprint_through_the_api(fake_clis, render_api, tmp_path):
    """D1: `sync: false` asks only when the Blueprint is created; API_KEY came later and was never
    set. `up` sets what it is given, by name, the value in the request body, before the deploy."""
    root = project_from("app", tmp_path)
    render_repository(fake_clis, root)
    first = ship_render(fake_clis, root, render_api)
    assert first.returncode == 0, first.stderr
    service = render_service(fake_clis)
    assert service["env_vars"] == {k: digest(SECRETS[k]) for k in ("OPENAI_API_KEY", "API_KEY")}
    assert service["deploys"][-1]["env_vars"] == ["API_KEY", "OPENAI_API_KEY"]  # set before it deployed
    puts = [r for r in render_api.requests if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == ["/v1/services/srv-d2abc3def4ghi5jkl6mn/env-vars/OPENAI_API_KEY",
                                         "/v1/services/srv-d2abc3def4ghi5jkl6mn/env-vars/API_KEY"]
    assert all(r["body_keys"] == ["value"] for r in puts)
    assert_secrets_stayed_hidden(fake_clis, root, first)

    kept = ship_render(fake_clis, root, render_api, env={"API_KEY": ""})  # not given: Render has it
    assert kept.returncode == 0, kept.stderr
    assert "API_KEY: not given here; kept as it is on Render" in kept.stderr


def test_render_up_names_a_secret_that_is_set_nowhere(fake_clis, render_api, tmp_path):
    root = project_from("app", tmp_path)
    render_repository(fake_clis, root)
    result = ship_render(fake_clis, root, render_api, env={"API_KEY": ""})
    assert result.returncode == 1
    assert "not set on Render and not given here: API_KEY" in result.stderr
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]


def test_render_up_refuses_a_commit_that_is_not_on_the_blueprints_branch(fake_clis, render_api, tmp_path):
    """D2: on a pushed feature branch the old check (HEAD is in @{u}) passed, and Render deployed
    main's head while `up` said it shipped this commit."""
    root = project_from("app", tmp_path)
    env = render_repository(fake_clis, root)
    git(root, "switch", "-q", "-c", "feature", env=env)
    (root / "NOTES.md").write_text("a change on a branch\n")
    git(root, "add", "NOTES.md", env=env)
    git(root, "commit", "-q", "-m", "feature work", env=env)
    git(root, "push", "-q", "-u", "origin", "feature", env=env)
    result = ship_render(fake_clis, root, render_api)
    assert result.returncode == 1
    assert "the branch Render deploys" in result.stderr and "targets.render.branch" in result.stderr
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]
    # Without --commit the fake builds the branch head, as Render does: not this commit.
    plain = fake_clis.cli("render", "deploys", "create", "srv-d2abc3def4ghi5jkl6mn", "--wait", "--confirm")
    assert plain.returncode == 0
    assert render_service(fake_clis)["deploys"][-1]["commit"] == git(root, "rev-parse", "main", env=env).strip()


def test_render_up_stops_when_the_work_is_not_pushed(fake_clis, render_api, tmp_path):
    root = project_from("app", tmp_path)
    env = render_repository(fake_clis, root)
    (root / "README.md").write_text("a change\n")
    git(root, "add", "README.md", env=env)
    git(root, "commit", "-q", "-m", "not pushed", env=env)
    result = ship_render(fake_clis, root, render_api)
    assert result.returncode == 1
    assert "push" in result.stderr
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]


# --- docker and compose ------------------------------------------------------------------------


def test_docker_up_builds_and_runs_with_secrets_by_name_and_replaces_the_container(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    first = ship(fake_clis, root, "docker")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "docker"))
    [container] = fake_clis.state()["docker"]["containers"].values()
    assert container["EnvFromCaller"] == {"OPENAI_API_KEY": True, "API_KEY": True}  # `-e NAME`, value from env
    second = ship(fake_clis, root, "docker")
    assert second.returncode == 0, second.stderr
    docker = fake_clis.state()["docker"]
    assert len(docker["containers"]) == 1 and len(docker["networks"]) == 1
    assert list(docker["volumes"]) == ["stream-gen-ui_chroma_data"]
    assert sum(1 for c in fake_clis.calls("docker") if c.command == ["network", "create"]) == 1
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_compose_up_passes_secrets_by_name_and_rolls_new_code_keeping_the_volume(fake_clis, tmp_path):
    root = project_from("app", tmp_path)  # a fresh project: up writes the Dockerfiles compose builds
    first = ship(fake_clis, root, "compose")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [project] = fake_clis.state()["docker"]["projects"].values()
    [container] = project["containers"].values()
    assert container["EnvFromCaller"] == {"OPENAI_API_KEY": True, "API_KEY": True}
    built = container["ImageId"]
    second = ship(fake_clis, root, "compose")
    assert second.returncode == 0
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert project["containers"]["stream-gen-ui-api-1"]["ImageId"] == built and project["ups"] == 2
    change_code(root)
    third = ship(fake_clis, root, "compose")
    assert third.returncode == 0, third.stderr
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert project["containers"]["stream-gen-ui-api-1"]["ImageId"] != built  # the new code runs
    assert project["volumes"] == ["stream-gen-ui_chroma_data"] and not project.get("volumes_deleted")
    assert "stream-gen-ui_chroma_data" in fake_clis.state()["docker"]["volumes"]
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_compose_up_of_two_services_with_caddy_in_front(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("targets:\n", "targets:\n  compose: {domain: app.example.com}\n"))
    first = ship(fake_clis, root, "compose")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [project] = fake_clis.state()["docker"]["projects"].values()
    callers = {c["service"]: c["EnvFromCaller"] for c in project["containers"].values()}
    assert callers == {"api": {"OPENAI_API_KEY": True, "API_KEY": True},
                       "admin": {"ADMIN_PASSWORD": True, "API_KEY": True}, "caddy": {}}
    assert (root / "Caddyfile").is_file()
    assert plan_for(root, "compose").url == "https://app.example.com"
    second = ship(fake_clis, root, "compose")
    assert second.returncode == 0
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert len(project["containers"]) == 3 and project["ups"] == 2
    assert {"stream-gen-ui_caddy_data", "stream-gen-ui_chroma_data"} <= set(project["volumes"])
    assert not project.get("volumes_deleted")
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_a_plain_docker_compose_up_without_the_secrets_stops(fake_clis, tmp_path):
    """C3: the file itself requires them, so `docker compose up` run by hand fails fast."""
    root = project_from("app", tmp_path)
    assert fake_clis.run("render", "--target", "compose", cwd=root).returncode == 0
    bare = fake_clis.cli("docker", "compose", "-f", "compose.yaml", "up", "--detach", cwd=root,
                         env={"API_KEY": SECRETS["API_KEY"]})
    assert bare.returncode == 1 and "OPENAI_API_KEY" in bare.stderr
    assert not fake_clis.state().get("docker", {}).get("projects")


# --- kubernetes ------------------------------------------------------------------------------


def cluster(fakes, *, gateway: str = "default/gateway", pull_secret: str | None = None,
            registry: str | None = None) -> None:
    """A cluster with a Gateway (what the platform team runs), and a registry login here."""
    namespace, name = gateway.split("/")
    objects = {f"Gateway/{namespace}/{name}": {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                               "metadata": {"name": name, "namespace": namespace}}}
    if pull_secret:
        ns, secret = pull_secret.split("/")
        objects[f"Secret/{ns}/{secret}"] = {"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"name": secret, "namespace": ns}}
    fakes.seed("kubectl", {"objects": objects, "namespaces": ["default", "kube-system", "kube-public", namespace]})
    if registry:
        fakes.seed("docker", {"logins": {registry: {"username": "ci"}}})


def deployment(fakes, namespace: str, name: str = "api") -> dict:
    return fakes.state()["kubectl"]["objects"][f"Deployment/{namespace}/{name}"]


def rollout(fakes, namespace: str, kind: str = "Deployment", name: str = "api") -> dict:
    return fakes.state()["kubectl"]["rollouts"][f"{kind}/{namespace}/{name}"]


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def change_code(root: Path) -> None:
    app = root / "app" / "main.py"
    app.parent.mkdir(exist_ok=True)
    app.write_text((app.read_text() if app.exists() else "") + "\n# a code change\n")


def assert_nothing_deleted(fakes) -> None:
    assert not [c.line for c in fakes.calls("kubectl") if c.command and c.command[0] == "delete"]


def test_kubernetes_up_builds_pushes_and_rolls_out_new_code_only(fake_clis, tmp_path):
    """K2, K14: registry + content tag; the second up rolls nothing, a code change rolls a new image."""
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull", registry="ghcr.io")
    first = ship(fake_clis, root, "kubernetes")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "kubernetes"))
    ns = "stream-gen-ui"
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects[f"Secret/{ns}/api-secrets"]["dataDigests"] == {
        "API_KEY": digest(SECRETS["API_KEY"]), "OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"])}
    live = image_of(deployment(fake_clis, ns))
    assert live.startswith("ghcr.io/example/stream-gen-ui-api:")
    assert fake_clis.state()["docker"]["registry"].keys() == {live}  # what runs is what was pushed
    assert rollout(fake_clis, ns)["images"] == [[live]]
    claim_template = objects[f"StatefulSet/{ns}/chroma"]["spec"]["volumeClaimTemplates"]

    second = ship(fake_clis, root, "kubernetes")
    assert second.returncode == 0, second.stderr
    assert image_of(deployment(fake_clis, ns)) == live
    assert rollout(fake_clis, ns)["revision"] == 1 and rollout(fake_clis, ns)["images"] == [[live]]  # nothing rolled

    change_code(root)
    # The committed manifests name no tag: new code is no drift for CI's and pre-commit's check.
    check = fake_clis.run("render", "--check", "--target", "kubernetes", cwd=root)
    assert check.returncode == 0, check.stderr
    third = ship(fake_clis, root, "kubernetes")
    assert third.returncode == 0, third.stderr
    new = image_of(deployment(fake_clis, ns))
    assert new != live and new in fake_clis.state()["docker"]["registry"]
    assert rollout(fake_clis, ns)["revision"] == 2 and rollout(fake_clis, ns)["images"][-1] == [new]
    assert "differs" not in third.stderr and "-k .streamdeploy/kubernetes" in " ".join(
        c.line for c in fake_clis.calls("kubectl"))
    fourth = ship(fake_clis, root, "kubernetes")
    assert fourth.returncode == 0 and rollout(fake_clis, ns)["revision"] == 2  # unchanged: nothing rolls
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects[f"StatefulSet/{ns}/chroma"]["spec"]["volumeClaimTemplates"] == claim_template  # data kept
    assert rollout(fake_clis, ns, "StatefulSet", "chroma")["revision"] == 1  # the store was not restarted
    assert_nothing_deleted(fake_clis)
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_kubernetes_up_without_a_registry_builds_for_a_local_cluster_and_keeps_the_claim(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    first = ship(fake_clis, root, "kubernetes")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert not [c for c in fake_clis.calls("docker") if c.command == ["push"]]
    live = image_of(deployment(fake_clis, "default"))
    assert live.startswith("stream-gen-ui-api:") and not live.endswith(":latest")
    claim = fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOncePod"]
    second = ship(fake_clis, root, "kubernetes")
    assert second.returncode == 0, second.stderr
    assert rollout(fake_clis, "default")["revision"] == 1
    (root / "app" / "main.py").write_text((root / "app" / "main.py").read_text() + "\n# new code\n")
    third = ship(fake_clis, root, "kubernetes")
    assert third.returncode == 0, third.stderr
    assert image_of(deployment(fake_clis, "default")) != live
    assert rollout(fake_clis, "default")["revision"] == 2
    assert fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"] == claim
    assert_nothing_deleted(fake_clis)
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_kubernetes_push_without_a_registry_login_stops_before_the_cluster(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull")  # no `docker login`
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "docker login ghcr.io" in result.stderr
    assert not [c for c in fake_clis.calls("kubectl") if c.command == ["apply"]]


def test_kubernetes_up_stops_when_the_gateway_is_missing(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    cluster(fake_clis, gateway="default/other")
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "targets.kubernetes.gateway" in result.stderr and "kubectl get gateways -A" in result.stderr
    assert not [c for c in fake_clis.calls("kubectl") if c.command == ["apply"] and "-k" in c.argv]
    no_api = ship(fake_clis, root, "kubernetes", env={"FAKE_KUBE_NO_GATEWAY_API": "1"})
    assert no_api.returncode == 1 and "ingress_class" in no_api.stderr


@pytest.mark.parametrize("cluster_env,words", [
    ({"FAKE_KUBE_REMOTE": "1"}, ("ImagePullBackOff", "cannot pull the image")),  # K2: no registry, remote nodes
    ({"FAKE_KUBE_NO_DEFAULT_STORAGECLASS": "1"}, ("targets.kubernetes.storage_class", "kubectl get storageclass")),  # K5
])
def test_kubernetes_a_stalled_rollout_says_why_and_what_to_set(fake_clis, tmp_path, cluster_env, words):
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    result = ship(fake_clis, root, "kubernetes", env=cluster_env)
    assert result.returncode == 1
    assert all(word in result.stderr for word in words)


def test_kubernetes_up_does_not_fight_an_autoscaler(fake_clis, tmp_path):
    """K8: replicas an HPA owns are never taken back silently; with `autoscale` they are left to it."""
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull", registry="ghcr.io")
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    hpa = {".spec.replicas": {"value": 7, "manager": "kube-controller-manager"}}
    fake_clis.seed("kubectl", {"objects": {"Deployment/stream-gen-ui/api": {"_overrides": hpa}}})
    fought = ship(fake_clis, root, "kubernetes")
    assert fought.returncode == 1
    assert 'conflict with "kube-controller-manager"' in fought.stderr and ".spec.replicas" in fought.stderr
    assert "targets.kubernetes.autoscale" in fought.stderr
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("image_pull_secret: ghcr-pull}",
                                                         "image_pull_secret: ghcr-pull, autoscale: {max: 10}}"))
    settled = ship(fake_clis, root, "kubernetes")
    assert settled.returncode == 0, settled.stderr
    live = deployment(fake_clis, "stream-gen-ui")
    assert "replicas" not in live["spec"] and live["_overrides"] == hpa  # the HPA keeps its 7
    assert "HorizontalPodAutoscaler/stream-gen-ui/api" in fake_clis.state()["kubectl"]["objects"]


def test_kubernetes_changing_a_claims_access_mode_is_refused_and_explained(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text + "  kubernetes: {volume_access: ReadWriteOnce}\n")
    cluster(fake_clis)
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    (root / "streamdeploy.yaml").write_text(text)  # back to the default ReadWriteOncePod
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "spec is immutable after creation" in result.stderr and "volume_access" in result.stderr
    claim = fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # the claim, and its data, untouched


def test_kubernetes_up_refuses_a_cluster_older_than_the_manifests_need(fake_clis, tmp_path):
    """K3: preStop.sleep needs 1.30; `up` stops before step 1 (exit 3), `doctor` says the same."""
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    old = {"FAKE_KUBE_SERVER_VERSION": "1.29.6"}
    result = ship(fake_clis, root, "kubernetes", env=old)
    assert result.returncode == 3
    assert "Kubernetes 1.29" in result.stderr and "1.30 or newer" in result.stderr
    assert not [c for c in fake_clis.calls("docker") if c.command == ["build"]]
    doctor = fake_clis.run("doctor", "--target", "kubernetes", cwd=root, env=old)
    assert doctor.returncode == 3 and "1.30 or newer" in doctor.stdout + doctor.stderr
    fine = fake_clis.run("doctor", "--target", "kubernetes", cwd=root)
    assert "cluster 1.35" in fine.stdout


# --- cloud run ---------------------------------------------------------------------------------


def change_env(root: Path, value: str) -> None:
    path = root / "streamdeploy.yaml"
    text = path.read_text(encoding="utf-8")
    assert "ENVIRONMENT: production" in text
    path.write_text(text.replace("ENVIRONMENT: production", f"ENVIRONMENT: {value}"), encoding="utf-8")


def test_cloudrun_up_pushes_secrets_on_stdin_builds_and_rolls_out_the_built_digest(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    first = ship(fake_clis, root, "cloudrun")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "cloudrun"))
    project = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]
    assert list(project["repositories"]) == ["europe-west1/streamdeploy"]
    assert {k: v["versions"] for k, v in project["secrets"].items()} == {
        "stream-gen-ui-OPENAI_API_KEY": [digest(SECRETS["OPENAI_API_KEY"])],
        "stream-gen-ui-API_KEY": [digest(SECRETS["API_KEY"])]}
    service = project["services"]["europe-west1/stream-gen-ui-api"]
    image = service["template"]["spec"]["containers"][0]["image"]
    built = project["images"]["europe-west1-docker.pkg.dev/stream-gen-ui-demo/streamdeploy/stream-gen-ui-api"]
    assert image.endswith("@" + built)  # the digest Cloud Build pushed, not the mutable tag
    assert service["revisions"] == ["stream-gen-ui-api-00001"]
    assert service["iam"] == [{"members": ["allUsers"], "role": "roles/run.invoker"}]
    replace = next(c for c in fake_clis.calls("gcloud") if c.command == ["run", "services", "replace"])
    assert replace.argv[3] == "-" and "--region=europe-west1" in replace.argv

    # Second up, nothing changed: no new repository or secret, no new revision (same template).
    fake_clis.clear_calls()
    second = ship(fake_clis, root, "cloudrun")
    assert second.returncode == 0, second.stderr
    names = [" ".join(c.command) for c in fake_clis.calls("gcloud")]
    assert "artifacts repositories create" not in names and "secrets create" not in names
    service = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]["services"][
        "europe-west1/stream-gen-ui-api"]
    assert service["revisions"] == ["stream-gen-ui-api-00001"]

    # New code: the image digest changes, so the template does, so a new revision serves.
    (root / "main.py").write_text("print('v2')\n")  # examples/scaled ships only its description
    third = ship(fake_clis, root, "cloudrun")
    assert third.returncode == 0, third.stderr
    # A changed description: rendered again, rolled out again.
    change_env(root, "staging")
    fourth = ship(fake_clis, root, "cloudrun")
    assert fourth.returncode == 0, fourth.stderr
    service = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]["services"][
        "europe-west1/stream-gen-ui-api"]
    assert service["revisions"] == [f"stream-gen-ui-api-0000{n}" for n in (1, 2, 3)]
    env = {e["name"]: e.get("value") for e in service["template"]["spec"]["containers"][0]["env"]}
    assert env["ENVIRONMENT"] == "staging" and env["CHROMA_HOST"] == "chroma.example.com"
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third, fourth)


def test_cloudrun_up_refuses_the_embedded_example_before_any_call(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    result = ship(fake_clis, root, "cloudrun")
    assert result.returncode == 2
    assert "store mode" in result.stderr and "targets.cloudrun.store_urls" in result.stderr
    assert not fake_clis.calls("gcloud")


# --- digitalocean ------------------------------------------------------------------------------


def test_digitalocean_up_creates_then_updates_the_app_with_secrets_only_in_the_request(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    env = pushed_repository(fake_clis, root, "digitalocean")
    first = ship(fake_clis, root, "digitalocean")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    create = next(c for c in fake_clis.calls("doctl") if c.command == ["apps", "create"])
    assert "--upsert" in create.argv and "--spec" in create.argv and create.argv[create.argv.index("--spec") + 1] == "-"
    [app] = fake_clis.state()["doctl"]["apps"].values()
    assert app["secrets"] == {"api.OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"]),
                              "api.API_KEY": digest(SECRETS["API_KEY"])}
    assert app["spec"]["services"][0]["instance_count"] == 3 and app["spec"]["disable_edge_cache"] is True
    assert len(app["deployments"]) == 1

    second = ship(fake_clis, root, "digitalocean")
    assert second.returncode == 0, second.stderr
    apps = fake_clis.state()["doctl"]["apps"]
    assert len(apps) == 1  # updated, not created twice
    [app] = apps.values()
    assert len(app["deployments"]) == 2 and app["deployments"][-1]["cause"] == "sources"  # --update-sources

    change_env(root, "staging")
    rendered = fake_clis.run("render", "--target", "digitalocean", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    git(root, "commit", "-q", "-am", "staging", env=env)
    git(root, "push", "-q", env=env)
    third = ship(fake_clis, root, "digitalocean")
    assert third.returncode == 0, third.stderr
    [app] = fake_clis.state()["doctl"]["apps"].values()
    envs = {e["key"]: e.get("value") for e in app["spec"]["services"][0]["envs"]}
    assert envs["ENVIRONMENT"] == "staging" and app["deployments"][-1]["cause"] == "spec"
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_digitalocean_fake_refuses_an_unknown_key_like_doctl(fake_clis, tmp_path):
    spec = tmp_path / "app.yaml"
    spec.write_text("name: x\nregion: nyc\nservices:\n- name: api\n  volumes: []\n", encoding="utf-8")
    result = fake_clis.cli("doctl", "apps", "create", "--spec", str(spec))
    if "unknown field" not in result.stderr:
        pytest.skip("the published app spec schema is not present")
    assert result.returncode == 1 and 'unknown field "volumes"' in result.stderr


def test_digitalocean_up_refuses_the_embedded_example(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    result = ship(fake_clis, root, "digitalocean")
    assert result.returncode == 2 and "store mode" in result.stderr
    assert not fake_clis.calls("doctl")


# --- fargate -----------------------------------------------------------------------------------


def seed_aws_secrets(fakes) -> None:
    fakes.seed("terraform", {"secrets": ["stream-gen-ui/OPENAI_API_KEY", "stream-gen-ui/API_KEY"]})


def terraform_changes(fakes) -> list[dict]:
    return fakes.state()["terraform"]["applies"][-1]["changes"]


def changed(changes: list[dict], *actions: str) -> set[str]:
    return {c["address"] for c in changes if c["change"]["actions"] == list(actions)}


@pytest.mark.parametrize("example", ["app", "scaled"])
def test_fargate_up_plans_then_applies_that_plan_and_keeps_the_file_system(fake_clis, tmp_path, example):
    root = project_from(example, tmp_path)
    if example == "app":  # the embedded example names no image: say where it was pushed
        path = root / "streamdeploy.yaml"
        path.write_text(path.read_text() + '  fargate: {image: "ghcr.io/example/stream-gen-ui:1.0.0"}\n')
    seed_aws_secrets(fake_clis)
    first = ship(fake_clis, root, "fargate")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "fargate"))
    commands = [c.command[0] for c in fake_clis.calls("terraform")]
    assert commands == ["init", "plan", "show", "apply"]
    assert "Plan: " in first.stdout + first.stderr  # the plan is shown before it is applied
    created = changed(terraform_changes(fake_clis), "create")
    assert {"aws_efs_file_system.data", "aws_ecs_service.api", "aws_lb.main"} <= created

    second = ship(fake_clis, root, "fargate")
    assert second.returncode == 0, second.stderr
    assert changed(terraform_changes(fake_clis), "create") == set()
    assert "No changes." in second.stdout + second.stderr

    change_env(root, "staging")
    third = ship(fake_clis, root, "fargate")
    assert third.returncode == 0, third.stderr
    changes = terraform_changes(fake_clis)
    # A new task definition revision, the service updated to it; the data stays where it is.
    assert changed(changes, "delete", "create") == {"aws_ecs_task_definition.api"}
    assert "aws_ecs_service.api" in changed(changes, "update")
    assert "aws_efs_file_system.data" not in {c["address"] for c in changes if "delete" in c["change"]["actions"]}
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_fargate_up_refuses_a_plan_that_destroys_the_file_system(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    path = root / "streamdeploy.yaml"
    path.write_text(path.read_text() + '  fargate: {image: "ghcr.io/example/stream-gen-ui:1.0.0"}\n')
    seed_aws_secrets(fake_clis)
    assert ship(fake_clis, root, "fargate").returncode == 0
    # The volume removed from the description: the EFS block goes, and with it its prevent_destroy.
    text = path.read_text()
    path.write_text(text.replace("    volumes:\n      - {name: chroma_data, mount: /data/chroma, size: 1GB, env: "
                                 "CHROMA_DB_PATH}\n", ""))
    assert "volumes:" not in path.read_text().split("targets:")[0]
    fake_clis.clear_calls()
    result = ship(fake_clis, root, "fargate", "--force")
    assert result.returncode == 1
    assert "refusing to apply" in result.stderr and "aws_efs_file_system.data" in result.stderr
    assert "apply" not in [c.command[0] for c in fake_clis.calls("terraform")]


def test_fargate_up_without_a_secret_in_secrets_manager_stops_at_the_plan(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    result = ship(fake_clis, root, "fargate")
    assert result.returncode == 1
    assert "couldn't find resource" in result.stderr + result.stdout and "create-secret" in result.stderr
    assert "apply" not in [c.command[0] for c in fake_clis.calls("terraform")]
# --- optional secrets and alternatives, on every target that sends secrets ---------------------------

ALTERNATIVES = ("secrets: [{any_of: [OPENAI_API_KEY, ANTHROPIC_API_KEY]}, API_KEY, "
                "{name: SENTRY_DSN, optional: true}]")


def with_alternatives(tmp_path: Path, example: str = "app") -> Path:
    root = project_from(example, tmp_path)
    path = root / "streamdeploy.yaml"
    text = path.read_text()
    assert "secrets: [OPENAI_API_KEY, API_KEY]" in text
    path.write_text(text.replace("secrets: [OPENAI_API_KEY, API_KEY]", ALTERNATIVES))
    return root


@pytest.mark.parametrize("target", ["fly", "railway", "kubernetes", "docker", "compose"])
def test_up_needs_one_of_the_alternatives_and_none_of_the_optional_secrets(fake_clis, tmp_path, target):
    root = with_alternatives(tmp_path)
    if target == "kubernetes":
        cluster(fake_clis)
    # SECRETS has OPENAI_API_KEY and API_KEY: no ANTHROPIC_API_KEY, no SENTRY_DSN, and that is fine
    done = ship(fake_clis, root, target)
    assert done.returncode == 0, done.stderr
    assert "ANTHROPIC_API_KEY is not set" not in done.stderr  # one of the alternatives is enough
    if target == "fly":
        (imported,) = [c for c in fake_clis.calls("fly") if c.command == ["secrets", "import"]]
        assert set(fly_reads(imported.stdin)) == {"OPENAI_API_KEY", "API_KEY"}
    if target == "railway":
        sets = [c.argv[2] for c in fake_clis.calls("railway") if c.command == ["variable", "set"]]
        assert sorted(sets) == ["API_KEY", "OPENAI_API_KEY"]  # the unset optional ones are skipped
    assert_secrets_stayed_hidden(fake_clis, root, done)


@pytest.mark.parametrize("target", ["fly", "kubernetes", "docker"])
def test_up_stops_when_none_of_the_alternatives_is_set(fake_clis, tmp_path, target):
    root = with_alternatives(tmp_path)
    done = fake_clis.run("up", "--target", target, "--no-verify", cwd=root, env={"API_KEY": SECRETS["API_KEY"]})
    assert done.returncode == 3, done.stderr
    assert "none of the secrets OPENAI_API_KEY, ANTHROPIC_API_KEY is set" in done.stderr
    assert "SENTRY_DSN" not in done.stderr
    assert not fake_clis.calls()  # nothing ran


def scaled_with_alternatives(tmp_path: Path) -> Path:
    return with_alternatives(tmp_path, "scaled")


def test_cloudrun_stores_and_references_only_the_secrets_that_are_set(fake_clis, tmp_path):
    root = scaled_with_alternatives(tmp_path)
    first = ship(fake_clis, root, "cloudrun")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    project = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]
    versions = {k: v["versions"] for k, v in project["secrets"].items()}
    assert versions["stream-gen-ui-OPENAI_API_KEY"] == [digest(SECRETS["OPENAI_API_KEY"])]
    assert versions["stream-gen-ui-API_KEY"] == [digest(SECRETS["API_KEY"])]
    assert not versions.get("stream-gen-ui-SENTRY_DSN") and not versions.get("stream-gen-ui-ANTHROPIC_API_KEY")

    def referenced() -> set[str]:
        service = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]["services"][
            "europe-west1/stream-gen-ui-api"]
        return {e["name"] for e in service["template"]["spec"]["containers"][0]["env"] if "valueFrom" in e}

    # the revision could not start with a reference to a secret that has no version
    assert referenced() == {"OPENAI_API_KEY", "API_KEY"}
    # the rendered file names all four: the glue leaves out the unset ones at each rollout
    rendered = (root / "cloudrun" / "api.yaml").read_text()
    assert "stream-gen-ui-SENTRY_DSN" in rendered

    # the second up, now with SENTRY_DSN: stored, referenced; the others as they were
    second = ship(fake_clis, root, "cloudrun", env={"SENTRY_DSN": "https://k3y@sentry.example/1"})
    assert second.returncode == 0, second.stderr
    project = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]
    assert project["secrets"]["stream-gen-ui-SENTRY_DSN"]["versions"] == [digest("https://k3y@sentry.example/1")]
    assert referenced() == {"OPENAI_API_KEY", "API_KEY", "SENTRY_DSN"}

    # a third up from where SENTRY_DSN is not set (CI, a colleague): the stored version stays in use
    third = ship(fake_clis, root, "cloudrun")
    assert third.returncode == 0, third.stderr
    assert referenced() == {"OPENAI_API_KEY", "API_KEY", "SENTRY_DSN"}
    project = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]
    assert len(project["secrets"]["stream-gen-ui-SENTRY_DSN"]["versions"]) == 1  # no empty version added
    assert "SENTRY_DSN is not set here: the revision keeps the version Secret Manager holds" in third.stderr
    assert_every_call_parsed(fake_clis)

    # someone disables that version: the next up leaves the reference out, so the revision starts
    fake_clis.seed("gcloud", {"projects": {"stream-gen-ui-demo": {"secrets": {"stream-gen-ui-SENTRY_DSN": {
        "disabled": [1]}}}}})
    fourth = ship(fake_clis, root, "cloudrun")
    assert fourth.returncode == 0, fourth.stderr
    assert referenced() == {"OPENAI_API_KEY", "API_KEY"}
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third, fourth)
    for call in fake_clis.calls():
        assert all("k3y@sentry" not in arg for arg in call.argv)


def test_digitalocean_sends_only_the_secrets_that_are_set(fake_clis, tmp_path):
    root = scaled_with_alternatives(tmp_path)
    pushed_repository(fake_clis, root, "digitalocean")
    first = ship(fake_clis, root, "digitalocean")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [app] = fake_clis.state()["doctl"]["apps"].values()
    assert app["secrets"] == {"api.OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"]),
                              "api.API_KEY": digest(SECRETS["API_KEY"])}
    keys = {e["key"] for e in app["spec"]["services"][0]["envs"]}
    assert "SENTRY_DSN" not in keys and "ANTHROPIC_API_KEY" not in keys
    second = ship(fake_clis, root, "digitalocean", env={"ANTHROPIC_API_KEY": "sk-ant-Xy12-anthropic"})
    assert second.returncode == 0, second.stderr
    [app] = fake_clis.state()["doctl"]["apps"].values()
    assert app["secrets"]["api.ANTHROPIC_API_KEY"] == digest("sk-ant-Xy12-anthropic")

    # a third up from where ANTHROPIC_API_KEY is not set (CI, a colleague): the app keeps it, the
    # spec carrying back the encrypted value App Platform showed, not the value
    third = ship(fake_clis, root, "digitalocean")
    assert third.returncode == 0, third.stderr
    assert_every_call_parsed(fake_clis)
    [app] = fake_clis.state()["doctl"]["apps"].values()
    assert app["secrets"]["api.ANTHROPIC_API_KEY"] == digest("sk-ant-Xy12-anthropic")
    assert "ANTHROPIC_API_KEY is not set here: the app keeps the encrypted value App Platform holds" in third.stderr
    assert "SENTRY_DSN" not in {e["key"] for e in app["spec"]["services"][0]["envs"]}  # never had one
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


@pytest.mark.parametrize("target", ["cloudrun", "digitalocean"])
def test_the_new_targets_stop_when_none_of_the_alternatives_is_set(fake_clis, tmp_path, target):
    root = scaled_with_alternatives(tmp_path)
    if target == "digitalocean":
        pushed_repository(fake_clis, root, target)
        fake_clis.clear_calls()
    done = fake_clis.run("up", "--target", target, "--no-verify", cwd=root, env={"API_KEY": SECRETS["API_KEY"]})
    assert_no_traceback(done)
    assert done.returncode == 3, done.stderr
    assert "none of the secrets OPENAI_API_KEY, ANTHROPIC_API_KEY is set" in done.stderr
    assert "SENTRY_DSN" not in done.stderr
    assert not [c for c in fake_clis.calls() if c.cli in ("gcloud", "doctl")]


def test_fargate_needs_one_alternative_in_secrets_manager_and_none_of_the_optional_ones(fake_clis, tmp_path):
    root = scaled_with_alternatives(tmp_path)
    fake_clis.seed("terraform", {"secrets": ["stream-gen-ui/API_KEY"]})
    result = ship(fake_clis, root, "fargate")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "Resource precondition failed" in out
    assert "none of the secrets stream-gen-ui/OPENAI_API_KEY, stream-gen-ui/ANTHROPIC_API_KEY" in out
    assert "apply" not in [c.command[0] for c in fake_clis.calls("terraform")]

    # one of the alternatives is enough, and SENTRY_DSN (optional) may be missing
    fake_clis.seed("terraform", {"secrets": ["stream-gen-ui/API_KEY", "stream-gen-ui/ANTHROPIC_API_KEY"]})
    done = ship(fake_clis, root, "fargate")
    assert done.returncode == 0, done.stderr
    task = json.loads((root / "terraform" / "api.tf.json").read_text())["resource"]["aws_ecs_task_definition"]["api"]
    # the optional ones are looked up without failing and listed only when found
    assert '[for arn in local.secret_sentry_dsn : {name = "SENTRY_DSN", valueFrom = arn}]' in \
        task["container_definitions"]
    main = json.loads((root / "terraform" / "main.tf.json").read_text())
    assert set(main["data"]["aws_secretsmanager_secret"]) == {"api_key"}
    assert set(main["data"]["aws_secretsmanager_secrets"]) == {"openai_api_key", "anthropic_api_key", "sentry_dsn"}
    assert_secrets_stayed_hidden(fake_clis, root, result, done)
