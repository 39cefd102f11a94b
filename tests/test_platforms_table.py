"""streamdeploy/platforms_table.py is what tools/platforms_table.py makes of platforms.toml today."""

from __future__ import annotations

import importlib.util
import tomllib

from conftest import REPO

from streamdeploy import capabilities


def test_the_facts_capabilities_reads_are_platforms_toml():
    spec = importlib.util.spec_from_file_location("platforms_table_tool", REPO / "tools" / "platforms_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert (REPO / "streamdeploy" / "platforms_table.py").read_text(encoding="utf-8") == tool.generate(), \
        "platforms.toml changed: run `.venv/bin/python tools/platforms_table.py` and commit streamdeploy/platforms_table.py"
    toml = tomllib.loads((REPO / "streamdeploy" / "platforms.toml").read_text(encoding="utf-8"))
    assert capabilities._data() == toml
