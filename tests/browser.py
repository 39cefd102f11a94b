"""A real headless Chromium (Debian's package) driven by Playwright, for browser tests.

Only loopback pages are loaded. The flags keep Chromium off the network it cannot reach
here (background updates, sync, QUIC); as root it needs --no-sandbox.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import Iterator

import pytest

CHROMIUM = os.environ.get("STREAMDEPLOY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (make test installs it when run as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium() -> Iterator["object"]:
    """A launched Playwright Browser; the test skips with the reason when there is none."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched
