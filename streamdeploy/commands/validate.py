"""`streamdeploy validate` and `streamdeploy schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from streamdeploy import console, exitcodes, loader

SCHEMA_ID = "https://raw.githubusercontent.com/streamdeploy/streamdeploy/main/streamdeploy.schema.json"


def run(file: Path | None, as_json: bool = False) -> int:
    loaded = loader.load(file)
    spec = loaded.spec
    services = ", ".join(
        f"{name} ({'port ' + str(s.port) if s.port else 'worker'}"
        f"{', ' + str(len(s.volumes)) + ' volume' + ('s' if len(s.volumes) != 1 else '') if s.volumes else ''}"
        f"{', streaming' if s.streaming else ''})"
        for name, s in spec.services.items()
    )
    if as_json:
        console.emit_json({"ok": True, "file": str(loaded.path), "name": spec.name, "services": list(spec.services)})
    else:
        console.success(f"{loader._display(loaded.path)}: {spec.name}: {len(spec.services)} service"
                        f"{'s' if len(spec.services) != 1 else ''}: {services}")
    return exitcodes.OK


def json_schema() -> dict:
    from streamdeploy.spec import Spec

    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "streamdeploy.yaml", **schema}


def print_schema() -> int:
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return exitcodes.OK
