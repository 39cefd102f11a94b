"""Test setup for the example app: ``import app`` works, helpers load, real servers as fixtures.

The repo runs pytest with --import-mode=importlib, so nothing here relies on packages.
examples/app goes at the END of sys.path (for ``import app``) so it never shadows the
repo's own modules, and this folder is NOT put on sys.path: the repo's tests import
their ``conftest`` by name. The helpers load by file path as ``app_testkit`` instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APP_DIR = HERE.parent
if str(APP_DIR) not in sys.path:
    sys.path.append(str(APP_DIR))


def _load_testkit():
    if "app_testkit" not in sys.modules:
        spec = importlib.util.spec_from_file_location("app_testkit", HERE / "app_testkit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app_testkit"] = module
        spec.loader.exec_module(module)
    return sys.modules["app_testkit"]


AppServer = _load_testkit().AppServer


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(data_dir=None, **env) -> a healthy AppServer; all are stopped afterwards."""
    servers: list[AppServer] = []

    def start(data_dir: Path | None = None, wait: str = "healthy", **env: str) -> AppServer:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        server = AppServer(data_dir or tmp_path / "chroma", home=home, env=env, log_dir=tmp_path)
        servers.append(server)
        server.start()
        if wait == "healthy":
            server.wait_healthy()
        elif wait == "listening":
            server.wait_listening()
        return server

    yield start
    for server in servers:
        server.kill()
