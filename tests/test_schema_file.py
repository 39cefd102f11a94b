"""The committed streamdeploy.schema.json (what editors fetch via the modeline) is current."""

from __future__ import annotations

import json

from conftest import REPO
from streamdeploy.commands.validate import json_schema


def test_committed_schema_matches_the_models():
    committed = json.loads((REPO / "streamdeploy.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run `streamdeploy schema > streamdeploy.schema.json`"
