"""`streamdeploy doctor`: each platform CLI installed? which version? able to act? And git."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_no_traceback
from fakes import fake_clis  # noqa: F401  (fixture)
from streamdeploy import exitcodes


def doctor(fakes, where: Path, *args: str, logged_in: bool = True, env: dict | None = None, code: int = 0):
    result = fakes.run("doctor", *args, cwd=where, logged_in=logged_in, env=env)
    assert_no_traceback(result)
    assert result.returncode == code, result.stdout + result.stderr
    return result


def tools(result) -> dict[str, dict]:
    return {t["name"]: t for t in json.loads(result.stdout)["tools"]}


def git(root: Path, *args: str, env: dict) -> None:
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def test_every_cli_installed_with_its_version_and_logged_in(fake_clis, tmp_path):
    found = tools(doctor(fake_clis, tmp_path, "--json"))
    assert list(found) == ["fly", "railway", "render", "docker", "kubectl", "gcloud", "doctl", "terraform"]
    assert {n: t["version"] for n, t in found.items()} == {
        "fly": "0.4.87", "railway": "5.43.1", "render": "2.24.0", "docker": "29.7.2", "kubectl": "1.35.0",
        "gcloud": "578.0.0", "doctl": "1.148.0-release", "terraform": "1.14.0"}
    # gcloud and terraform have no read-only login check that prints no token: installed is all we ask.
    assert all(t["installed"] and t["ready"] is not False for t in found.values())
    assert found["doctl"]["ready"] and found["doctl"]["how"] == "DIGITALOCEAN_ACCESS_TOKEN (fake@example.com)"
    assert found["fly"]["how"] == "FLY_API_TOKEN (fake@example.com)"
    assert found["render"]["extra"]["workspace"] == "tea-fake"
    assert found["docker"]["extra"]["compose"] == "5.5.0"


def test_the_table_for_people(fake_clis, tmp_path):
    out = doctor(fake_clis, tmp_path).stdout
    assert "fly" in out and "0.4.87" in out and "yes (logged in)" in out and "yes (daemon running)" in out
    assert "not a git repository" in out


def test_without_tokens_each_cli_says_how_to_log_in(fake_clis, tmp_path):
    found = tools(doctor(fake_clis, tmp_path, "--json", logged_in=False))
    assert not any(found[n]["ready"] for n in ("fly", "railway", "render", "kubectl", "doctl"))
    assert "DIGITALOCEAN_ACCESS_TOKEN" in found["doctl"]["fix"]
    assert "No access token available" in found["fly"]["how"] and "FLY_API_TOKEN" in found["fly"]["fix"]
    assert "RAILWAY_API_TOKEN" in found["railway"]["fix"]
    assert "RENDER_API_KEY" in found["render"]["fix"]
    assert "connection to the server" in found["kubectl"]["how"] and "KUBECONFIG" in found["kubectl"]["fix"]
    assert found["docker"]["ready"]  # the daemon needs no login


def test_a_token_the_platform_refuses_is_named(fake_clis, tmp_path):
    fake_clis.fail("fly auth whoami", exit=1, stderr="Error: You must be authenticated to view this.")
    found = tools(doctor(fake_clis, tmp_path, "--json"))
    assert found["fly"]["how"] == "FLY_API_TOKEN is set but was refused: Error: You must be authenticated to view this."


def test_a_refused_token_the_cli_quotes_back_is_masked(fake_clis, tmp_path):
    fake_clis.fail("fly auth whoami", exit=1, stderr="Error: token fake-fly-token is not valid")
    result = doctor(fake_clis, tmp_path, "--json")
    assert "fake-fly-token" not in result.stdout + result.stderr
    assert tools(result)["fly"]["how"] == "FLY_API_TOKEN is set but was refused: Error: token *** is not valid"


def test_a_railway_project_token_is_checked_with_status(fake_clis, tmp_path):
    env = {"RAILWAY_API_TOKEN": "", "RAILWAY_TOKEN": "project-token"}
    found = tools(doctor(fake_clis, tmp_path, "--json", env=env))
    assert found["railway"]["ready"] and found["railway"]["how"] == "RAILWAY_TOKEN (a project token for token-project)"
    assert [c.command for c in fake_clis.calls("railway")][-1] == ["status"]  # whoami needs an account token


def test_a_missing_cli_and_a_stopped_daemon(fake_clis, tmp_path):
    fake_clis.remove("kubectl")
    found = tools(doctor(fake_clis, tmp_path, "--json", env={"FAKE_DOCKER_DAEMON": "down"}))
    assert not found["kubectl"]["installed"] and "kubernetes.io/docs/tasks/tools" in found["kubectl"]["fix"]
    assert found["docker"]["installed"] and found["docker"]["ready"] is False
    assert "Is the docker daemon running?" in found["docker"]["how"]
    assert "systemctl start docker" in found["docker"]["fix"]


def test_git_state_dirty_then_pushed(fake_clis, tmp_path):
    env = fake_clis.env()
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    repo.mkdir()
    git(tmp_path, "init", "--bare", "-q", str(remote), env=env)
    git(repo, "init", "-q", "-b", "main", env=env)
    (repo / "streamdeploy.yaml").write_text("version: 1\n")
    state = json.loads(doctor(fake_clis, repo, "--json").stdout)["git"]
    assert state["repository"] and state["branch"] == "main" and state["changes"] == 1
    assert state["upstream"] is None and "no upstream" in state["summary"]
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "one", env=env)
    git(repo, "remote", "add", "origin", str(remote), env=env)
    git(repo, "push", "-q", "-u", "origin", "main", env=env)
    (repo / "more.txt").write_text("x")
    git(repo, "add", "more.txt", env=env)
    git(repo, "commit", "-q", "-m", "two", env=env)
    state = json.loads(doctor(fake_clis, repo, "--json").stdout)["git"]
    assert state["changes"] == 0 and state["upstream"] == "origin/main" and state["ahead"] == 1
    assert "1 commit not pushed to origin/main" in state["summary"]
    git(repo, "push", "-q", env=env)
    out = doctor(fake_clis, repo).stdout
    assert "on main, clean, in sync with origin/main" in out


@pytest.mark.parametrize("executable", ["fly", "flyctl"])
def test_fly_is_found_under_either_name(fake_clis, tmp_path, executable):
    other = {"fly": "flyctl", "flyctl": "fly"}[executable]
    fake_clis.remove(other)
    found = tools(doctor(fake_clis, tmp_path, "--json"))
    assert found["fly"]["installed"] and found["fly"]["path"].endswith("/" + executable)


# --- doctor --target: exit 3 unless `up --target T` could start here -------------------------


@pytest.mark.parametrize("target", ["fly", "railway", "render", "docker", "compose", "kubernetes", "local"])
def test_a_ready_target_exits_0(fake_clis, tmp_path, target):
    result = doctor(fake_clis, tmp_path, "--target", target)
    assert f"ready for `streamdeploy up --target {target}`" in result.stdout


@pytest.mark.parametrize("target,words", [
    ("fly", "not logged in to Fly.io"),
    ("railway", "not logged in to Railway"),
    ("render", "not logged in to Render"),
    ("kubernetes", "kubectl cannot create deployments"),
])
def test_a_target_that_is_not_logged_in_exits_3_and_says_how(fake_clis, tmp_path, target, words):
    result = doctor(fake_clis, tmp_path, "--target", target, logged_in=False, code=exitcodes.NOT_READY)
    assert words in result.stderr and "fix:" in result.stderr
    assert doctor(fake_clis, tmp_path, logged_in=False).returncode == 0  # without --target: a report only


def test_a_stopped_daemon_or_a_missing_compose_plugin_is_not_ready(fake_clis, tmp_path):
    down = doctor(fake_clis, tmp_path, "--target", "compose", "--json", env={"FAKE_DOCKER_DAEMON": "down"},
                  code=exitcodes.NOT_READY)
    verdict = json.loads(down.stdout)["target"]
    assert verdict["name"] == "compose" and not verdict["ready"]
    assert "the Docker daemon is not answering" in verdict["problems"][0]["message"]
    fake_clis.fail("docker compose version", exit=1, stderr="docker: 'compose' is not a docker command.")
    missing = doctor(fake_clis, tmp_path, "--target", "compose", code=exitcodes.NOT_READY)
    assert "`docker compose` is not available" in missing.stderr
    assert doctor(fake_clis, tmp_path, "--target", "docker").returncode == 0  # plain docker needs no plugin


def test_a_missing_cli_is_not_ready_with_install_instructions(fake_clis, tmp_path):
    fake_clis.remove("kubectl")
    result = doctor(fake_clis, tmp_path, "--target", "kubernetes", "--json", code=exitcodes.NOT_READY)
    [problem] = json.loads(result.stdout)["target"]["problems"]
    assert "`kubectl` is not installed" in problem["message"] and "kubernetes.io" in problem["fix"]


def test_with_a_description_the_plan_s_own_tools_count_too(fake_clis, tmp_path):
    # Railway's IaC plan runs npm and node as well as railway: `up` would stop without them.
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "app", root, ignore=shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__"))
    assert doctor(fake_clis, root, "--target", "railway").returncode == 0
    fake_clis.remove("npm")
    result = doctor(fake_clis, root, "--target", "railway", code=exitcodes.NOT_READY)
    assert "`npm` is not installed" in result.stderr
    assert doctor(fake_clis, tmp_path, "--target", "railway").returncode == 0  # no description: the CLI only


def test_an_unknown_target_is_bad_input(fake_clis, tmp_path):
    result = doctor(fake_clis, tmp_path, "--target", "heroku", code=exitcodes.BAD_INPUT)
    assert "unknown target `heroku`" in result.stderr and "fly" in result.stderr
