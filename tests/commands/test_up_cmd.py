"""`streamdeploy up`, `plan` and `down` as a user runs them: what stops `up` before step 1
(exit codes 2 and 3), what a failure, a timeout and Ctrl-C look like, dry runs that run
nothing, and the JSON forms. The fly target and the fake CLIs stand in for every platform."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_no_traceback
from fakes import fake_clis  # noqa: F401  (fixture)
from streamdeploy import exitcodes, loader

SECRETS = {"OPENAI_API_KEY": "sk-live-UPCMD-openai-1", "API_KEY": "apikey-UPCMD-2"}


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "app", root, ignore=shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__"))
    return root


def up(fakes, root: Path, *args: str, env: dict | None = None, logged_in: bool = True, target: str = "fly"):
    result = fakes.run("up", "--target", target, "--no-verify", *args, cwd=root,
                       env={**SECRETS, **(env or {})}, logged_in=logged_in)
    assert_no_traceback(result)
    return result


def no_secret_values(*texts: str) -> bool:
    return not any(value in text for value in SECRETS.values() for text in texts)


# --- dry runs --------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_runs_nothing_and_writes_nothing(fake_clis, project):
    before = sorted(p.name for p in project.iterdir())
    result = up(fake_clis, project, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert fake_clis.calls() == []
    assert sorted(p.name for p in project.iterdir()) == before
    assert "$ fly secrets import --app stream-gen-ui --stage <stdin: OPENAI_API_KEY, API_KEY>" in result.stdout
    assert "skipped if `fly status --app stream-gen-ui --json` succeeds" in result.stdout
    assert "OPENAI_API_KEY (set), API_KEY (set)" in result.stdout
    assert no_secret_values(result.stdout, result.stderr)


def test_plan_json_is_the_plan_as_data(fake_clis, project):
    result = fake_clis.run("plan", "--target", "fly", "--json", cwd=project, env={"API_KEY": SECRETS["API_KEY"]})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["target"] == "fly" and data["url"] == "https://stream-gen-ui.fly.dev"
    assert data["secrets"] == [{"name": "OPENAI_API_KEY", "set": False}, {"name": "API_KEY", "set": True}]
    assert [s["argv"][:2] for s in data["steps"]][-1] == ["fly", "deploy"]
    assert fake_clis.calls() == [] and no_secret_values(result.stdout)


@pytest.mark.parametrize("target,words", [("all", "one target at a time"), ("heroku", "unknown target `heroku`")])
def test_a_target_up_cannot_ship_is_bad_input(fake_clis, project, target, words):
    result = up(fake_clis, project, target=target)
    assert result.returncode == exitcodes.BAD_INPUT
    assert words in result.stderr and fake_clis.calls() == []


# --- not ready: exit 3 before step 1 ------------------------------------------------------


def test_a_missing_secret_stops_up_before_any_cli_runs(fake_clis, project):
    result = fake_clis.run("up", "--target", "fly", "--no-verify", cwd=project,
                           env={"OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"]})
    assert result.returncode == exitcodes.NOT_READY
    assert "secret API_KEY is not set" in result.stderr and "--env-file" in result.stderr
    assert fake_clis.calls() == []
    assert not (project / "fly.toml").exists()


def test_secrets_can_come_from_an_env_file(fake_clis, project, tmp_path):
    env_file = tmp_path / "prod.env"
    env_file.write_text(f"export API_KEY='{SECRETS['API_KEY']}'\n# comment\n", encoding="utf-8")
    result = fake_clis.run("up", "--target", "fly", "--no-verify", "--env-file", str(env_file), cwd=project,
                           env={"OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"]})
    assert result.returncode == 0, result.stderr
    [imported] = [c for c in fake_clis.calls("fly") if c.command == ["secrets", "import"]]
    assert f'API_KEY="{SECRETS["API_KEY"]}"' in imported.stdin


def test_local_secrets_are_optional_and_read_from_the_env_file(fake_clis, project, tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text(f"API_KEY={SECRETS['API_KEY']}\n", encoding="utf-8")
    result = fake_clis.run("up", "--target", "local", "--dry-run", "--env-file", str(env_file), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "secrets in its environment when set: OPENAI_API_KEY, API_KEY" in result.stdout
    assert "optional secrets (names only): OPENAI_API_KEY (not set: left out), API_KEY (set)" in result.stdout
    assert no_secret_values(result.stdout, result.stderr)


def test_check_always_gates_up(project, monkeypatch):
    # No fallback that ships unchecked: if `check` cannot run, `up` does not either.
    from streamdeploy.commands import up as command

    monkeypatch.setitem(sys.modules, "streamdeploy.capabilities", None)
    with pytest.raises(ImportError):
        command._gate(loader.load(project / "streamdeploy.yaml"), "fly", force=False, as_json=True)


def test_a_missing_cli_stops_up_with_install_instructions(fake_clis, project):
    fake_clis.remove("fly")
    fake_clis.remove("flyctl")
    result = up(fake_clis, project)
    assert result.returncode == exitcodes.NOT_READY
    assert "`fly` is not installed" in result.stderr and "https://fly.io/install.sh" in result.stderr
    assert fake_clis.calls() == []


def test_a_missing_token_stops_up_with_login_instructions(fake_clis, project):
    result = up(fake_clis, project, logged_in=False)
    assert result.returncode == exitcodes.NOT_READY
    assert "not logged in" in result.stderr and "No access token available" in result.stderr
    assert "FLY_API_TOKEN" in result.stderr
    assert [" ".join(c.command) for c in fake_clis.calls()] == ["auth whoami"]  # the readiness probe only


def test_a_stopped_docker_daemon_stops_up(fake_clis, project):
    result = up(fake_clis, project, target="docker", env={"FAKE_DOCKER_DAEMON": "down"})
    assert result.returncode == exitcodes.NOT_READY
    assert "the Docker daemon is not answering" in result.stderr and "Is the docker daemon running?" in result.stderr
    assert "systemctl start docker" in result.stderr


def test_check_errors_stop_up_unless_forced(fake_clis, project):
    text = (project / "streamdeploy.yaml").read_text()
    (project / "streamdeploy.yaml").write_text(text.replace("replicas: 1", "replicas: 3"))
    stopped = up(fake_clis, project)
    assert stopped.returncode == exitcodes.FAILED
    assert "error" in stopped.stderr and "--force" in stopped.stderr
    assert fake_clis.calls() == []
    forced = up(fake_clis, project, "--force")
    assert forced.returncode == 0, forced.stderr
    assert [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]


# --- failures, timeouts, interrupts -------------------------------------------------------


def test_a_failing_deploy_shows_the_cli_error_and_the_next_thing_to_try(fake_clis, project):
    fake_clis.fail("fly deploy", exit=1, stderr="Error: failed to fetch an image or build from source: boom")
    result = up(fake_clis, project)
    assert result.returncode == exitcodes.FAILED
    assert "Error: failed to fetch an image or build from source: boom" in result.stderr
    assert "✗ [6/6] Deploying stream-gen-ui" in result.stderr
    assert "next:" in result.stderr and "stopped at step 6" in result.stderr
    assert no_secret_values(result.stdout, result.stderr)


def test_a_step_over_the_timeout_is_stopped(fake_clis, project):
    fake_clis.slow("fly deploy", 60)
    started = time.monotonic()
    result = up(fake_clis, project, "--step-timeout", "2")
    assert time.monotonic() - started < 60
    assert result.returncode == exitcodes.FAILED and "timed out after 2.0s" in result.stderr
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.signal == "SIGINT" and deploy.exit == 127  # flyctl's exit code when interrupted


def start_deploy(fakes, project: Path) -> tuple[subprocess.Popen, "object"]:
    """`up --target fly` until its `fly deploy` (made slow) is running; returns up and that call."""
    fakes.slow("fly deploy", 60)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamdeploy", "up", "--target", "fly", "--no-verify"], cwd=project,
        env={**fakes.env(), **SECRETS}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [c for c in fakes.calls("fly") if c.command == ["deploy"]]:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)
    [deploy] = [c for c in fakes.calls("fly") if c.command == ["deploy"]]
    return process, deploy


def test_ctrl_c_stops_the_running_cli_names_the_step_and_exits_130(fake_clis, project):
    process, _ = start_deploy(fake_clis, project)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == exitcodes.INTERRUPTED, err
    assert "interrupted during step 6 (Deploying stream-gen-ui" in err
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.signal == "SIGINT" and deploy.exit == 127
    assert "Traceback" not in err and no_secret_values(out, err)


def gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_closed_terminal_sighup_stops_the_running_cli_like_sigterm(fake_clis, project):
    process, deploy = start_deploy(fake_clis, project)
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=60)
    assert process.returncode == exitcodes.INTERRUPTED, err
    assert "interrupted during step 6 (Deploying" in err and "Traceback" not in err
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.signal == "SIGINT" and gone(deploy.pid)


def test_closing_the_terminal_up_runs_in_stops_the_cli_cleanly(fake_clis, project):
    # A real hangup: `up` on a pseudo-terminal it controls, whose other end is closed. After
    # that every write to the terminal fails, and stopping the CLI must not trip over it.
    import os
    import pty

    fake_clis.slow("fly deploy", 60)
    env = {**fake_clis.env(), **SECRETS}
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session leader with the pty as its controlling terminal
        os.chdir(project)
        os.execve(sys.executable, [sys.executable, "-m", "streamdeploy", "up", "--target", "fly", "--no-verify"], env)
    try:
        deadline = time.monotonic() + 60
        while not [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]:
            assert time.monotonic() < deadline
            try:
                os.read(terminal, 65536)  # keep the terminal drained, as a terminal would
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.3)
        os.close(terminal)  # the window closes: the kernel sends SIGHUP
        terminal = None
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "up did not end after its terminal closed"
            time.sleep(0.1)
        assert os.waitstatus_to_exitcode(done[1]) == exitcodes.INTERRUPTED
    finally:
        if terminal is not None:
            os.close(terminal)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.signal == "SIGINT" and gone(deploy.pid)


def test_sigkill_to_up_never_leaves_the_platform_cli_running(fake_clis, project):
    process, deploy = start_deploy(fake_clis, project)
    process.kill()  # no handler runs: the supervisor between up and the CLI must stop it
    process.communicate(timeout=30)
    assert gone(deploy.pid), "fly deploy outlived the `up` that started it"
    [deploy] = [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    assert deploy.signal == "SIGTERM"
    # and the next `up` starts clean: nothing of the killed run is left to name
    fake_clis.clear_calls()
    again = up(fake_clis, project)
    assert again.returncode == 0, again.stderr
    assert "still running" not in again.stderr


def test_down_never_signals_a_process_that_took_over_a_recorded_pid(fake_clis, project):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        record = {"pid": stranger.pid, "kind": "background", "description": "Starting api",
                  "command": "sh -c 'exec uvicorn app.main:app'", "start": 1, "boot": None}
        (project / ".streamdeploy").mkdir()
        (project / ".streamdeploy" / "local.pid").write_text(json.dumps(record) + "\n")
        result = fake_clis.run("down", cwd=project)
        assert_no_traceback(result)
        assert result.returncode == 0
        assert f"pid {stranger.pid} is now `" in result.stderr and "time.sleep(60)" in result.stderr
        assert "left it alone" in result.stderr and "nothing is running" in result.stderr
        assert stranger.poll() is None
        # `down` forgot the pid file; as it was, --json says the same
        (project / ".streamdeploy" / "local.pid").write_text(json.dumps(record) + "\n")
        as_json = fake_clis.run("down", "--json", cwd=project)
        assert as_json.returncode == 0
        data = json.loads(as_json.stdout)
        assert data["ok"] and data["stopped"] == [] and data["already_stopped"] == ["local"]
        [alone] = data["left_alone"]
        assert alone["pid"] == stranger.pid and alone["target"] == "local" and "time.sleep(60)" in alone["now"]
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


# --- files and output --------------------------------------------------------------------------


def test_a_hand_edited_config_is_not_overwritten_and_nothing_ships(fake_clis, project):
    assert up(fake_clis, project).returncode == 0
    (project / "fly.toml").write_text((project / "fly.toml").read_text() + "\n# my tweak\n")
    fake_clis.clear_calls()
    result = up(fake_clis, project)
    assert result.returncode == exitcodes.FAILED
    assert "refusing to overwrite" in result.stderr and "fly.toml" in result.stderr
    assert not [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
    forced = up(fake_clis, project, "--force")
    assert forced.returncode == 0 and "# my tweak" not in (project / "fly.toml").read_text()


def test_up_json_reports_each_step(fake_clis, project):
    result = up(fake_clis, project, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and data["target"] == "fly" and "fly.toml" in data["written"]
    assert [s["status"] for s in data["run"]["steps"]] == ["ok"] * 6
    assert data["url"] == "https://stream-gen-ui.fly.dev" and data["verify"] is None
    again = json.loads(up(fake_clis, project, "--json").stdout)
    assert [s["status"] for s in again["run"]["steps"]] == ["ok", "skipped", "skipped", "ok", "ok", "ok"]


def test_failure_json_keeps_the_tail(fake_clis, project):
    fake_clis.fail("fly deploy", exit=1, stderr="Error: no capacity in iad")
    result = up(fake_clis, project, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    failed = data["run"]["steps"][-1]
    assert not data["ok"] and failed["status"] == "failed" and failed["tail"][-1] == "Error: no capacity in iad"


def test_a_secret_too_short_to_mask_is_a_warning_not_garbled_output(fake_clis, project):
    fake_clis.fail("fly deploy", exit=1, stderr="Error: no capacity in iad")
    result = up(fake_clis, project, env={"API_KEY": "a"})
    assert result.returncode == 1
    assert "API_KEY is shorter than 4 characters" in result.stderr
    assert "Error: no capacity in iad" in result.stderr and "stream-gen-ui" in result.stderr


def test_down_with_nothing_running(fake_clis, project):
    result = fake_clis.run("down", cwd=project)
    assert result.returncode == 0 and "nothing is running" in result.stderr
    as_json = fake_clis.run("down", "--json", cwd=project)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"ok": True, "stopped": [], "already_stopped": [], "left_alone": []}


def test_down_json_without_a_description_is_the_problems_json(fake_clis, tmp_path):
    result = fake_clis.run("down", "--json", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == exitcodes.BAD_INPUT
    data = json.loads(result.stdout)
    assert data["ok"] is False and "streamdeploy.yaml" in data["errors"][0]["message"]


def test_a_secret_value_the_platform_cannot_carry_stops_up_before_step_1(fake_clis, project):
    result = up(fake_clis, project, env={"API_KEY": 'a"b # c\nd"""'})
    assert result.returncode == exitcodes.BAD_INPUT
    assert "the value of API_KEY cannot be sent to `fly secrets import` unchanged" in result.stderr
    assert "fly secrets set API_KEY=-" in result.stderr
    assert fake_clis.calls() == [] and 'a"b' not in result.stderr


def test_a_targets_problem_with_a_key_says_file_and_line(fake_clis, project):
    (project / "requirements.txt").unlink()
    result = fake_clis.run("plan", "--target", "local", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "streamdeploy.yaml:" in result.stderr and "services.api.build.install" in result.stderr
    assert "<input>" not in result.stderr


def test_a_corrupt_verify_state_file_stops_up_before_anything_ships(fake_clis, project):
    (project / ".streamdeploy").mkdir()
    (project / ".streamdeploy" / "verify.json").write_text("[1, 2]")
    result = fake_clis.run("up", "--target", "fly", cwd=project, env=SECRETS)
    assert_no_traceback(result)
    assert result.returncode == exitcodes.BAD_INPUT
    assert "is not a verify state file" in result.stderr and "delete" in result.stderr
    assert not [c for c in fake_clis.calls("fly") if c.command == ["deploy"]]
