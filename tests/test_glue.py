"""streamdeploy.glue runs once per step of a deploy: it must start fast."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_the_glue_imports_no_target_and_no_pydantic():
    code = ("import sys, streamdeploy.glue; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('streamdeploy', 'pydantic', 'httpx')))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == ["streamdeploy", "streamdeploy.glue"]


def test_an_unknown_program_says_which_there_are():
    out = subprocess.run([sys.executable, "-m", "streamdeploy.glue", "nonsense"], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 2 and "render-validated | render-deploy" in out.stderr and "rollback" in out.stderr


def test_the_rollback_programs_import_nothing_heavy_either():
    code = ("import sys, json, streamdeploy.glue, streamdeploy.releases; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('streamdeploy', 'pydantic')))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["streamdeploy", "streamdeploy.exitcodes", "streamdeploy.glue",
                                      "streamdeploy.releases"]
