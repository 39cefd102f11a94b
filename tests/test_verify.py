"""`streamdeploy verify` against a real uvicorn on 127.0.0.1 (tests/verify_app.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_no_traceback, run_cli
from streamdeploy import loader, verify

TESTS = Path(__file__).resolve().parent
SECRET = "s3cr3t-VALUE-never-printed"

DESCRIPTION = """\
version: 1
name: va
services:
  api:
    start: uvicorn verify_app:app --host 0.0.0.0 --port $PORT
    port: 8000
    health: {path: /health, timeout: 2s}
    streaming: {paths: [/events], heartbeat: 1s}
    secrets: [VA_KEY]
    verify:
      write:
        method: POST
        path: /documents
        headers: {Authorization: "Bearer ${VA_KEY}", X-Run: "run {marker}"}
        json: {documents: [{id: "{marker}", text: "marker {marker}"}]}
        expect_status: 201
      read: {path: "/documents/{marker}", expect_text: "marker {marker}"}
      stream: {path: /events%s}
"""

PLAIN = """\
version: 1
name: va
services:
  api:
    start: uvicorn verify_app:app --host 0.0.0.0 --port $PORT
    port: 8000
    health: {path: /health}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, **env: str):
        self.tmp = tmp
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "Server":
        env = {**os.environ, "VA_DATA": str(self.tmp / "docs.json"), "VA_LOG": str(self.tmp / "requests.log"),
               **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "verify_app:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=TESTS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if wait:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def requests(self) -> list[dict]:
        log = self.tmp / "requests.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def server(tmp_path):
    started: list[Server] = []

    def make(**env: str) -> Server:
        s = Server(tmp_path, **env)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def description(tmp_path):
    def write(hold: str | None = None, text: str | None = None) -> Path:
        path = tmp_path / "streamdeploy.yaml"
        path.write_text(text or DESCRIPTION % (f", hold: {hold}" if hold else ""), encoding="utf-8")
        return path

    return write


def verify_cli(url: str, desc: Path, *extra: str, env: dict | None = None):
    result = run_cli("verify", url, "-f", str(desc), "--timeout", "10", *extra, env=env, timeout=60)
    assert_no_traceback(result)
    return result


def as_report(result) -> dict:
    return json.loads(result.stdout)


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


# --- the happy path ---------------------------------------------------------------------


@pytest.mark.slow
def test_all_checks_pass_and_marker_is_remembered(server, description, tmp_path):
    srv = server(VA_HEARTBEAT="0.5", VA_API_KEY=SECRET).start()
    desc = description()
    result = verify_cli(srv.url, desc, "--json", env={"VA_KEY": SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    report = as_report(result)
    checks = by_name(report)
    assert [c["status"] for c in report["checks"]] == ["ok"] * 4
    assert list(checks) == ["health", "stream", "write", "read"]
    stream = checks["stream"]["facts"]
    assert stream["content_type"].startswith("text/event-stream")
    assert stream["heartbeats"] >= 1 and stream["events"] >= 1
    assert stream["first_event_s"] < stream["first_heartbeat_s"] <= stream["held_s"]
    marker = report["marker"]
    assert marker and marker.startswith("sd-")
    # The app really got the marker, in path, body and header, and the secret as a header.
    sent = srv.requests()
    post = next(r for r in sent if r["path"] == "/documents")
    assert post["headers"]["authorization"] == f"Bearer {SECRET}"
    assert post["headers"]["x-run"] == f"run {marker}"
    assert any(r["path"] == f"/documents/{marker}" for r in sent)
    assert SECRET not in result.stdout + result.stderr
    state = json.loads((tmp_path / ".streamdeploy" / "verify.json").read_text())
    assert state["markers"][srv.url]["api"]["marker"] == marker


@pytest.mark.slow
def test_human_report_is_a_table_with_the_marker(server, description):
    srv = server(VA_HEARTBEAT="0.5").start()
    result = verify_cli(srv.url + "/", description())
    assert result.returncode == 0, result.stdout + result.stderr
    for word in ("health", "stream", "write", "read", "heartbeat at", "marker sd-", "--expect-marker"):
        assert word in result.stdout
    assert "verified" in result.stdout


# --- health -----------------------------------------------------------------------------


@pytest.mark.slow
def test_health_retries_with_backoff_until_healthy(server, description):
    srv = server(VA_HEARTBEAT="0.5", VA_UNHEALTHY_FOR="1.5").start()
    result = verify_cli(srv.url, description(), "--json")
    assert result.returncode == 0, result.stdout
    health = by_name(as_report(result))["health"]
    # tries at 0, 0.25, 0.75 and 1.75 s: the fourth is the first after 1.5 s (on a slow machine
    # the requests' own time can push the third past it)
    assert health["facts"]["attempts"] in (3, 4)
    assert health["seconds"] >= 1.5


@pytest.mark.slow
def test_health_waits_for_a_server_that_starts_late(server, description):
    srv = server(VA_HEARTBEAT="0.5")
    # Hold the port with a socket that hangs up on verify's first knock, then start the server.
    knocker = socket.socket()
    knocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    knocker.bind(("127.0.0.1", srv.port))
    knocker.listen()
    process = subprocess.Popen([sys.executable, "-m", "streamdeploy", "verify", srv.url, "-f", str(description()),
                                "--timeout", "30", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        knocker.settimeout(30)
        conn, _ = knocker.accept()
        conn.close()
        knocker.close()
        srv.start(wait=False)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, out + err
    assert by_name(json.loads(out))["health"]["facts"]["attempts"] >= 2


@pytest.mark.slow
def test_unreachable_service_fails_after_timeout_and_skips_the_rest(description):
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli("verify", url, "-f", str(description()), "--timeout", "1.5", "--json")
    took = time.monotonic() - started
    assert_no_traceback(result)
    assert result.returncode == 1
    report = as_report(result)
    checks = by_name(report)
    assert checks["health"]["status"] == "failed"
    assert "connection refused" in checks["health"]["detail"]
    assert checks["stream"]["status"] == "skipped" and checks["persistence"]["status"] == "skipped"
    assert took < 15


# --- stream -----------------------------------------------------------------------------


@pytest.mark.slow
def test_stream_without_heartbeat_fails(server, description):
    srv = server(VA_HEARTBEAT="0").start()
    started = time.monotonic()
    result = verify_cli(srv.url, description(), "--json")
    assert result.returncode == 1
    stream = by_name(as_report(result))["stream"]
    assert stream["status"] == "failed"
    assert "no heartbeat" in stream["detail"]
    # heartbeat 1 s -> gives up after 1.5 * 1 + 2 s, not after the 10 s timeout
    assert 3.0 <= stream["seconds"] < 6 and time.monotonic() - started < 30


@pytest.mark.slow
@pytest.mark.parametrize("settings,hold,words", [
    ({"VA_CONTENT_TYPE": "text/plain"}, None, "text/plain"),  # not text/event-stream
    ({"VA_HEARTBEAT": "5", "VA_END_AFTER": "0.3"}, None, "ended after"),
    ({"VA_HEARTBEAT": "0.3", "VA_END_AFTER": "1"}, "3s", "before the hold time"),
], ids=["wrong-content-type", "ends-early", "ends-before-the-hold"])
def test_a_stream_that_is_not_right_fails(server, description, settings, hold, words):
    srv = server(**settings).start()
    result = verify_cli(srv.url, description(hold=hold), "--json")
    assert result.returncode == 1
    stream = by_name(as_report(result))["stream"]
    assert stream["status"] == "failed" and words in stream["detail"]


@pytest.mark.slow
def test_stream_is_held_for_the_hold_time(server, description):
    srv = server(VA_HEARTBEAT="0.5").start()
    result = verify_cli(srv.url, description(hold="2.5s"), "--json")
    assert result.returncode == 0, result.stdout
    facts = by_name(as_report(result))["stream"]["facts"]
    assert facts["held_s"] >= 2.5 and facts["heartbeats"] >= 4


# --- persistence ------------------------------------------------------------------------


@pytest.mark.slow
def test_expect_marker_that_is_missing_fails(server, description):
    srv = server(VA_HEARTBEAT="0.5").start()
    result = verify_cli(srv.url, description(), "--json", "--expect-marker", "sd-20000101t000000-abcdef")
    assert result.returncode == 1
    persisted = by_name(as_report(result))["persisted"]
    assert persisted["status"] == "failed" and "is gone" in persisted["detail"] and "404" in persisted["detail"]


@pytest.mark.slow
def test_marker_survives_a_restart(server, description, tmp_path):
    desc = description()
    first = server(VA_HEARTBEAT="0.5").start()
    written = as_report(verify_cli(first.url, desc, "--json"))["marker"]
    first.stop()
    # A "redeploy": a new process on the same data, at the same URL.
    second = Server(tmp_path, VA_HEARTBEAT="0.5")
    second.port, second.url = first.port, first.url
    try:
        second.start()
        result = verify_cli(second.url, desc, "--json", "--expect-marker", written)
        assert result.returncode == 0, result.stdout
        report = as_report(result)
        assert by_name(report)["persisted"]["status"] == "ok"
        assert report["marker"] != written
        # `last` is the marker this run stored
        again = as_report(verify_cli(second.url, desc, "--json", "--expect-marker", "last"))
        assert by_name(again)["persisted"]["detail"].startswith(f"marker {report['marker']} from before is still there")
    finally:
        second.stop()


@pytest.mark.slow
def test_expect_marker_last_without_a_stored_one_is_bad_input(server, description):
    srv = server(VA_HEARTBEAT="0.5").start()
    result = verify_cli(srv.url, description(), "--expect-marker", "last")
    assert result.returncode == 2
    assert "no marker stored" in result.stderr


@pytest.mark.slow
def test_missing_secret_drops_the_header_and_says_what_to_set(server, description):
    srv = server(VA_HEARTBEAT="0.5", VA_API_KEY=SECRET).start()
    env = {k: v for k, v in os.environ.items() if k != "VA_KEY"}
    result = subprocess.run([sys.executable, "-m", "streamdeploy", "verify", srv.url, "-f", str(description()),
                             "--json"], env={**env, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=60)
    assert_no_traceback(result)
    assert result.returncode == 1
    write = by_name(as_report(result))["write"]
    assert write["status"] == "failed" and write["facts"]["status"] == 401
    assert "sent without Authorization (VA_KEY is not set)" in write["detail"]
    assert "set VA_KEY" in write["detail"]
    post = next(r for r in srv.requests() if r["path"] == "/documents")
    assert "authorization" not in post["headers"]  # not `Bearer ` with nothing after it


@pytest.mark.slow
def test_wrong_secret_value_is_never_printed(server, description):
    srv = server(VA_HEARTBEAT="0.5", VA_API_KEY="the-right-one").start()
    result = verify_cli(srv.url, description(), env={"VA_KEY": SECRET})
    assert result.returncode == 1
    assert "401" in result.stdout
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.slow
def test_service_without_verify_block_checks_health_and_says_what_was_skipped(server, description):
    srv = server().start()
    result = verify_cli(srv.url, description(text=PLAIN), "--json")
    assert result.returncode == 0, result.stdout
    report = as_report(result)
    checks = by_name(report)
    assert checks["health"]["status"] == "ok"
    assert checks["stream"]["status"] == "skipped" and "no streaming paths" in checks["stream"]["detail"]
    assert checks["persistence"]["status"] == "skipped" and "verify.write" in checks["persistence"]["detail"]
    assert report["marker"] is None


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com", "http://", "http://127.0.0.1:1/?q=1",
                                 "http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:port"])
def test_bad_url_is_exit_2(url, description):
    result = verify_cli(url, description())
    assert result.returncode == 2
    assert "URL" in result.stderr or "query" in result.stderr


def test_negative_timeout_is_exit_2(description):
    result = run_cli("verify", "http://127.0.0.1:1", "-f", str(description()), "--timeout", "-1", timeout=60)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "--timeout" in result.stderr


def test_unknown_service_is_exit_2(description):
    result = verify_cli("http://127.0.0.1:1", description(), "--service", "nope")
    assert result.returncode == 2
    assert "no service `nope`" in result.stderr and "api" in result.stderr


def test_bad_marker_is_exit_2(description):
    result = verify_cli("http://127.0.0.1:1", description(), "--expect-marker", "a b/c")
    assert result.returncode == 2


# --- units ------------------------------------------------------------------------------


def test_prepare_fills_marker_everywhere_and_reads_secrets(description):
    loaded = loader.load(description())
    write = loaded.spec.services["api"].verify.write
    prepared = verify.prepare(write, "sd-x", {"VA_KEY": "k"})
    assert prepared.headers == {"Authorization": "Bearer k", "X-Run": "run sd-x"}
    assert prepared.json_body == {"documents": [{"id": "sd-x", "text": "marker sd-x"}]}
    assert prepared.secret_values == ["k"] and prepared.dropped == []
    missing = verify.prepare(write, "sd-x", {"VA_KEY": ""})
    assert "Authorization" not in missing.headers and missing.dropped == [("Authorization", "VA_KEY")]


def test_redact_hides_every_secret_value():
    assert verify.redact("Bearer abcd and abcd", ["abcd"]) == "Bearer *** and ***"



@pytest.mark.parametrize("padding", [0, 140, 150, 155])
def test_a_rejected_request_never_shows_part_of_a_secret_the_app_echoes(description, padding):
    # An app that echoes the request's headers in a 401: the body is cut to 200 characters,
    # and it must be masked before that cut (or a secret at the cut shows its first half),
    # JSON-escaped values included.
    import httpx

    secret = 'tok-"quoted"-VALUE-0123456789abcdef'

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = {"pad": "x" * padding, "authorization": request.headers["authorization"]}
        return httpx.Response(401, text=json.dumps(echoed))

    loaded = loader.load(description())
    prepared = verify.prepare(loaded.spec.services["api"].verify.write, "sd-x", {"VA_KEY": secret})
    session = verify.Session("http://test", transport=httpx.MockTransport(handler))
    check = verify.check_request(session, "http://test", "write", prepared, "sd-x", 5.0)
    assert check.status == "failed" and "401" in check.detail
    escaped = json.dumps(secret)[1:-1]
    for piece in (escaped[:12], secret[:12], escaped[-12:]):
        assert piece not in check.detail, check.detail

def test_a_secret_a_header_cannot_carry_fails_the_check_without_a_traceback(description):
    import httpx

    loaded = loader.load(description())
    prepared = verify.prepare(loaded.spec.services["api"].verify.write, "sd-x", {"VA_KEY": "clé-secrète-42"})
    session = verify.Session("http://test", transport=httpx.MockTransport(lambda request: httpx.Response(201)))
    check = verify.check_request(session, "http://test", "write", prepared, "sd-x", 5.0)
    assert check.status == "failed" and "not ASCII" in check.detail and "secrète" not in check.detail


def test_markers_are_unique_and_url_safe():
    markers = {verify.new_marker() for _ in range(200)}
    assert len(markers) == 200
    assert all(verify._MARKER.match(m) for m in markers)


@pytest.mark.slow
def test_without_a_description_it_checks_health_only(server, tmp_path):
    srv = server().start()
    result = run_cli("verify", srv.url, "--json", cwd=tmp_path)  # no streamdeploy.yaml here or above
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    report = as_report(result)
    assert [c["name"] for c in report["checks"]] == ["health", "stream"]
    assert report["checks"][1]["status"] == "skipped"
    assert any("no streamdeploy.yaml" in n for n in report["notes"])


@pytest.mark.slow
def test_last_health_try_lands_on_the_deadline(description):
    # nothing listens: tries at 0, 0.25, 0.75 and then exactly at the 1.2 s deadline
    started = time.monotonic()
    result = run_cli("verify", f"http://127.0.0.1:{free_port()}", "-f", str(description()), "--timeout", "1.2",
                     "--json")
    health = by_name(as_report(result))["health"]
    assert health["facts"]["attempts"] == 4 and 1.2 <= health["seconds"] < 2.5
    assert time.monotonic() - started < 15


@pytest.mark.slow
@pytest.mark.parametrize("paths,status,detail", [
    ("[/ask, /events]", "ok", "not GET /ask → 422"),  # the next guess that opens
    ("[/ask, \"/runs/{id}/events\"]", "skipped", "set verify.stream.path"),  # nothing opens with a bare GET
])
def test_a_guessed_stream_path_that_needs_parameters_never_fails_a_healthy_deploy(server, description, paths,
                                                                                   status, detail):
    srv = server(VA_HEARTBEAT="0.5").start()
    text = PLAIN + f"    streaming: {{paths: {paths}, heartbeat: 1s}}\n"
    result = verify_cli(srv.url, description(text=text), "--json")
    assert result.returncode == 0, result.stdout
    stream = by_name(as_report(result))["stream"]
    assert stream["status"] == status and detail in stream["detail"], stream


@pytest.mark.slow
def test_a_guessed_stream_path_the_app_does_not_serve_still_fails(server, description):
    srv = server(VA_HEARTBEAT="0.5").start()
    result = verify_cli(srv.url, description(text=PLAIN + "    streaming: {paths: [/nowhere], heartbeat: 1s}\n"), "--json")
    assert result.returncode == 1
    assert "404" in by_name(as_report(result))["stream"]["detail"]


def test_the_hint_for_a_missing_verify_block_is_a_block_that_validates(tmp_path):
    """A user installed from pipx has no example to look at: the hint is the block itself."""
    from conftest import load_description
    from streamdeploy.verify import VERIFY_BLOCK

    loaded = load_description(tmp_path, "version: 1\nname: demo\nservices:\n  api:\n    start: uvicorn app:app --host 0.0.0.0\n"
                                         f"    port: 8000\n    {VERIFY_BLOCK}\n")
    verify = loaded.spec.services["api"].verify
    assert verify.write.method == "POST" and "{marker}" in verify.read.path
