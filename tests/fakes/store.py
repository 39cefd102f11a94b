"""The fakes' memory: a JSON state file and a JSONL call log under $FAKE_CLI_HOME.

Both are updated under an exclusive lock, so two fakes running at once (a pipeline
such as `kubectl create ... | kubectl apply -f -`) never lose each other's writes.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

STATE = "state.json"
CALLS = "calls.jsonl"
FAULTS = "faults.json"
LOCK = ".lock"


def home() -> Path:
    value = os.environ.get("FAKE_CLI_HOME")
    if not value:
        raise SystemExit("fake CLI: FAKE_CLI_HOME is not set (use the fake_clis fixture)")
    return Path(value)


@contextmanager
def locked(root: Path):
    with open(root / LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def append_line(root: Path, record: dict) -> None:
    with locked(root), open(root / CALLS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def next_call_id(root: Path) -> int:
    with locked(root):
        counter = root / ".calls"
        number = int(counter.read_text() or 0) + 1 if counter.exists() else 1
        counter.write_text(str(number))
        return number


@contextmanager
def state(root: Path):
    """The whole state, for reading and changing; written back when the block ends."""
    with locked(root):
        data = read_json(root / STATE, {})
        yield data
        write_json(root / STATE, data)
