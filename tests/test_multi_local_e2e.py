"""The two-service example for real: `up --target local` starts the API and its Streamlit dashboard,
the dashboard pointed at the API, `verify` checks both, and a real headless Chromium signs in,
sees a document appear from the live /events feed without a reload, adds one, searches, and
keeps a screenshot (tests/artifacts/dashboard.png; the README's picture is one of them).

Both services run on this interpreter's packages (STREAMDEPLOY_LOCAL_PYTHON): `make setup`
installs the dashboard's requirements (Streamlit) next to the app's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from browser import chromium
from conftest import EXAMPLES, REPO, assert_no_traceback, init_repository, run_cli
from streamdeploy.targets import local

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "tests" / "artifacts"
PASSWORD = 'pa$$ "w0rd" #admin'
API_KEY = "apikey-Z9y8X7w6-dashboard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(tmp_path):
    """examples/app and examples/multi side by side (multi builds the API from ../app), quick heartbeats."""
    pytest.importorskip("streamlit", reason="the dashboard's requirements are not installed (make setup)")
    ignore = shutil.ignore_patterns(".streamdeploy", "__pycache__", "tests", ".models", "chroma_data", ".env")
    shutil.copytree(EXAMPLES / "app", tmp_path / "app", ignore=ignore)
    root = tmp_path / "multi"
    shutil.copytree(EXAMPLES / "multi", root, ignore=ignore)
    init_repository(tmp_path)  # the project both folders are in
    text = (root / "streamdeploy.yaml").read_text()
    text = text.replace('SSE_HEARTBEAT: "15"', 'SSE_HEARTBEAT: "1"').replace("heartbeat: 15s", "heartbeat: 1s")
    port = free_port()
    text += f"  local: {{port: {port}}}\n"
    (root / "streamdeploy.yaml").write_text(text)
    yield root, port
    run_cli("down", "-f", str(root / "streamdeploy.yaml"), timeout=60)


def env_with(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "OPENAI_API_KEY", "ADMIN_PASSWORD")}
    return {**env, local.PYTHON_ENV: sys.executable, "ADMIN_PASSWORD": PASSWORD, "API_KEY": API_KEY, **extra}


def test_both_services_start_in_order_verify_and_the_dashboard_works_in_a_browser(project):
    root, api_port = project
    result = run_cli("up", "--target", "local", "--detach", "-f", str(root / "streamdeploy.yaml"),
                     env=env_with(), timeout=240)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    err = result.stderr
    # API first, then a wait until it answers, then the dashboard pointed at it
    api_at, admin_at = err.index("Starting api on"), err.index("Starting admin on")
    assert api_at < err.index("Waiting for api to answer before starting admin") < admin_at
    admin_url = re.search(r"Starting admin on (http://127\.0\.0\.1:\d+)", err).group(1)
    api_url = f"http://127.0.0.1:{api_port}"
    # verify checked both: the API fully, the dashboard on its own health path
    out = result.stdout
    assert f"verify {api_url} (service api)" in out and f"verify {admin_url} (service admin)" in out
    assert "/_stcore/health" in out and out.count("✓ verified") == 2
    assert httpx.get(f"{admin_url}/_stcore/health", timeout=10).text == "ok"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2000})  # tall: the whole page in one shot
        page.goto(admin_url, wait_until="networkidle")
        # nothing shows before the password; a wrong one is refused
        assert page.get_by_text("Documents (").count() == 0
        page.get_by_label("Password", exact=True).fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Wrong password.").wait_for(timeout=20_000)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Documents (").wait_for(timeout=30_000)
        page.get_by_text(f"API at {api_url}").wait_for()  # API_URL came from {service: api}
        page.get_by_text("/events: connected").wait_for(timeout=20_000)

        # a document another client adds shows up without a reload, from the /events feed
        added = httpx.post(f"{api_url}/documents", headers={"Authorization": f"Bearer {API_KEY}"}, json={
            "documents": [{"id": "river-notes", "text": "Rivers carry sediment to the sea."}]}, timeout=10)
        assert added.status_code == 201, added.text
        started = time.monotonic()
        page.get_by_text("added river-notes").wait_for(timeout=15_000)
        page.get_by_role("cell", name="river-notes", exact=True).wait_for(timeout=15_000)
        seen_after = time.monotonic() - started

        # the dashboard adds one itself (with API_KEY) and deletes it again
        page.get_by_label("Text").fill("Mountains rise where plates collide.")
        page.get_by_label("Id (optional)").fill("mountain-notes")
        page.get_by_role("button", name="Add").click()
        page.get_by_text("added mountain-notes").first.wait_for(timeout=15_000)
        assert httpx.get(f"{api_url}/documents/mountain-notes", timeout=10).status_code == 200

        # search shows the hits with their distances
        page.get_by_label("Query").fill("sediment in rivers")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("columnheader", name="distance").wait_for(timeout=15_000)
        page.get_by_text("Rivers carry sediment to the sea.").last.wait_for()
        # Streamlit scrolls inside its own container, not the window
        page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

        page.get_by_label("Id", exact=True).fill("mountain-notes")
        page.get_by_role("button", name="Delete").click()
        page.get_by_text("deleted mountain-notes").first.wait_for(timeout=15_000)
    assert httpx.get(f"{api_url}/documents/mountain-notes", timeout=10).status_code == 404
    assert seen_after < 10, f"the feed took {seen_after:.1f}s"

    # a second up: both replaced, the API's data kept, the dashboard still pointed at it
    again = run_cli("up", "--target", "local", "--detach", "--json", "-f", str(root / "streamdeploy.yaml"),
                    env=env_with(), timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["ok"] and any(c["name"] == "persisted" and c["status"] == "ok" for c in report["verify"]["checks"])
    assert httpx.get(f"{api_url}/documents/river-notes", timeout=10).status_code == 200
    assert any(note.startswith("admin at http://127.0.0.1:") and note.endswith(": ok")
               for note in report["verify"]["notes"])
