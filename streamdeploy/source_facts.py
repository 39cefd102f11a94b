"""What `check` reads from an app's source, kept between runs.

`check` (and `render`, which runs it) asks the app's source which routes it serves, whether
an app object is there, and which servers or models it needs when it runs. Scanning and
importing the scanner (`detect`) is a third of `render --target all` on a small app, so
the answer is cached in the user's cache folder, one file per app folder, and used again
while the scanner's code and every file the scan could read are unchanged.

The key is exact, not a guess: for every folder the scan walks into (one rule,
`app_tree.walks_into`) the name, type, size, inode and modification and change times of
each entry, plus the scanner's own files and the Python version. A write to any of them
changes a change time (``st_ctime_ns``, which no tool can set back), so an edit is never
missed; an edit elsewhere in the tree only costs a scan. As in git's "racy clean" rule, an
answer is not kept while a file is younger than a second: the file system's clock ticks
coarsely, so a second edit in the same tick would leave every time as it was. A fresh scan
and a cached one go through the same JSON, so they give the same objects.

The folder is ``$STREAMDEPLOY_CACHE_DIR``, else ``$XDG_CACHE_HOME/streamdeploy``, else
``~/.cache/streamdeploy``; ``STREAMDEPLOY_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from streamdeploy import __version__
from streamdeploy.app_tree import walks_into
from streamdeploy.records import record

FORMAT = 1
MAX_ENTRIES = 5000  # a tree this big is scanned each time rather than stat'ed into a key
SETTLED_NS = 1_000_000_000  # younger files may change again within their timestamp's tick


@record(frozen=True)
class Route:
    """A route the app serves, as `check` needs it (`detect.Route`)."""

    path: str
    file: str
    line: int
    sse: bool
    resolved: bool


@record(frozen=True)
class Need:
    """A server or a model the app needs when it runs (`detect.Needs`)."""

    kind: str
    file: str
    line: int
    env: str | None
    what: str
    at_start: bool


@record(frozen=True)
class SourceFacts:
    root: Path
    app: bool
    routes: tuple[Route, ...]
    needs: tuple[Need, ...]


def read(where: Path) -> SourceFacts | None:
    """The facts of the app in ``where``; None when it is not a folder or its source cannot be read."""
    if not where.is_dir():
        return None
    started = time.time_ns()
    key, newest = _key(where)
    place = _place(where) if key is not None else None
    if place is not None:
        cached = _cached(place, key)
        if cached is not None:
            return cached
    data = _scan(where)
    if data is None:
        return None
    if place is not None and started - newest >= SETTLED_NS:
        _store(place, key, data)
    return _facts(data)


def _scan(where: Path) -> dict | None:
    from streamdeploy import detect

    try:
        facts = detect.scan_app(where)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError):
        return None  # an unreadable app is `init`'s problem, not a platform limit
    return {
        "root": str(facts.root),
        "app": bool(facts.app),
        "routes": [[str(r.path), str(r.file), r.line, bool(r.sse), bool(r.resolved)] for r in facts.routes],
        "needs": [[n.kind, n.file, n.line, n.env, n.what, bool(n.at_start)] for n in facts.needs],
    }


def _facts(data: dict) -> SourceFacts:
    return SourceFacts(Path(data["root"]), data["app"], tuple(Route(*r) for r in data["routes"]),
                       tuple(Need(*n) for n in data["needs"]))


# ----------------------------------------------------------------------------- the cache


def _key(where: Path) -> tuple[str | None, int]:
    """Everything the scan's answer depends on, as text (None when the tree is too big or
    unreadable), and the newest change time among the files in it."""
    code = Path(__file__).parent
    try:
        scanner = [_stat(os.stat(code / name)) for name in ("detect.py", "app_tree.py", "source_facts.py")]
    except OSError:
        return None, 0
    entries: list[Any] = []
    newest = 0
    pending = [(str(where), 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as listing:
                found = sorted(listing, key=lambda e: e.name)
        except OSError:
            return None, 0
        entries.append(folder)
        for entry in found:
            if len(entries) > MAX_ENTRIES:
                return None, 0
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                # Followed: the scan reads a linked requirements.txt through its link.
                stat = None if is_dir else _stat(entry.stat())
            except OSError:
                entries.append([entry.name, None])
                continue
            entries.append([entry.name, is_dir, entry.is_symlink(), stat])
            if stat is not None:
                newest = max(newest, stat[3])
            elif walks_into(entry.name, entry.path, depth + 1):
                pending.append((entry.path, depth + 1))
    parts = [FORMAT, __version__, sys.version, str(where.resolve()), scanner, entries]
    return json.dumps(parts, separators=(",", ":")), newest


def _stat(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def _place(where: Path) -> Path | None:
    if os.environ.get("STREAMDEPLOY_NO_CACHE"):
        return None
    folder = os.environ.get("STREAMDEPLOY_CACHE_DIR")
    if not folder:
        home = os.environ.get("XDG_CACHE_HOME")
        if not home or not os.path.isabs(home):  # the XDG spec: a relative path is ignored
            home = os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(home, "streamdeploy")
    # One file per app folder (a later scan replaces it); the full key inside decides a hit.
    name = f"{zlib.crc32(str(where.resolve()).encode('utf-8', 'surrogateescape')):08x}.json"
    return Path(folder) / "source-facts" / name


def _cached(place: Path, key: str) -> SourceFacts | None:
    """The stored facts when they were stored under this key; None for anything else (a
    missing, older, foreign or damaged file: the scan runs again and replaces it)."""
    try:
        stored = json.loads(place.read_text(encoding="utf-8"))
        if stored["key"] == key:
            return _facts(stored["facts"])
    except (OSError, ValueError, LookupError, TypeError):
        pass
    return None


def _store(place: Path, key: str, data: dict) -> None:
    """Written whole (a temporary file renamed over it) or not at all: a cache is never worth an error."""
    try:
        place.parent.mkdir(parents=True, exist_ok=True)
        temporary = place.with_name(f".{place.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"key": key, "facts": data}), encoding="utf-8")
        os.replace(temporary, place)
    except OSError:
        pass
