"""`streamdeploy rollback` for every target, against the fake CLIs.

Each test: up, change the code, up, rollback -> the first code is live (the fake's state
says which image runs) and the data (volume, claim) is untouched; a second rollback goes
one release further back, never to the release the first one left; with no earlier
release, a clear message and exit 1. Every command line is one the real CLI accepts.
"""

from __future__ import annotations

import json

from conftest import assert_no_traceback
from fakes import fake_clis  # noqa: F401  (fixture)
from test_up_fakes import render_api  # noqa: F401  (fixture)
from test_up_fakes import (SECRETS, assert_every_call_parsed, assert_secrets_stayed_hidden, change_code, cluster,
                           deployment, git, image_of, project_from, render_repository, render_service, rollout, ship,
                           ship_render)


def rollback(fakes, root, target: str, *extra: str, env: dict | None = None):
    result = fakes.run("rollback", "--target", target, "--no-verify", *extra, cwd=root, env={**SECRETS, **(env or {})})
    assert_no_traceback(result)
    return result


def assert_nothing_before(result) -> None:
    assert result.returncode == 1, result.stderr
    assert "no earlier release" in result.stderr + result.stdout


# --- compose and docker: the history is this machine's -------------------------------------------


def compose_api(fakes) -> dict:
    [project] = fakes.state()["docker"]["projects"].values()
    return project["containers"]["stream-gen-ui-api-1"]


def test_compose_rollback_starts_the_previous_image_without_building_and_keeps_the_volume(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "compose").returncode == 0
    assert_nothing_before(rollback(fake_clis, root, "compose"))  # one release: nothing to go back to
    first = compose_api(fake_clis)
    change_code(root)
    assert ship(fake_clis, root, "compose").returncode == 0
    second = compose_api(fake_clis)
    assert second["ImageId"] != first["ImageId"] and second["image"] != first["image"]

    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "compose")
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    assert compose_api(fake_clis)["ImageId"] == first["ImageId"]  # the first code runs again
    assert compose_api(fake_clis)["image"] == first["image"]
    [up] = [c for c in fake_clis.calls("docker") if c.command == ["compose", "up"]]
    assert "--no-build" in up.argv and "--build" not in up.argv and "api" in up.argv
    # (compose.yaml requires the secrets: the fake stops without them, so they were passed)
    docker = fake_clis.state()["docker"]
    [project] = docker["projects"].values()
    assert project["volumes"] == ["stream-gen-ui_chroma_data"] and not project.get("volumes_deleted")
    assert "stream-gen-ui_chroma_data" in docker["volumes"]
    # Twice: the first release was the earliest, so there is nothing further back (the
    # second release is never picked again: `up` deploys it on purpose).
    assert_nothing_before(rollback(fake_clis, root, "compose"))
    assert compose_api(fake_clis)["ImageId"] == first["ImageId"]
    assert_secrets_stayed_hidden(fake_clis, root, back)


