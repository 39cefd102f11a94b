"""Where a description may point and where streamdeploy may write: inside the project.

The project root is the nearest folder, from the description's own upward, that holds
`.git`: a monorepo's service may build from a sibling folder (``build.context: ../app``).
Outside a repository it is the description's own folder. Every path the description names
resolves inside that root, and every file `render` writes stays inside its bound (the
project root, or the `--out` directory), with symlinks followed: a link never carries a
write out of the tree.

Only the standard library here: `validate` imports this module.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_NAME = 255  # bytes in one file name (NAME_MAX): longer is ENAMETOOLONG, not "missing"
MAX_PATH = 1024


def project_root(description_dir: Path) -> Path:
    """The nearest folder holding `.git` (a file in a git worktree), else ``description_dir``."""
    here = Path(os.path.realpath(description_dir))
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def normalize(path: str) -> str:
    """A path as the description's targets spell it: `/` separators (a Windows user's
    `..\\app` means `../app`), no `.` or doubled separators; "." for the folder itself."""
    normal = posixpath.normpath(path.replace("\\", "/"))
    return "." if normal in ("", ".") else normal


def is_absolute(path: str) -> bool:
    """`/srv/app`, `\\srv\\app` and `C:\\app`: absolute on some machine, so never portable."""
    spelled = path.replace("\\", "/")
    return spelled.startswith("/") or bool(_DRIVE.match(spelled))


def inside(path: Path, bound: Path) -> bool:
    """Whether ``path``, every symlink on the way followed, is ``bound`` or under it."""
    real, limit = Path(os.path.realpath(path)), Path(os.path.realpath(bound))
    return real == limit or limit in real.parents


def escape(value: str, base: Path, root: Path) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) when the path ``value``, relative to ``base``, leaves
    ``root``; None when it stays inside."""
    keep = f"keep it inside the project, {root} (the nearest folder holding .git, else the description's folder)"
    if "\0" in value:
        return f"`{value!r}` contains a NUL character, which no path can hold", "write the path without it"
    if len(value) > MAX_PATH or any(len(part.encode("utf-8")) > MAX_NAME for part in normalize(value).split("/")):
        return (f"`{value[:40]}...` is longer than a path can be",
                f"a folder or file name is at most {MAX_NAME} bytes, a path at most {MAX_PATH} characters")
    if is_absolute(value):
        return f"`{value}` is an absolute path", f"write it relative to the description, and {keep}"
    if not inside(base / normalize(value), root):
        return f"`{value}` leads outside the project", keep
    return None
