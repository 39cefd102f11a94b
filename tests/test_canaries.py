"""Canary secrets through every target: CLIs that fail and echo them must never show them.

Six values that break naive masking (long, four characters, unicode, `$`, quotes,
base64-looking) are the description's secrets. For each platform target one step fails
after printing every one of them the ways real CLIs leak values (raw, base64 inside a
Basic header, URL-encoded, JSON-escaped, hard-wrapped across two lines; on stdout and
stderr). Nothing `up` prints, and nothing it leaves on disk, may hold any of those forms.
The local target's service echoes them into its log instead.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from conftest import EXAMPLES, assert_no_traceback, init_repository, run_cli
from fakes import fake_clis  # noqa: F401  (fixture)
from test_up_fakes import render_repository

CANARIES = {
    "API_KEY": "canary-long-" + "Zq8Lr3Wx" * 12 + "-end",
    "CANARY_SHORT": "k9Z!",
    "CANARY_UNICODE": "pässwört-ключ-🔑-秘密",
    "CANARY_DOLLAR": "pa$$w0rd$HOME${PATH}",
    "CANARY_QUOTES": """it's "quoted" \\ back""",
    "CANARY_B64": "c2VjcmV0LXZhbHVlLTEyMw==",
}

# The step that fails, per target: one that carries secrets where there is one.
FAILING = {
    "fly": "fly secrets import",
    "railway": "railway variable set",
    "render": "render blueprints validate",
    "docker": "docker run",
    "compose": "docker compose up",
    "kubernetes": "kubectl apply",
}


def forms(value: str) -> list[str]:
    """Every way the fakes print a value, down to the pieces a wrap leaves on each line."""
    half = len(value) // 2
    encoded = base64.b64encode(value.encode()).decode()
    found = [value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value), encoded.rstrip("="),
             base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
             base64.b64encode(f"user:{value}".encode()).decode()[8:-4]]
    if half >= 8:  # a shorter half is too common a string to look for
        found += [value[:half], value[half:]]
    return [f for f in found if len(f) >= 4]


def leaks(text: str) -> list[str]:
    return [f"{name}: {form!r}" for name, value in CANARIES.items() for form in forms(value) if form in text]


def canary_project(tmp_path: Path, example: str = "app") -> Path:
    root = tmp_path / "project"
    ignore = shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__", ".venv", ".models", "chroma_data", ".env")
    shutil.copytree(EXAMPLES / example, root, ignore=ignore)
    if example == "multi":  # it builds the API from ../app, inside the repository
        shutil.copytree(EXAMPLES / "app", tmp_path / "app", ignore=ignore)
        init_repository(tmp_path)
    path = root / "streamdeploy.yaml"
    text = path.read_text(encoding="utf-8")
    names = ", ".join(CANARIES)
    text = re.sub(r"secrets: \[[^\]]*\]", f"secrets: [{names}]", text)  # every service: all six
    path.write_text(text, encoding="utf-8")
    return root


def files_with_leaks(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and "node_modules" not in path.parts and ".git" not in path.parts:
            hits = leaks(path.read_text(encoding="utf-8", errors="replace"))
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def test_the_forms_looked_for_are_the_ones_the_fakes_print(fake_clis, tmp_path):
    # The test's own oracle: an echo with no masker in between shows every form.
    fake_clis.fail("fly version", echo_env=tuple(CANARIES))
    echoed = fake_clis.cli("fly", "version", env=CANARIES)
    assert echoed.returncode == 1
    everything = echoed.stdout + echoed.stderr
    missing = [f"{n}: {f!r}" for n, v in CANARIES.items() for f in forms(v) if f not in everything]
    assert not missing, missing


@pytest.mark.parametrize("target", sorted(FAILING))
def test_a_failing_cli_that_echoes_secrets_shows_none_of_them(fake_clis, tmp_path, target):
    root = canary_project(tmp_path, "multi" if target in ("railway", "compose") else "app")
    if target == "render":
        render_repository(fake_clis, root)
    fake_clis.fail(FAILING[target], exit=1, stderr="Error: rejected", echo_env=tuple(CANARIES))
    for attempt in ("--json", None):  # the human output and the JSON result
        args = ["up", "--target", target, "--no-verify", *([attempt] if attempt else [])]
        result = fake_clis.run(*args, cwd=root, env=CANARIES)
        assert_no_traceback(result)
        assert result.returncode == 1, result.stdout + result.stderr
        assert [c for c in fake_clis.calls() if c.name.startswith(FAILING[target])], "the failing step never ran"
        assert "***" in result.stdout + result.stderr  # the echo was there, masked
        assert not leaks(result.stdout + result.stderr), (leaks(result.stdout + result.stderr),
                                                          result.stdout + result.stderr)
    assert not files_with_leaks(root)


ECHO_SERVER = textwrap.dedent("""\
    import base64, json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import quote, quote_plus

    NAMES = %r
    for name in NAMES:
        value = os.environ.get(name, "")
        half = len(value) // 2
        print(f"{name}={value}", flush=True)
        print("basic", base64.b64encode(f"user:{value}".encode()).decode(), file=sys.stderr, flush=True)
        print("url", quote(value, safe=""), quote_plus(value), flush=True)
        print("json", json.dumps({"v": value}), flush=True)
        print("b64", base64.b64encode(value.encode()).decode(),
              base64.urlsafe_b64encode(value.encode()).decode().rstrip("="), flush=True)
        print("wrapped:", value[:half], flush=True)
        print(value[half:], "<- continued", flush=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
    """)


def test_the_local_log_and_output_hold_no_secret_a_service_echoes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "echo"
    root.mkdir()
    (root / "server.py").write_text(ECHO_SERVER % (list(CANARIES),), encoding="utf-8")
    (root / "requirements.txt").write_text("")
    (root / "streamdeploy.yaml").write_text(f"""\
version: 1
name: echo
services:
  web:
    start: python server.py
    port: {port}
    health: {{path: /health}}
    secrets: [{", ".join(CANARIES)}]
""", encoding="utf-8")
    env = {"STREAMDEPLOY_LOCAL_PYTHON": sys.executable, **CANARIES}
    try:
        result = run_cli("up", "--target", "local", "--detach", "-f", str(root / "streamdeploy.yaml"), env=env)
        assert_no_traceback(result)
        assert result.returncode == 0, result.stderr
        log = root / ".streamdeploy" / "logs" / "local.log"
        deadline = time.monotonic() + 10
        while "<- continued" not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text(encoding="utf-8")
        assert text.count("<- continued") == len(CANARIES), text
        assert "***" in text
        assert not leaks(text), (leaks(text), text)
        assert not leaks(result.stdout + result.stderr)
    finally:
        stopped = run_cli("down", "-f", str(root / "streamdeploy.yaml"))
    assert not leaks(stopped.stdout + stopped.stderr)
    assert not files_with_leaks(root)