def test_compose_rollback_goes_back_one_release_at_a_time(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    ids = []
    for _ in range(3):
        assert ship(fake_clis, root, "compose").returncode == 0
        ids.append(compose_api(fake_clis)["ImageId"])
        change_code(root)
    assert len(set(ids)) == 3
    assert rollback(fake_clis, root, "compose").returncode == 0
    assert compose_api(fake_clis)["ImageId"] == ids[1]
    assert rollback(fake_clis, root, "compose").returncode == 0
    assert compose_api(fake_clis)["ImageId"] == ids[0]
    assert_nothing_before(rollback(fake_clis, root, "compose"))
    history = json.loads((root / ".streamdeploy" / "releases.json").read_text())["targets"]["compose"]
    assert len(history) == 5  # three deploys and two rollbacks, on this machine only


def test_compose_rollback_of_a_removed_image_says_how_to_get_it_back(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "compose").returncode == 0
    first = compose_api(fake_clis)["image"]
    change_code(root)
    assert ship(fake_clis, root, "compose").returncode == 0
    from fakes import store

    with store.state(fake_clis.home) as state:  # `docker image prune -a`
        del state["docker"]["images"][first]
    result = rollback(fake_clis, root, "compose")
    assert result.returncode == 1
    assert "No such image" in result.stderr and "git checkout" not in result.stderr
    assert f"streamdeploy up --target compose" in result.stderr


def test_rollback_dry_run_shows_the_plan_and_runs_nothing(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "compose").returncode == 0
    change_code(root)
    assert ship(fake_clis, root, "compose").returncode == 0
    fake_clis.clear_calls()
    shown = rollback(fake_clis, root, "compose", "--dry-run")
    assert shown.returncode == 0 and "--no-build" in shown.stdout and "nothing has run" in shown.stdout
    as_json = rollback(fake_clis, root, "compose", "--dry-run", "--json")
    plan = json.loads(as_json.stdout)
    assert plan["target"] == "compose" and "--no-build" in plan["steps"][0]["argv"]
    assert not fake_clis.calls("docker")


def test_docker_rollback_replaces_the_container_with_the_previous_image(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "docker").returncode == 0
    first = fake_clis.state()["docker"]["containers"]["stream-gen-ui-api"]
    change_code(root)
    assert ship(fake_clis, root, "docker").returncode == 0
    assert fake_clis.state()["docker"]["containers"]["stream-gen-ui-api"]["ImageId"] != first["ImageId"]
    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "docker")
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    now = fake_clis.state()["docker"]["containers"]["stream-gen-ui-api"]
    assert now["ImageId"] == first["ImageId"] and now["Volumes"] == first["Volumes"]
    commands = [c.command for c in fake_clis.calls("docker")]
    assert ["build"] not in commands and ["volume", "create"] not in commands
    assert_nothing_before(rollback(fake_clis, root, "docker"))


# --- kubernetes: the history is the cluster's ReplicaSets ----------------------------------------


def test_kubernetes_rollback_applies_each_deployment_with_its_previous_image(fake_clis, tmp_path):
    """Data: the claim and the store's StatefulSet are never applied; the next `up` is not
    blocked by a field manager (what `kubectl rollout undo` would leave behind)."""
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull", registry="ghcr.io")
    ns = "stream-gen-ui"
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    assert_nothing_before(rollback(fake_clis, root, "kubernetes"))
    first = image_of(deployment(fake_clis, ns))
    store = fake_clis.state()["kubectl"]["objects"][f"StatefulSet/{ns}/chroma"]
    change_code(root)
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    second = image_of(deployment(fake_clis, ns))
    assert second != first

    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "kubernetes")
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    assert image_of(deployment(fake_clis, ns)) == first and rollout(fake_clis, ns)["images"][-1] == [first]
    assert f"api: {second} -> {first}" in back.stdout + back.stderr
    applied = [c for c in fake_clis.calls("kubectl") if c.command == ["apply"]]
    assert len(applied) == 1 and "kind: StatefulSet" not in applied[0].stdin
    assert "PersistentVolumeClaim" not in applied[0].stdin and "--force-conflicts" not in applied[0].argv
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects[f"StatefulSet/{ns}/chroma"] == store
    assert rollout(fake_clis, ns, "StatefulSet", "chroma")["revision"] == 1  # the store kept running
    assert not [c for c in fake_clis.calls("kubectl") if c.command[:1] in (["delete"], ["rollout", "undo"])]

    again = ship(fake_clis, root, "kubernetes")  # the working tree again: no conflict, a rollout
    assert again.returncode == 0, again.stderr
    assert image_of(deployment(fake_clis, ns)) == second
    assert rollback(fake_clis, root, "kubernetes").returncode == 0
    assert image_of(deployment(fake_clis, ns)) == first
    # Twice in a row: the first release is the earliest; the second is never picked again.
    assert_nothing_before(rollback(fake_clis, root, "kubernetes"))
    assert image_of(deployment(fake_clis, ns)) == first
    assert_secrets_stayed_hidden(fake_clis, root, back, again)


