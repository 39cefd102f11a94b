"""The `engines` group: real dockerd, Compose v2, Chromium and nginx (see engine.py, browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.engines)
            # A cold first run builds images (debootstrap, chromadb installs) on 2 shared cores.
            item.add_marker(pytest.mark.timeout(1800))
