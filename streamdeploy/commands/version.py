"""`streamdeploy version`."""

from __future__ import annotations

from streamdeploy import __version__, exitcodes


def run(as_json: bool = False) -> int:
    if as_json:
        import json
        import platform

        print(json.dumps({"version": __version__, "python": platform.python_version()}))
    else:
        print(f"streamdeploy {__version__}")
    return exitcodes.OK
