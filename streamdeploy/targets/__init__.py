"""The ordered registry of targets. Modules load only when a target is used,
so `streamdeploy --help` never pays for rendering code.

Adding a platform: write ``targets/<name>.py`` exposing ``TARGET``, add its name here,
add its facts to ``capabilities``, add golden files.
"""

from __future__ import annotations

from importlib import import_module

from streamdeploy.targets.base import Target

# render/up targets in the order `--target all` renders them
NAMES = ("docker", "fly", "railway", "render", "compose", "kubernetes", "cloudrun", "digitalocean", "fargate")
DEPLOYABLE = NAMES + ("local",)


def get(name: str) -> Target:
    if name not in DEPLOYABLE:
        raise KeyError(name)
    return import_module(f"streamdeploy.targets.{name}").TARGET


def expand(name: str) -> list[str]:
    """``all`` -> every renderable target; otherwise the one name."""
    return list(NAMES) if name == "all" else [name]