def test_kubernetes_rollback_keeps_the_claim_of_an_embedded_volume(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    first = image_of(deployment(fake_clis, "default"))
    claim = fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"]
    change_code(root)
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    back = rollback(fake_clis, root, "kubernetes")
    assert back.returncode == 0, back.stderr
    assert image_of(deployment(fake_clis, "default")) == first
    assert fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"] == claim
    assert rollout(fake_clis, "default")["revision"] == 3


# --- fly: `fly releases` and `fly deploy --image` ---------------------------------------------


def fly_app(fakes) -> dict:
    return fakes.state()["fly"]["apps"]["stream-gen-ui"]


def test_fly_rollback_deploys_the_previous_releases_image_keeping_the_volume(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "fly").returncode == 0
    assert ship(fake_clis, root, "fly").returncode == 0  # same code, same image: still one release of it
    assert_nothing_before(rollback(fake_clis, root, "fly"))
    first = fly_app(fake_clis)
    change_code(root)
    assert ship(fake_clis, root, "fly").returncode == 0
    assert fly_app(fake_clis)["code"] != first["code"]
    volumes = fly_app(fake_clis)["volumes"]

    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "fly")
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    app = fly_app(fake_clis)
    assert app["code"] == first["code"] and app["image"] == first["image"]  # the first code runs again
    assert app["volumes"] == volumes and len(app["volumes"]) == 1  # the same volume, still attached
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.argv[-2:] == ["--image", first["image"]] and "--ha=false" in deploy.argv
    assert not [c for c in fake_clis.calls("fly") if c.command[:1] in (["volumes"], ["secrets"])]
    assert_nothing_before(rollback(fake_clis, root, "fly"))  # twice: nothing before the first code
    assert fly_app(fake_clis)["code"] == first["code"]


