"""Helpers for the fuzz tests: the CLI run in-process, sandboxes, and mutated descriptions.

A subprocess per case costs ~0.5 s; in-process, `validate` is a few milliseconds, so the
suite can afford thousands of cases. ``invoke`` runs ``streamdeploy.cli.main`` exactly as
the console script does (its ProblemsError handling and --json path included) and reports
an escaped exception as a traceback instead of letting it end the test run.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from conftest import EXAMPLES, REPO, init_repository

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 130}
# The smallest valid description with one service: the hand-written bad cases start from it.
MINIMAL = """\
version: 1
name: svc
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
"""


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

    _cached_commands()
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


@lru_cache(maxsize=None)
def example_texts() -> dict[str, str]:
    """Every example description, and the corpus's expected descriptions: name -> YAML text."""
    found = {p.parent.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*/streamdeploy.yaml"))}
    for path in sorted((REPO / "tests" / "corpus" / "expected").glob("*.yaml"))[:8]:
        found[f"corpus/{path.stem}"] = path.read_text(encoding="utf-8")
    return found


@lru_cache(maxsize=None)
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


# --- in-process speed: typer builds the click command on every call; build it once ------------


def _cached_commands() -> None:
    import typer.main

    from streamdeploy import cli

    if getattr(typer.main.get_command, "_fuzz_cached", False):
        return
    build, built = typer.main.get_command, {}

    def get_command(app):
        if app is not cli.app:
            return build(app)
        if "app" not in built:
            built["app"] = build(app)
        return built["app"]

    get_command._fuzz_cached = True
    typer.main.get_command = get_command


# --- mutations: what a description may be turned into ----------------------------------------

PATH_LIKE = ["../../outside", "..\\..\\outside", "/etc", "/tmp/elsewhere", "C:\\Windows", "a/../../..", "~",
             "~/x", "./../svc/../../..", "k8s", ".streamdeploy", ".git", "\\\\server\\share", "app\x00.py",
             "../" * 40, "x/" * 200, "", ".", "..", "./", "con", "Dockerfile", "requirements.txt"]
UNIT_LIKE = ["1e400s", "9" * 400 + "s", "9" * 400 + "GB", "99999999999999TB", ".inf", ".nan", "-1s", "-1GB",
             "0s", "0", "1.5", "15 s", "1m30s", "1h" * 50, "512MB", "1GiB", "0.0000001ms", "NaN", "Infinity",
             "1_000", "0x10", "1e3", "12:30", "2024-02-30"]
# Values a description might well hold: cases that stay valid go on to check, render and plan.
GENTLE = [1, 2, 3, 0.5, 8000, 8080, 8501, "512MB", "1GB", "2GiB", "256Mi", "15s", "1m", "10m", "90", True, False,
          "api", "worker", "/health", "/stream", "uvicorn app.main:app --host 0.0.0.0 --port $PORT",
          "python -m app.worker", "requirements.txt", ".", "./", "app/..", "3.11", "3.13", "fra", "iad",
          "production", "API_KEY", "/data/x", [], {}, None]
BUILD_PATHS = [".", "./", "app", "app/..", "./app/../.", "../svc", "../../outside", "..\\..\\outside", "/tmp/x",
               "C:\\app", "../..", "k8s/..", ".streamdeploy", "app\x00", "../svc/../../repo/svc"]
NASTY_TEXT = ["\ud800", "a\udfffb", "\x00", "\u202e", "\ufeff", "naïve ☃", "😀" * 30, "\n\n", "' \" # { } [ ] & * !",
              "${PORT}", "$(rm -rf /)", "`id`", "{{ 7*7 }}", "{% raw %}", "<script>", "a" * 3000, "yes", "no", "~",
              "null", "!!python/object:os.system", "%", "--", "-", "--port", "0.0.0.0", "::", "[::1]:8000"]


def strategies():
    """(values, descriptions): hypothesis strategies, built on first use."""
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63, 2**64, 10**300, 10**4000]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.text(max_size=40),
        st.sampled_from(PATH_LIKE + UNIT_LIKE + NASTY_TEXT),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(NASTY_TEXT)),
                                                inner, max_size=4)),
        max_leaves=12,
    )
    deep = st.integers(min_value=20, max_value=400).map(lambda n: _nested(n))
    values = st.one_of(values, values, values, values, deep)

    names = sorted(example_data())

    @st.composite
    def description(draw) -> str:
        data = copy.deepcopy(example_data()[draw(st.sampled_from(names))])
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            data = _mutate(draw, data, values)
        return _dump(draw, data)

    @st.composite
    def yaml_features(draw) -> str:
        """The YAML a person rarely writes but a parser must survive: anchors, merge keys,
        aliases of aliases, tags, flow and block styles mixed, deep nesting."""
        data = copy.deepcopy(example_data()[draw(st.sampled_from(names))])
        services = data.get("services") or {}
        first = next(iter(services), "api")
        service = services.get(first, {})
        flow = yaml.safe_dump(service, default_flow_style=True, allow_unicode=True, width=10**6).strip()
        extra_key = draw(st.sampled_from(["port", "start", "health", "env", "build", "volumes", "secrets",
                                          "streaming", "resources", "public", "nonsense", "<<"]))
        extra = yaml.safe_dump({extra_key: draw(values)}, default_flow_style=True, allow_unicode=True,
                               width=10**6).strip()[1:-1] or "public: true"
        variant = draw(st.sampled_from(["merge", "alias", "merge-list", "self-merge", "tags", "anchor-scalar",
                                        "digits"]))
        head = f"version: 1\nname: {data.get('name', 'svc')!s}\nservices:\n  {first}: &base {flow}\n"
        if variant == "merge":
            body = f"  second:\n    <<: *base\n    {extra}\n"
        elif variant == "merge-list":
            body = f"  second:\n    <<: [*base, {{port: 9000}}]\n    {extra}\n"
        elif variant == "alias":
            body = "  second: *base\n  third: *base\n"
        elif variant == "self-merge":
            body = f"  second: &loop\n    <<: *base\n    {extra}\n  third:\n    <<: *loop\n"
        elif variant == "tags":
            tag = draw(st.sampled_from(["!!str", "!!int", "!!float", "!!binary", "!!set", "!!omap", "!!timestamp",
                                        "!custom", "!!python/name:os.system"]))
            body = f"  second:\n    <<: *base\n    port: {tag} 8000\n"
        elif variant == "digits":  # literals safe_dump cannot write: past Python's int-to-str limit
            key = draw(st.sampled_from(["port", "replicas", "resources: {memory", "health: {grace", "env: {A"]))
            number = draw(st.sampled_from(["9" * 5000, "1." + "9" * 5000, "9" * 5000 + "e9", "0x" + "f" * 5000]))
            body = f"  second:\n    <<: *base\n    {key}: {number}{'}' if '{' in key else ''}\n"
        else:
            body = f"  second:\n    <<: *base\n    start: &cmd {draw(st.sampled_from(NASTY_TEXT))!r}\n    env: {{A: *cmd}}\n"
        return head + body

    return values, description(), yaml_features()


