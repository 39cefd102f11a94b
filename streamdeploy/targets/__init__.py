"""The ordered registry of targets. Modules load only when a target is used,
so `streamdeploy --help` never pays for rendering code.

Adding a platform: write ``targets/<name>.py`` exposing ``TARGET``, add its name here,
add its facts to ``capabilities``, add golden files.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Iterable

from streamdeploy.targets.base import Target

# render/up targets in the order `--target all` renders them
NAMES = ("docker", "fly", "railway", "render", "compose", "kubernetes", "cloudrun", "digitalocean", "fargate")
DEPLOYABLE = NAMES + ("local",)
# Files around the platforms rather than a place to run: rendered when asked for, and by
# `--target all` only when the description sets them up (targets.github.deploy).
EXTRAS = ("github",)
RENDERABLE = NAMES + EXTRAS


def get(name: str) -> Target:
    if name not in DEPLOYABLE + EXTRAS:
        raise KeyError(name)
    return import_module(f"streamdeploy.targets.{name}").TARGET


def described_extras(spec: Any) -> list[str]:
    """The extras this description sets up."""
    return ["github"] if spec is not None and spec.targets.github.deploy else []


def expand(name: str, spec: Any = None) -> list[str]:
    """``all`` -> every platform target, plus the extras the description sets up; otherwise the one name."""
    return [*NAMES, *described_extras(spec)] if name == "all" else [name]


def unknown(name: str, choices: Iterable[str], *, what: str = "target"):
    """The error for a name that is not one of ``choices``, with the nearest one suggested."""
    import difflib

    from streamdeploy.problems import fail

    choices = list(choices)
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean `{near[0]}`? " if near else ""
    return fail(f"unknown {what} `{name}`", fix=f"{hint}use one of: {', '.join(choices)}")
