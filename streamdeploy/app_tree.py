"""Which directories of an app the source scan walks into: one rule for `detect` (which
reads the Python files there) and `source_facts` (which keys its cache on them)."""

from __future__ import annotations

import os

MAX_DEPTH = 10

SKIP_DIRS = frozenset(
    {
        "node_modules", "site-packages", "dist-packages", "__pycache__", "venv", "env", "virtualenv",
        "build", "dist", "htmlcov", "tests", "test", "testing", "migrations", "alembic",
    }
)


def walks_into(name: str, path: str, depth: int) -> bool:
    """Whether the scan enters directory ``name`` at ``path``, ``depth`` levels below the root
    (its parent's depth + 1): not hidden, not a tool's or a virtualenv's folder, not too deep."""
    return (depth < MAX_DEPTH and not name.startswith(".") and name not in SKIP_DIRS
            and not name.endswith(".egg-info") and not os.path.exists(os.path.join(path, "pyvenv.cfg")))
