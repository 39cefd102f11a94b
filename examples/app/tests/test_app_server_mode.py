"""Chroma as a server (`chroma run`) shared by two app processes: the way to run several replicas."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app_testkit import CLEAN_SIGTERM_CODES, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def chroma_cli() -> str | None:
    beside_python = Path(sys.executable).with_name("chroma")
    return str(beside_python) if beside_python.exists() else shutil.which("chroma")


@pytest.fixture
def chroma_server(tmp_path):
    cli = chroma_cli()
    if cli is None:
        pytest.skip("the `chroma` CLI is not installed")
    port = free_port()
    log = open(tmp_path / "chroma.log", "wb")
    proc = subprocess.Popen(
        [cli, "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start: {(tmp_path / 'chroma.log').read_text(errors='replace')}")
            time.sleep(0.1)
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        log.close()


def test_two_replicas_share_one_chroma_server(start_server, chroma_server, tmp_path):
    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_server)}
    a = start_server(data_dir=tmp_path / "unused-a", **env)
    b = start_server(data_dir=tmp_path / "unused-b", **env)
    with a.client() as ca, b.client() as cb:
        health = cb.get("/health").json()
        assert health["chroma"] == "server" and health["host"] == "127.0.0.1" and health["port"] == chroma_server
        doc = {"id": "shared", "text": "written through replica A, read through replica B"}
        assert ca.post("/documents", json={"documents": [doc]}).status_code == 201
        assert cb.get("/documents/shared").json()["text"] == doc["text"]
        assert cb.get("/search", params={"q": "replica B"}).json()["hits"][0]["id"] == "shared"
        assert cb.post("/documents", json={"documents": [doc]}).status_code == 409
        assert cb.delete("/documents/shared").status_code == 204
        assert ca.get("/documents/shared").status_code == 404
    for server in (a, b):
        assert server.terminate()[0] in CLEAN_SIGTERM_CODES
    assert not (tmp_path / "unused-a").exists()  # server mode never touches the local path