def _nested(depth: int) -> object:
    value: object = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _paths(data: object, here: tuple = ()) -> list[tuple]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, here + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, here + (i,))
    return found


def _at(data: object, where: tuple) -> object:
    for part in where:
        data = data[part]
    return data


def _alike(st, value: object):
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(min_value=0, max_value=70_000), st.integers())
    if isinstance(value, float):
        return st.one_of(st.floats(min_value=0, max_value=100), st.floats())
    if isinstance(value, str):
        return st.one_of(st.sampled_from(UNIT_LIKE + GENTLE[7:24]),
                         st.text(max_size=6).map(lambda extra: value + extra),
                         st.integers(min_value=0, max_value=len(value)).map(lambda n: value[:n]))
    if isinstance(value, list):
        return st.lists(st.sampled_from(value), max_size=len(value) + 1) if value else st.just([])
    return st.sampled_from(GENTLE)


def _mutate(draw, data: object, values) -> object:
    from hypothesis import strategies as st

    inner = _paths(data)[1:]
    where = draw(st.sampled_from(inner)) if inner and draw(st.integers(0, 49)) < 49 else ()  # the root: rarely
    how = draw(st.sampled_from(["replace", "replace", "gentle", "gentle", "alike", "alike", "alike", "alike", "delete",
                                "add", "nest", "path", "build-path", "build-path"]))
    if how == "build-path":  # where render writes the Dockerfile, where builds read from
        services = data.get("services") if isinstance(data, dict) else None
        service = next(iter(services.values()), None) if isinstance(services, dict) and services else None
        if isinstance(service, dict):
            build = service.setdefault("build", {}) if isinstance(service.get("build", {}), dict) else {}
            build[draw(st.sampled_from(["context", "context", "dockerfile", "install"]))] = \
                draw(st.sampled_from(BUILD_PATHS + PATH_LIKE))
        return data
    if how == "gentle":
        values = st.sampled_from(GENTLE)
        how = "replace"
    if how == "alike":  # a value of the same type: the likeliest to stay valid and go deeper
        values = _alike(st, _at(data, where))
        how = "replace"
    if not where:
        return draw(values) if how == "replace" else data
    parent = data
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    if how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last][draw(st.one_of(st.text(max_size=10), st.sampled_from(["port", "context", "<<", "env"])))] = \
            draw(values)
    elif how == "nest":
        parent[last] = _nested(draw(st.integers(min_value=1, max_value=40))) if draw(st.booleans()) \
            else [parent[last]]
    elif how == "path":
        parent[last] = draw(st.sampled_from(PATH_LIKE))
    else:
        parent[last] = draw(values)
    return data


def _dump(draw, data: object) -> str:
    from hypothesis import strategies as st

    try:
        # Without allow_unicode the emitter escapes what it cannot print: a surrogate becomes
        # the "\ud800" escape the loader must turn down; with it, the text holds it raw.
        return yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False,
                              default_flow_style=draw(st.sampled_from([False, None])), width=10**6)
    except (yaml.YAMLError, ValueError, RecursionError):
        return yaml.safe_dump({"version": 1, "name": "svc", "services": None})
