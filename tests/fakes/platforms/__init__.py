"""Per-CLI behaviour of the fakes: what each command does to the state and prints.

Each module has ``HANDLERS`` ({command path: function(call) -> exit code}) and, unless
the tool has no login and reads no stdin (node, npm), ``check_auth(call)`` and
``reads_stdin(call)``. Outputs follow the shapes recorded in
research/cli-contracts.md (JSON field names, text lines) closely enough for plans'
probes and for people reading test output.
"""

from __future__ import annotations

import hashlib
from importlib import import_module


def module(cli: str):
    return import_module(f"fakes.platforms.{cli}")


def ident(prefix: str, *parts: object, length: int = 14) -> str:
    """A stable id: the same inputs give the same id in every run."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}{digest[:length]}"


def digest(value: str) -> str:
    """What the fakes keep of a secret: enough to compare, nothing to read back."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]
