"""Shared test helpers: the CLI as a subprocess, golden files, the platforms' schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STREAMDEPLOY_SHARED", REPO.parent / "shared"))
SCHEMAS = SHARED / "schemas"
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"

# No test reads the calendar: every date-bound rule asks streamdeploy.clock, which reads
# STREAMDEPLOY_TODAY, pinned here for this process and every CLI subprocess it starts.
# tests/test_clock.py runs the date-bound tests again with it set to 2025-01-01 and 2030-01-01.
TEST_TODAY = "2026-12-02"
os.environ.setdefault("STREAMDEPLOY_TODAY", TEST_TODAY)
# The scan cache (streamdeploy/source_facts.py) of this run, for it and its subprocesses:
# never the user's own, and empty at the start of each run.
os.environ["STREAMDEPLOY_CACHE_DIR"] = tempfile.mkdtemp(prefix="streamdeploy-test-cache-")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden from current output.")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


def platform_schema(name: str) -> dict:
    """A published schema from ../shared/schemas; the test skips when that folder is absent."""
    path = SCHEMAS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (it is in CI)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_description(tmp_path: Path, text: str):
    """Write `text` as tmp_path/streamdeploy.yaml and load it for real."""
    from streamdeploy import loader

    path = tmp_path / "streamdeploy.yaml"
    path.write_text(text, encoding="utf-8")
    return loader.load(path)


def load_example(name: str):
    """examples/<name>/streamdeploy.yaml, loaded."""
    from streamdeploy import loader

    return loader.load(EXAMPLES / name / "streamdeploy.yaml")


def init_repository(folder: Path) -> None:
    """Make ``folder`` a git repository: the project root, inside which a description's paths
    may lead (examples/multi builds its API from ../app, a sibling folder of the repository)."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, capture_output=True)


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*/streamdeploy.yaml"))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m streamdeploy ARGS` for real: exit codes, stderr, no traceback."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "streamdeploy", *args],
        cwd=cwd or REPO,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout

# The corpus apps are services, not tests: their own tests/ folders are part of what `init` reads.
collect_ignore_glob = ["corpus/apps/*"]
