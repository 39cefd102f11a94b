"""The scan cache: a cached answer is the scan's answer, and any change to what the scan reads is seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamdeploy import detect, source_facts
from conftest import EXAMPLES, REPO

# The folders check scans (each description's), the examples' Python folders, and the corpus apps.
APPS = sorted({p.parent for p in EXAMPLES.rglob("streamdeploy.yaml")} | {p.parent for p in EXAMPLES.rglob("*.py")}
              | set((REPO / "tests" / "corpus" / "apps").iterdir()))

APP = '''from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"ok": True}
'''


def scanned(where: Path) -> tuple:
    """The oracle: what check reads, straight from detect.scan_app."""
    facts = detect.scan_app(where)
    return (str(facts.root), bool(facts.app),
            [(r.path, r.file, r.line, r.sse, r.resolved) for r in facts.routes],
            [(n.kind, n.file, n.line, n.env, n.what, n.at_start) for n in facts.needs])


def seen(facts: source_facts.SourceFacts) -> tuple:
    return (str(facts.root), facts.app, [(r.path, r.file, r.line, r.sse, r.resolved) for r in facts.routes],
            [(n.kind, n.file, n.line, n.env, n.what, n.at_start) for n in facts.needs])


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("STREAMDEPLOY_CACHE_DIR", str(folder))
    monkeypatch.delenv("STREAMDEPLOY_NO_CACHE", raising=False)
    monkeypatch.setattr(source_facts, "SETTLED_NS", 0)  # the tests' files are milliseconds old
    return folder


def scans(monkeypatch) -> list[Path]:
    """Counts the real scans from here on."""
    calls: list[Path] = []
    real = detect.scan_app
    monkeypatch.setattr(detect, "scan_app", lambda where: calls.append(where) or real(where))
    return calls


@pytest.mark.parametrize("where", APPS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_a_cached_answer_is_the_scans_answer(where, cache, monkeypatch):
    calls = scans(monkeypatch)
    first, second = source_facts.read(where), source_facts.read(where)
    assert len(calls) == 1, "the second read comes from the cache"
    assert seen(first) == seen(second) == scanned(where)


def app(tmp_path: Path) -> Path:
    where = tmp_path / "svc"
    (where / "app").mkdir(parents=True)
    (where / "app" / "__init__.py").write_text("")
    (where / "app" / "main.py").write_text(APP)
    (where / "requirements.txt").write_text("fastapi\nuvicorn\n")
    return where


def paths(where: Path) -> set[str]:
    return {r.path for r in source_facts.read(where).routes}


def test_an_edit_of_the_same_size_is_seen(tmp_path, cache, monkeypatch):
    where = app(tmp_path)
    assert paths(where) == {"/health"}
    main = where / "app" / "main.py"
    stat = main.stat()
    main.write_text(APP.replace("/health", "/status"))  # same length
    os.utime(main, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old modification time
    assert paths(where) == {"/status"}


def test_a_new_module_in_a_new_folder_is_seen(tmp_path, cache):
    where = app(tmp_path)
    assert paths(where) == {"/health"}
    (where / "app" / "routes").mkdir()
    (where / "app" / "routes" / "__init__.py").write_text("")
    (where / "app" / "main.py").write_text(APP + "\nfrom app.routes.extra import router\napp.include_router(router)\n")
    (where / "app" / "routes" / "extra.py").write_text(
        "from fastapi import APIRouter\nrouter = APIRouter()\n\n@router.get('/extra')\ndef extra():\n    return {}\n")
    assert paths(where) == {"/health", "/extra"}


def test_a_change_where_the_scan_never_looks_keeps_the_cache(tmp_path, cache, monkeypatch):
    where = app(tmp_path)
    (where / "node_modules").mkdir()
    (where / ".venv").mkdir()
    source_facts.read(where)
    calls = scans(monkeypatch)
    (where / "node_modules" / "pkg").mkdir()
    (where / "node_modules" / "pkg" / "index.py").write_text("x = 1\n")
    (where / ".venv" / "lib.py").write_text("x = 1\n")
    source_facts.read(where)
    assert calls == []


def test_a_damaged_or_foreign_cache_file_means_a_scan(tmp_path, cache, monkeypatch):
    where = app(tmp_path)
    source_facts.read(where)
    [stored] = (cache / "source-facts").iterdir()
    calls = scans(monkeypatch)
    for text in ("{not json", json.dumps({"key": "other", "facts": {}}), json.dumps([1, 2]),
                 json.dumps({"key": json.loads(stored.read_text())["key"], "facts": {"routes": 3}})):
        stored.write_text(text)
        assert paths(where) == {"/health"}
    assert len(calls) == 4


def test_no_cache_folder_to_write_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("STREAMDEPLOY_CACHE_DIR", str(blocker / "below"))
    assert paths(app(tmp_path)) == {"/health"}


def test_turned_off_it_writes_nothing(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("STREAMDEPLOY_NO_CACHE", "1")
    assert paths(app(tmp_path)) == {"/health"}
    assert not cache.exists()


def test_an_answer_about_files_just_written_is_not_kept(tmp_path, cache, monkeypatch):
    """git's racy-clean rule: a second write in the same clock tick would leave every time as it was."""
    monkeypatch.setattr(source_facts, "SETTLED_NS", 60 * 10**9)
    assert paths(app(tmp_path)) == {"/health"}
    assert not cache.exists()


def test_no_folder_no_facts(tmp_path, cache):
    assert source_facts.read(tmp_path / "missing") is None
    assert not cache.exists()


def test_a_warm_render_does_not_import_the_scanner(cache):
    """What the cache is for: `render --target all` with the app unchanged skips detect."""
    script = ("import sys\nfrom streamdeploy.launcher import main\nsys.argv = sys.argv[1:]\ntry:\n    main()\n"
              "except SystemExit:\n    pass\nprint('detect' if 'streamdeploy.detect' in sys.modules else 'none', "
              "file=sys.stderr)\n")
    argv = [sys.executable, "-c", script, "streamdeploy", "render", "--target", "all", "--stdout",
            "-f", str(EXAMPLES / "app" / "streamdeploy.yaml")]
    env = {**os.environ, "STREAMDEPLOY_CACHE_DIR": str(cache)}
    cold, warm = (subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120) for _ in range(2))
    assert cold.stderr.rsplit("\n", 2)[-2] == "detect"
    assert warm.stderr.rsplit("\n", 2)[-2] == "none"
    assert cold.stdout == warm.stdout
