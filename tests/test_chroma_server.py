"""Server mode for real: one `chroma run` and two processes of the example app, wired with
the variables the kubernetes and compose targets render for `store: chroma`.

A document written through one process is found through the other; /health names the
server; when the server goes away the app reports it (readiness) without dying (liveness
is only "the port listens"), and recovers by itself when the server is back.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import EXAMPLES
from streamdeploy import loader
from streamdeploy.targets import compose, kubernetes
from streamdeploy.targets.base import Context

pytestmark = pytest.mark.timeout(180)

APP_DIR = EXAMPLES / "app"
API_KEY = "test-key-not-a-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chroma_cli() -> str | None:
    beside = Path(sys.executable).with_name("chroma")
    return str(beside) if beside.exists() else shutil.which("chroma")


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            result = check()
            if result:
                return result
        except httpx.TransportError as err:
            last = err
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready after {timeout}s ({last!r}):\n{log.read_text(errors='replace')[-3000:]}")


class Processes:
    """Started processes, stopped (and reaped) whatever happens in the test."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], name: str, cwd: Path | None = None, env: dict | None = None):
        log = self.tmp_path / f"{name}.log"
        with open(log, "ab") as handle:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.started.append(proc)
        return proc, log

    def stop(self, proc: subprocess.Popen) -> int:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        assert all(p.poll() is not None for p in procs.started)


def start_chroma(processes: Processes, data: Path, port: int):
    proc, log = processes.start(
        [chroma_cli(), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)], f"chroma-{port}")
    url = f"http://127.0.0.1:{port}{kubernetes.CHROMA_HEARTBEAT}"
    wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, 60, "chroma run", proc, log)
    return proc


def rendered_app_env(chroma_port: int) -> dict[str, str]:
    """The api's variables as the scaled example renders them for Kubernetes and Compose.

    Only the address changes: the Service name `chroma` becomes loopback on this machine.
    """
    loaded = loader.load(EXAMPLES / "scaled" / "streamdeploy.yaml")
    spec = loaded.spec
    k8s_env, _ = kubernetes.plain_env(spec, "api")
    files = {f.path: f.content for f in compose.TARGET.render(spec, Context(root=loaded.root)).files}
    compose_file = yaml.safe_load(files[compose.FILE])
    secrets = spec.services["api"].secrets  # required from the caller's environment: ${NAME:?...}
    assert {k: v for k, v in compose_file["services"]["api"]["environment"].items() if k not in secrets} == k8s_env
    assert (k8s_env["CHROMA_HOST"], k8s_env["CHROMA_PORT"]) == ("chroma", str(spec.stores["chroma"].port))
    return {**k8s_env, "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_port)}


def start_app(processes: Processes, tmp_path: Path, env: dict[str, str], name: str):
    port = free_port()
    home = tmp_path / f"home-{name}"
    home.mkdir()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        **env,
        "PORT": str(port),
        "API_KEY": API_KEY,
        "CHROMA_DB_PATH": str(tmp_path / f"unused-{name}"),  # server mode must never touch it
    }
    proc, log = processes.start(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--timeout-graceful-shutdown", "5"],
        f"app-{name}", cwd=APP_DIR, env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/health", timeout=5).status_code == 200, 60, f"app {name}", proc, log)
    return proc, url


@pytest.mark.skipif(chroma_cli() is None, reason="the chroma CLI (chromadb package) is not installed")
@pytest.mark.skipif(not (APP_DIR / "app" / "main.py").exists(), reason="the example app is not there")
def test_two_app_processes_share_one_chroma_server(processes, tmp_path):
    chroma_port = free_port()
    data = tmp_path / "chroma-data"
    chroma = start_chroma(processes, data, chroma_port)
    env = rendered_app_env(chroma_port)
    _, url_a = start_app(processes, tmp_path, env, "a")
    _, url_b = start_app(processes, tmp_path, env, "b")
    auth = {"Authorization": f"Bearer {API_KEY}"}

    with httpx.Client(base_url=url_a, timeout=30) as a, httpx.Client(base_url=url_b, timeout=30) as b:
        for client in (a, b):
            health = client.get("/health").json()
            assert health["status"] == "ok"
            assert (health["chroma"], health["host"], health["port"]) == ("server", "127.0.0.1", chroma_port)

        doc = {"id": "via-a", "text": "written through process A about lighthouse keepers"}
        assert a.post("/documents", json={"documents": [doc]}, headers=auth).status_code == 201
        assert b.get("/documents/via-a").json()["text"] == doc["text"]
        hits = b.get("/search", params={"q": "lighthouse keepers"}).json()["hits"]
        assert hits and hits[0]["id"] == "via-a"
        assert b.post("/documents", json={"documents": [{"id": "via-b", "text": "second, from B"}]},
                      headers=auth).status_code == 201
        assert a.get("/documents/via-b").status_code == 200

        # The server goes away (a restarting StatefulSet pod): health says so, the app stays up.
        processes.stop(chroma)
        for client in (a, b):
            response = client.get("/health")
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable"
        assert a.get("/").status_code == 200  # still listening: a tcpSocket liveness probe passes

        # Back on the same data: both processes recover without a restart, and nothing was lost.
        start_chroma(processes, data, chroma_port)
        for client in (a, b):
            deadline = time.monotonic() + 30
            while client.get("/health").status_code != 200:
                assert time.monotonic() < deadline, client.get("/health").text
                time.sleep(0.2)
        assert b.get("/documents/via-a").json()["text"] == doc["text"]
        assert a.get("/documents/via-b").status_code == 200

    assert not (tmp_path / "unused-a").exists() and not (tmp_path / "unused-b").exists()
