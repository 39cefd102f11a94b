"""streamdeploy/spec_table.py is what tools/spec_table.py makes of spec.py today."""

from __future__ import annotations

import importlib.util

from conftest import REPO


def test_the_table_quickspec_reads_is_generated_from_the_models():
    spec = importlib.util.spec_from_file_location("spec_table_tool", REPO / "tools" / "spec_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert (REPO / "streamdeploy" / "spec_table.py").read_text() == tool.generate(), \
        "spec.py changed: run `.venv/bin/python tools/spec_table.py` and commit streamdeploy/spec_table.py"
