"""`up` and `rollback --target compose` against the real Docker engine and Compose v2.

A tiny site served by `python -m http.server` from the generated image (no packages to
install, so no network): the real Compose interpolates the release tag, keeps each
release's image, starts the previous one with --no-build --pull never, and leaves the
named volume as it was. Skipped where no daemon runs or the base image is not here (no
registry is reachable to pull it from).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import assert_no_traceback, run_cli

BASE = "python:3.12-slim-bookworm"
BUILD_ENV = {"DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false"}  # the classic builder: no frontend to fetch
pytestmark = pytest.mark.slow


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture
def engine():
    if not shutil.which("docker") or docker("info", check=False, timeout=30).returncode != 0:
        pytest.skip("no Docker daemon here")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        pytest.skip(f"{BASE} is not on this host (no registry to pull it from)")
    if docker("compose", "version", check=False).returncode != 0:
        pytest.skip("Docker Compose v2 is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served(port: int) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_compose_rollback_for_real_starts_the_previous_image_and_keeps_the_volume(engine, tmp_path):
    name = f"sd-rb-{uuid.uuid4().hex[:8]}"
    port = free_port()
    root = tmp_path / name
    (root / "site").mkdir(parents=True)
    # The project's own Dockerfile: the generated one needs BuildKit (`COPY --chmod`), and
    # BuildKit fetches its `# syntax=` frontend from Docker Hub, which is not reachable here.
    (root / "Dockerfile").write_text(f"FROM {BASE}\nWORKDIR /app\nCOPY . .\n"
                                     'CMD ["sh", "-c", "exec python -m http.server ${PORT:-8000} --directory site"]\n')
    (root / "streamdeploy.yaml").write_text(
        f"version: 1\nname: {name}\nservices:\n  web:\n    build: {{dockerfile: Dockerfile}}\n"
        "    start: python -m http.server ${PORT:-8000} --directory site\n"
        f"    port: {port}\n    health: {{path: /, interval: 2s, timeout: 1s, grace: 2s}}\n"
        "    volumes: [{name: data, mount: /data, size: 1GB}]\n")
    (root / "requirements.txt").write_text("")
    (root / "site" / "index.html").write_text("release 1\n")
    volume = f"{name}_data"
    try:
        first = run_cli("up", "--target", "compose", "--no-verify", cwd=root, env=BUILD_ENV, timeout=600)
        assert_no_traceback(first)
        assert first.returncode == 0, first.stderr
        assert served(port) == "release 1\n"
        (root / "site" / "index.html").write_text("release 2\n")
        second = run_cli("up", "--target", "compose", "--no-verify", cwd=root, env=BUILD_ENV, timeout=600)
        assert second.returncode == 0, second.stderr
        assert served(port) == "release 2\n"
        assert run_cli("render", "--check", "--target", "compose", cwd=root).returncode == 0  # new code, no drift
        docker("run", "--rm", "-v", f"{volume}:/data", BASE, "sh", "-c", "echo kept > /data/marker")

        back = run_cli("rollback", "--target", "compose", "--no-verify", cwd=root, timeout=600)
        assert_no_traceback(back)
        assert back.returncode == 0, back.stderr
        assert served(port) == "release 1\n"  # the first image, started again without a build
        kept = docker("run", "--rm", "-v", f"{volume}:/data", BASE, "cat", "/data/marker")
        assert kept.stdout == "kept\n"  # the volume is the one it was

        again = run_cli("rollback", "--target", "compose", "--no-verify", cwd=root, timeout=600)
        assert again.returncode == 1 and "no earlier release" in again.stderr
        assert served(port) == "release 1\n"
    finally:
        docker("compose", "-p", name, "-f", str(root / "compose.yaml"), "down", "--volumes", check=False,
               timeout=120)
        history = root / ".streamdeploy" / "releases.json"
        if history.is_file():
            images = {i for e in json.loads(history.read_text())["targets"].get("compose", []) for i in
                      e["images"].values()}
            docker("image", "rm", *images, check=False, timeout=120)
        docker("volume", "rm", volume, check=False)
