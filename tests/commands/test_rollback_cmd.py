"""`streamdeploy rollback` as a user runs it: the targets it takes, what stops it before step 1
(a target without releases, a missing login, nothing to go back to), dry runs and JSON.
What each platform does is in tests/test_rollback_fakes.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_no_traceback, run_cli
from fakes import fake_clis  # noqa: F401  (fixture)
from streamdeploy import exitcodes


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "app", root, ignore=shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__"))
    return root


def rollback(project: Path, *args: str, env: dict | None = None):
    result = run_cli("rollback", *args, cwd=project, env=env)
    assert_no_traceback(result)
    return result


def test_local_has_no_releases_and_says_how_to_run_older_code(project):
    result = rollback(project, "--target", "local")
    assert result.returncode == exitcodes.BAD_INPUT
    assert "runs the working tree" in result.stderr and "git checkout <commit>" in result.stderr
    as_json = rollback(project, "--target", "local", "--json")
    assert as_json.returncode == exitcodes.BAD_INPUT
    assert "working tree" in json.loads(as_json.stdout)["errors"][0]["message"]


@pytest.mark.parametrize("target,words", [
    ("github", "one platform at a time"),
    ("all", "one platform at a time"),
    ("kubernets", "did you mean `kubernetes`?"),
    ("cloudrun", "not available yet"),  # a platform `up` ships to, without a rollback of its own here
])
def test_a_target_that_cannot_roll_back_is_bad_input(project, target, words):
    result = rollback(project, "--target", target)
    assert result.returncode == exitcodes.BAD_INPUT and words in result.stderr


def test_the_target_is_required(project):
    result = rollback(project)
    assert result.returncode == exitcodes.BAD_INPUT and "--target" in result.stderr


def test_nothing_recorded_here_is_exit_1_before_any_step(project):
    result = rollback(project, "--target", "compose")
    assert result.returncode == exitcodes.FAILED
    assert "no release on this machine" in result.stderr and "streamdeploy up --target compose" in result.stderr


def test_dry_run_of_a_platform_rollback_shows_the_glue_and_runs_nothing(project):
    shown = rollback(project, "--target", "fly", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "fly releases --app stream-gen-ui --json | " in shown.stdout
    assert "fly deploy --app stream-gen-ui" in shown.stdout and "--remote-only" not in shown.stdout
    plan = json.loads(rollback(project, "--target", "kubernetes", "--dry-run", "--json").stdout)
    [find, *waits] = plan["steps"]
    assert find["argv"][:3] == ["kubectl", "get", "replicasets"]
    assert find["pipe_to"][-6:] == ["kubectl", "apply", "--server-side", "--field-manager=streamdeploy", "-f", "-"]
    assert "--force-conflicts" not in find["pipe_to"] and all(w["argv"][1:3] == ["rollout", "status"] for w in waits)
    assert not any("statefulset" in " ".join(w["argv"]) for w in waits)  # a store is never rolled back


def test_a_missing_login_stops_before_step_1(fake_clis, project):
    result = fake_clis.run("rollback", "--target", "fly", cwd=project, logged_in=False)
    assert_no_traceback(result)
    assert result.returncode == exitcodes.NOT_READY
    assert not [c for c in fake_clis.calls("fly") if c.command in (["releases"], ["deploy"])]
