"""Helpers for the fuzz tests: the CLI run in-process, sandboxes, and mutated descriptions.

A subprocess per case costs ~0.5 s; in-process, `validate` is a few milliseconds, so the
suite can afford thousands of cases. ``invoke`` runs ``streamdeploy.cli.main`` exactly as
the console script does (its ProblemsError handling and --json path included) and reports
an escaped exception as a traceback instead of letting it end the test run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import yaml

from conftest import EXAMPLES, REPO, init_repository

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 130}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    traceback: str | None = None  # an exception that escaped the CLI: always a bug

    def json(self) -> dict:
        return json.loads(self.stdout)


def invoke(*args: str, cwd: Path) -> Result:
    """``streamdeploy ARGS`` in this process, in ``cwd``."""
    from streamdeploy import cli

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["streamdeploy", *args]
    os.chdir(cwd)
    code, escaped = 0, None
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            except Exception:  # noqa: BLE001 - what the fuzzer is looking for
                escaped, code = traceback.format_exc(), -1
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return Result(code, out.getvalue(), err.getvalue(), escaped)


def example_texts() -> dict[str, str]:
    """Every example description, and the corpus's expected descriptions: name -> YAML text."""
    found = {p.parent.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*/streamdeploy.yaml"))}
    for path in sorted((REPO / "tests" / "corpus" / "expected").glob("*.yaml"))[:8]:
        found[f"corpus/{path.stem}"] = path.read_text(encoding="utf-8")
    return found


def example_data() -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in example_texts().items()}


# --- the sandbox: a repository inside an outer folder nothing may touch ----------------------


class Sandbox:
    """``outer/`` holds a sentinel file and ``repo/`` (a git repository, the project root) with
    ``repo/svc/`` where the description lives. Writes may land in ``repo/`` only; an error
    must write nothing at all."""

    def __init__(self, base: Path) -> None:
        self.outer = base / "outer"
        self.repo = self.outer / "repo"
        self.svc = self.repo / "svc"
        self.svc.mkdir(parents=True)
        (self.outer / "sentinel.txt").write_text("not streamdeploy's\n")
        init_repository(self.repo)
        (self.svc / "requirements.txt").write_text("fastapi\nuvicorn\n")
        (self.svc / "app").mkdir()
        (self.svc / "app" / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")

    def reset(self, text: str) -> None:
        """A fresh description; what an earlier case wrote is removed."""
        for child in self.svc.iterdir():
            if child.name not in ("requirements.txt", "app"):
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        for child in self.repo.iterdir():
            if child.name not in (".git", "svc"):
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        (self.svc / "streamdeploy.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")

    def snapshot(self) -> dict[str, float]:
        """Every file under outer/ but .git: relative path -> (size, mtime)."""
        found = {}
        for folder, dirs, files in os.walk(self.outer):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in files:
                path = Path(folder) / name
                stat = path.lstat()
                found[str(path.relative_to(self.outer))] = (stat.st_size, stat.st_mtime_ns)
        return found


def changes(before: dict, after: dict) -> list[str]:
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p))


def check_invariants(result: Result, command: tuple[str, ...], before: dict, after: dict) -> None:
    """What every run must keep to, whatever the description says."""
    assert result.traceback is None, f"{command}: traceback\n{result.traceback}"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in DOCUMENTED_EXIT_CODES, (command, result.code, result.stderr)
    changed = changes(before, after)
    outside = [p for p in changed if not p.startswith("repo/")]
    assert not outside, f"{command} wrote outside the project: {outside}"
    if result.code != 0:
        assert not changed, f"{command} failed ({result.code}) yet wrote {changed}\n{result.stderr}"
    if "--json" in command:
        document = result.json()  # one JSON document on stdout, failures included
        if result.code == 2:
            assert document["ok"] is False and document["errors"], document
            for error in document["errors"]:
                assert error.get("message"), error
    if result.code == 2 and "--json" in command:
        for error in result.json()["errors"]:
            if error.get("file", "").endswith("streamdeploy.yaml") and error.get("key"):
                assert error.get("line"), f"an error about a key with no line: {error}"
