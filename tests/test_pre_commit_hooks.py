"""The pre-commit hook this repository provides: a valid manifest, and a hook that really runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, run_cli

MANIFEST = REPO / ".pre-commit-hooks.yaml"


def pre_commit(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_the_manifest_is_valid_by_pre_commits_own_check(tmp_path):
    assert pre_commit("validate-manifest", str(MANIFEST), cwd=REPO).returncode == 0
    broken = tmp_path / "hooks.yaml"
    broken.write_text(MANIFEST.read_text().replace("language: python", "language: snake"))
    assert pre_commit("validate-manifest", str(broken), cwd=REPO).returncode != 0  # it does check


@pytest.mark.slow
def test_the_hook_passes_an_up_to_date_project_and_fails_on_drift(tmp_path):
    if not shutil.which("git"):
        pytest.skip("needs git")
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / "app", project, ignore=shutil.ignore_patterns(".streamdeploy", "__pycache__", ".venv"))
    assert run_cli("render", "--target", "all", cwd=project).returncode == 0
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "app"]):
        subprocess.run(["git", *argv], cwd=project, env={**os.environ, **git}, check=True)
    env = {**git, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    ok = pre_commit("try-repo", str(REPO), "streamdeploy-render-check", "--all-files", cwd=project, env=env,
                    timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    description = project / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("cpu: 0.5", "cpu: 1"))
    drift = pre_commit("try-repo", str(REPO), "streamdeploy-render-check", "--all-files", cwd=project, env=env,
                       timeout=600)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "streamdeploy render" in drift.stdout