def test_fly_rollback_from_a_failed_deploy_returns_to_the_last_complete_one(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    assert ship(fake_clis, root, "fly").returncode == 0
    first = fly_app(fake_clis)
    change_code(root)
    assert ship(fake_clis, root, "fly").returncode == 0
    from fakes import store

    with store.state(fake_clis.home) as state:  # the newest release failed its health checks
        state["fly"]["apps"]["stream-gen-ui"]["release_list"][-1]["Status"] = "failed"
    assert rollback(fake_clis, root, "fly").returncode == 0
    assert fly_app(fake_clis)["code"] == first["code"]


# --- railway: `railway deployment list` and the API's deploymentRollback ---------------------


def railway_services(fakes) -> dict:
    [project] = fakes.state()["railway"]["projects"].values()
    return {s["name"]: s for s in project["services"].values()}


def change_both_services(root) -> None:
    """examples/multi builds the API from ../app and the dashboard from dashboard/."""
    change_code(root.parent)
    dashboard = root / "dashboard" / "app.py"
    dashboard.write_text(dashboard.read_text() + "\n# a code change\n")


def test_railway_rollback_restores_the_deployment_before_the_live_one(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    assert ship(fake_clis, root, "railway").returncode == 0
    assert_nothing_before(rollback(fake_clis, root, "railway"))
    first = {name: s["live"] for name, s in railway_services(fake_clis).items()}
    change_both_services(root)
    assert ship(fake_clis, root, "railway").returncode == 0
    assert all(s["live"] != first[n] for n, s in railway_services(fake_clis).items())
    volumes = railway_services(fake_clis)["api"]["volumes"]

    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "railway")
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    services = railway_services(fake_clis)
    assert {n: s["live"] for n, s in services.items()} == first  # the first code runs again, every service
    assert services["api"]["volumes"] == volumes
    calls = [c.command for c in fake_clis.calls("railway")]
    assert ["api"] in calls and ["up"] not in calls and ["volume", "add"] not in calls
    assert ["config", "apply"] not in calls  # nothing of the description is applied
    second = {n: s["deployments"][1]["code"] for n, s in services.items()}
    # Twice: Railway's list does not say which deployment a rollback restored, so the second
    # returns to the deployment the first one replaced (the README says so).
    assert rollback(fake_clis, root, "railway").returncode == 0
    assert {n: s["live"] for n, s in railway_services(fake_clis).items()} == second
    assert_secrets_stayed_hidden(fake_clis, root, back)


# --- then verify: the data written before is still there ---------------------------------------


def test_rollback_verifies_the_service_and_reads_back_the_marker_written_before(fake_clis, tmp_path):
    """The compose fake runs no container, so a real uvicorn (tests/verify_app.py) answers on
    the service's port in its place, its documents in a file that outlives each release."""
    from test_verify import DESCRIPTION, Server

    server = Server(tmp_path, VA_API_KEY="va-key-Q2w3")
    root = tmp_path / "va"
    root.mkdir()
    (root / "streamdeploy.yaml").write_text((DESCRIPTION % "").replace("port: 8000", f"port: {server.port}"))
    (root / "requirements.txt").write_text("starlette\n")
    (root / "main.py").write_text("# release 1\n")
    server.start()
    try:
        env = {"VA_KEY": "va-key-Q2w3"}
        first = fake_clis.run("up", "--target", "compose", cwd=root, env=env)
        assert first.returncode == 0, first.stderr
        (root / "main.py").write_text("# release 2\n")
        second = fake_clis.run("up", "--target", "compose", cwd=root, env=env)
        assert second.returncode == 0, second.stderr
        back = fake_clis.run("rollback", "--target", "compose", "--json", cwd=root, env=env)
        assert_no_traceback(back)
        assert back.returncode == 0, back.stderr
        outcome = json.loads(back.stdout)
        checks = {c["name"]: c for c in outcome["verify"]["checks"]}
        assert checks["persisted"]["ok"] and outcome["ok"] and outcome["target"] == "compose"
        assert outcome["run"]["steps"][0]["status"] == "ok"
    finally:
        server.stop()


# --- render: Render's API (ListDeploys, RollbackDeploy) -------------------------------------------


def test_render_rollback_redeploys_the_build_of_the_deploy_before_the_live_one(fake_clis, render_api, tmp_path):
    root = project_from("app", tmp_path)
    env = render_repository(fake_clis, root)
    on_api = {"RENDER_HOST": render_api.url}
    first = git(root, "rev-parse", "HEAD", env=env).strip()
    assert ship_render(fake_clis, root, render_api).returncode == 0
    assert_nothing_before(rollback(fake_clis, root, "render", env=on_api))
    change_code(root)
    git(root, "commit", "-qam", "new code", env=env)
    git(root, "push", "-q", env=env)
    second = git(root, "rev-parse", "HEAD", env=env).strip()
    assert ship_render(fake_clis, root, render_api).returncode == 0

    fake_clis.clear_calls()
    back = rollback(fake_clis, root, "render", env=on_api)
    assert back.returncode == 0, back.stderr
    assert_every_call_parsed(fake_clis)
    deploys = render_service(fake_clis)["deploys"]
    live = [d for d in deploys if d["status"] == "live"]
    assert [(d["commit"], d["trigger"]) for d in live] == [(first, "rollback")]  # the first commit runs again
    assert [d["commit"] for d in deploys] == [first, second, first]
    posts = [r for r in render_api.requests if r["method"] == "POST"]
    assert [(r["path"], r["body_keys"]) for r in posts] == [
        ("/v1/services/srv-d2abc3def4ghi5jkl6mn/rollback", ["deployId"])]
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]
    assert_nothing_before(rollback(fake_clis, root, "render", env=on_api))  # twice: nothing before the first
    assert_secrets_stayed_hidden(fake_clis, root, back)
