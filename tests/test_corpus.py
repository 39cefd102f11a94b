"""The corpus (tests/corpus): `init` on services we wrote the ways people write them, compared
field by field with the description a person would write; then `init && up --target local`
and `verify` end to end on the ones that run here, twice (the second run reads back the first
run's marker: the data is on the volume, not in the source tree)."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path

import pytest

from conftest import assert_no_traceback, run_cli
from corpus.score import CORPUS, apps, compare, init_copy
from streamdeploy.targets import local

APPS = apps()
E2E = [name for name, meta in APPS.items() if meta.get("e2e") is True]


def test_the_corpus_covers_every_pattern_the_issue_names():
    patterns = " ".join(p.lower() for meta in APPS.values() for p in meta["patterns"])
    for needed in ("single file", "app/ package", "src/ layout", "backend/ monorepo", "requirements.txt",
                   "uv.lock", "langchain", "llamaindex", "httpclient", "sqlite", "upload", "worker",
                   "streamingresponse", "post /chat/stream", "poetry", "procfile", "router mounted twice",
                   "prefixes from settings", "helper scripts"):
        assert needed in patterns, needed
    assert len(APPS) >= 12 and len(E2E) >= 6


@pytest.mark.parametrize("app", list(APPS))
def test_init_writes_what_a_reader_of_the_code_would(app, tmp_path):
    meta = APPS[app]
    where, done = init_copy(app, tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    score = compare(CORPUS / "expected" / f"{meta.get('expected', app)}.yaml", where / "streamdeploy.yaml", app)
    assert score.wrong == meta.get("misses", []), score.details


def test_helper_scripts_migrations_and_tests_are_not_the_service(tmp_path):
    where, _ = init_copy("worker_shared", tmp_path)
    text = (where / "streamdeploy.yaml").read_text()
    for name in ("DIAG_TOKEN", "MIGRATION_DB_PASSWORD", "DEBUG_OUTPUT"):
        assert name not in text
    where, done = init_copy("helpers_routers", tmp_path / "h")
    text = (where / "streamdeploy.yaml").read_text()
    assert "REINDEX_TOKEN" not in text and "TEST_SECRET_KEY" not in text
    from streamdeploy.detect import scan_app

    assert "/reindex" not in {r.path for r in scan_app(where).routes}
    assert "items is mounted more than once" in done.stderr


def test_what_init_says_about_needs_it_cannot_meet(tmp_path):
    _, done = init_copy("sqlite_uploads", tmp_path)
    assert "the app connects to Redis at $REDIS_URL when it starts (app/main.py:13)" in done.stderr
    _, done = init_copy("langchain_rag", tmp_path / "l")
    assert "downloads the model sentence-transformers/all-MiniLM-L6-v2 from a model hub when it starts" in done.stderr
    assert "POST /chat/stream streams with a plain StreamingResponse, which sends no heartbeat" in done.stderr
    _, done = init_copy("worker_shared", tmp_path / "w")
    assert "the worker ingest_worker.py opens the same data as the app (chroma:CHROMA_DB_PATH)" in done.stderr


def test_check_warns_about_the_apps_needs(tmp_path):
    where, _ = init_copy("sqlite_uploads", tmp_path)
    found = json.loads(run_cli("check", "-f", str(where / "streamdeploy.yaml"), "--target", "fly", "--json").stdout)
    rules = {f["rule"] for f in found["findings"]}
    assert "app-needs-server" in rules
    where, _ = init_copy("langchain_rag", tmp_path / "l")
    found = json.loads(run_cli("check", "-f", str(where / "streamdeploy.yaml"), "--target", "railway", "--json").stdout)
    rules = {f["rule"] for f in found["findings"]}
    assert {"app-downloads-model", "heartbeat-none"} <= rules
    where, _ = init_copy("worker_shared", tmp_path / "w")
    found = json.loads(run_cli("check", "-f", str(where / "streamdeploy.yaml"), "--target", "fly", "--json").stdout)
    assert "volume-shared-by-services" in {f["rule"] for f in found["findings"]}


# --- init && up --target local && verify ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepared(app: str, tmp_path: Path) -> Path:
    """init as a user runs it; then only what a test needs: quick heartbeats and a free port."""
    where, done = init_copy(app, tmp_path)
    assert done.returncode == 0, done.stderr
    description = where / "streamdeploy.yaml"
    text = description.read_text()
    text = text.replace("heartbeat: 15s", "heartbeat: 1s")
    text = re.sub(r"^targets:.*$", f"targets:\n  local: {{port: {free_port()}}}", text, count=1, flags=re.M)
    if "stores:" in text:
        text = text.replace("  chroma: {engine: chroma}", f"  chroma: {{engine: chroma, port: {free_port()}}}")
    description.write_text(text)
    env = APPS[app].get("env", {})
    if env:  # the user's own .env beside the description (fake values)
        (where / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return where


def up(where: Path, *args: str):
    env = {local.PYTHON_ENV: sys.executable, "SSE_PING": "1"}
    result = run_cli("up", "--target", "local", "-f", str(where / "streamdeploy.yaml"), "--detach", "--json", *args,
                     env=env, timeout=240)
    assert_no_traceback(result)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("app", E2E)
def test_init_then_up_local_is_verified_and_keeps_its_data(app, tmp_path):
    where = prepared(app, tmp_path)
    try:
        first = up(where)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        report = json.loads(first.stdout)["verify"]
        checks = {c["name"]: c["status"] for c in report["checks"]}
        assert checks["health"] == "ok" and checks["stream"] == "ok", report
        if "write" in checks:
            assert checks["write"] == checks["read"] == "ok", report
            second = up(where)
            assert second.returncode == 0, second.stderr[-3000:]
            again = {c["name"]: c["status"] for c in json.loads(second.stdout)["verify"]["checks"]}
            assert again["persisted"] == "ok"  # the first run's marker survived the restart
        volumes = [c for c in report["checks"] if c["name"] == "volumes"]
        assert all(c["status"] == "ok" for c in volumes), volumes
    finally:
        run_cli("down", "-f", str(where / "streamdeploy.yaml"), timeout=60)


@pytest.mark.slow
def test_data_that_lands_in_the_source_tree_fails_verify(tmp_path):
    where = prepared("stray_data", tmp_path)
    try:
        result = up(where)
        assert result.returncode == 1
        failed = [c for c in json.loads(result.stdout)["verify"]["checks"] if c["status"] == "failed"]
        assert [c["name"] for c in failed] == ["volumes"]
        assert failed[0]["detail"].startswith("volume chroma_data stayed empty while api wrote chroma_store/")
        assert "add `env: CHROMA_DB_PATH`" in failed[0]["detail"]  # the same name init suggests
        assert (where / "chroma_store" / "chroma.sqlite3").is_file()
    finally:
        run_cli("down", "-f", str(where / "streamdeploy.yaml"), timeout=60)
