"""`pip install .` (not editable) gives a streamdeploy that works from any directory:
every subpackage, the templates and the platform facts are inside the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from conftest import EXAMPLES, REPO


@pytest.mark.slow
def test_a_real_install_renders_checks_and_compares_from_elsewhere(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(site), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert not (site / "streamdeploy" / "__editable__").exists()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(EXAMPLES / "app" / "streamdeploy.yaml", project / "streamdeploy.yaml")
    shutil.copy(EXAMPLES / "app" / "requirements.txt", project / "requirements.txt")  # `check` wants it
    # -S: no .pth files, so the development checkout's editable-install hook stays out and
    # only the installed copy (plus the dependencies' own directories) can be imported.
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *deps]), "NO_COLOR": "1"}
    for args in (["render", "-t", "all"], ["check", "-t", "fly"], ["compare"], ["schema"], ["plan", "-t", "fly"]):
        result = subprocess.run([sys.executable, "-S", "-m", "streamdeploy", *args], cwd=project, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    probe = subprocess.run([sys.executable, "-S", "-c", "import streamdeploy.commands as c; print(c.__file__)"],
                           cwd=project, env=env, capture_output=True, text=True)
    assert probe.stdout.startswith(str(site)), "the test must exercise the installed copy"
    for name in ("Dockerfile", "fly.toml", "render.yaml", "compose.yaml", ".railway/railway.ts", "k8s/api.yaml"):
        assert (project / name).is_file(), name
