"""`verify` against broken and hostile servers: tiny raw-socket servers on 127.0.0.1.

Each server answers per path with bytes written by hand: bodies that never end, a gzip
bomb, a line that never ends, headers a byte at a time, redirects elsewhere. Every
read must be capped in bytes and in time, the check must say what happened, and no
secret header may follow a redirect to another origin.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
import zlib
from pathlib import Path
from typing import Callable

import pytest

from conftest import assert_no_traceback, run_cli
from streamdeploy import loader, verify

SECRET = "hostile-canary-Sx81-never-sent-elsewhere"

DESCRIPTION = """\
version: 1
name: hostile
services:
  api:
    start: python server.py
    port: 8000
    health: {path: /health, timeout: 1s}
    streaming: {paths: [/events], heartbeat: 1s}
    secrets: [VA_KEY]
    verify:
      write:
        method: POST
        path: /documents
        headers: {Authorization: "Bearer ${VA_KEY}", X-Api-Key: "${VA_KEY}"}
        json: {documents: [{id: "{marker}", text: "%s"}]}
        expect_status: 201
      read: {path: "/documents/{marker}", expect_text: "{marker}"}
      stream: {path: /events}
"""

Behaviour = Callable[["Exchange"], None]


class Exchange:
    """One request as the server saw it, and a way to answer with raw bytes."""

    def __init__(self, handler: socketserver.StreamRequestHandler, method: str, path: str, headers: dict):
        self.handler, self.method, self.path, self.headers = handler, method, path, headers

    def send(self, data: bytes) -> bool:
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
            return True
        except OSError:
            return False

    def answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        head = {"Content-Length": str(len(body)), "Content-Type": "application/json", **(headers or {})}
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in head.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def read_body(self, size: int | None = None) -> bytes:
        length = int(self.headers.get("content-length", "0")) if size is None else size
        return self.handler.rfile.read(length)


class HostileServer:
    def __init__(self):
        self.routes: dict[str, Behaviour] = {}
        self.seen: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line.strip():
                        return
                    method, path, _ = line.decode().split(" ", 2)
                    headers = {}
                    while (header := self.rfile.readline().decode()) not in ("\r\n", "\n", ""):
                        name, _, value = header.partition(":")
                        headers[name.strip().lower()] = value.strip()
                    outer.seen.append((method, path, headers))
                    behaviour = outer.route(path)
                    exchange = Exchange(self, method, path, headers)
                    behaviour(exchange)
                    if headers.get("connection") == "close":
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str) -> Behaviour:
        for prefix, behaviour in sorted(self.routes.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                return behaviour
        return lambda ex: ex.answer(404, b'{"detail": "not here"}')

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile():
    servers: list[HostileServer] = []

    def make(**routes: Behaviour) -> HostileServer:
        server = HostileServer()
        server.routes.update({"/" + k.replace("_", "/"): v for k, v in routes.items()})
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def quick(monkeypatch):
    """Deadlines of a few seconds, so a test of a slow server takes seconds, not minutes."""
    monkeypatch.setattr(verify, "request_deadline", lambda read_timeout: 2.5)
    monkeypatch.setattr(verify, "HEADERS_WITHIN", 2.0)


def loaded_description(tmp_path: Path, text: str = "marker {marker}") -> loader.Loaded:
    path = tmp_path / "streamdeploy.yaml"
    path.write_text(DESCRIPTION % text, encoding="utf-8")
    return loader.load(path)


# --- well-behaved pieces, to compose the hostile ones -----------------------------------------

def healthy(ex: Exchange) -> None:
    ex.answer(200, b'{"status": "ok"}')


def events(ex: Exchange) -> None:
    ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
    for _ in range(40):
        if not ex.send(b": heartbeat\n\ndata: {\"n\": 1}\n\n"):
            return
        time.sleep(0.1)


def stored(ex: Exchange) -> None:
    if ex.method == "POST":
        ex.read_body()
        ex.answer(201, b'{"ok": true}')
    else:
        marker = ex.path.rsplit("/", 1)[1]
        ex.answer(200, json.dumps({"id": marker}).encode())


def by_name(report: verify.Report) -> dict[str, verify.Check]:
    return {c.name: c for c in report.checks}


def check(tmp_path: Path, server: HostileServer, **kwargs) -> verify.Report:
    started = time.monotonic()
    report = verify.run_checks(server.url, loaded_description(tmp_path), timeout=2.0, env={"VA_KEY": SECRET},
                               remember=False, **kwargs)
    report.facts_seconds = time.monotonic() - started
    return report


# --- unbounded reads ---------------------------------------------------------------------------

def endless(ex: Exchange, status: int = 200, chunked: bool = False, size: int = 10 * 1024 ** 3) -> None:
    """A 10 GB body (or an endless chunked one): written until the client hangs up."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    ex.send(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
    block = b"x" * 65536
    while ex.send(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block):
        pass


def gzip_bomb(ex: Exchange) -> None:
    """10 GB of zeros, gzip-compressed on the fly (about 1000:1)."""
    ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1024 * 1024)
    for _ in range(10 * 1024):
        data = packer.compress(zeros)
        if data and not ex.send(b"%x\r\n%s\r\n" % (len(data), data)):
            return
    tail = packer.flush()
    ex.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))


@pytest.mark.parametrize("body", ["ten-gigabytes", "endless-chunked", "gzip-bomb"])
def test_a_huge_endless_or_bombed_body_is_read_up_to_the_cap_and_reported(hostile, tmp_path, body):
    behaviour = {"ten-gigabytes": endless, "endless-chunked": lambda ex: endless(ex, chunked=True),
                 "gzip-bomb": gzip_bomb}[body]
    server = hostile(health=healthy, events=events, documents=lambda ex: stored(ex) if ex.method == "POST"
                     else behaviour(ex))
    report = check(tmp_path, server)
    read = by_name(report)["read"]
    assert read.status == "failed" and read.facts["body_cut_at"] == verify.BODY_LIMIT
    assert "the first 4 MiB of the body lack" in read.detail
    assert report.facts_seconds < 30


@pytest.mark.parametrize("status", [200, 503])
def test_a_huge_health_body_never_holds_the_check(hostile, tmp_path, status):
    server = hostile(health=lambda ex: endless(ex, status=status), events=events, documents=stored)
    report = check(tmp_path, server)
    health = by_name(report)["health"]
    assert health.ok == (status == 200), health.detail
    if status == 503:
        assert "503 xxxx" in health.detail and len(health.detail) < 400
    assert report.facts_seconds < 30


def endless_line(ex: Exchange) -> None:
    ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
    block = b"y" * 65536
    while ex.send(block):
        pass


def test_an_event_stream_line_that_never_ends_is_cut_and_reported(hostile, tmp_path):
    server = hostile(health=healthy, events=endless_line, documents=stored)
    stream = by_name(check(tmp_path, server))["stream"]
    assert stream.status == "failed"
    assert "a line of the stream ran past 1 MiB without ending" in stream.detail


def test_an_event_stream_that_floods_is_stopped_at_the_cap(hostile, tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "STREAM_LIMIT", 2 * 1024 * 1024)

    def flood(ex: Exchange) -> None:
        ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        block = b"data: z\n\n" * 8192
        while ex.send(block):
            pass

    server = hostile(health=healthy, events=flood, documents=stored)
    stream = by_name(check(tmp_path, server))["stream"]
    assert stream.status == "failed" and "the stream sent more than 2 MiB" in stream.detail


def test_lines_end_at_cr_lf_or_crlf_even_split_between_reads():
    class Split:
        headers: dict = {}
        is_stream_consumed = False

        async def aiter_raw(self):
            for piece in (b"a\r", b"\nb\rc", b"\n", b": x\r\n\r", b"\n"):
                yield piece

    async def collect():
        return [line async for line in verify.read_lines(Split())]

    import asyncio

    assert asyncio.run(collect()) == ["a", "b", "c", ": x", ""]


# --- slow servers: each request has an overall deadline ---------------------------------------

def slow_headers(ex: Exchange) -> None:
    ex.send(b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):
        if not ex.send(b"X-Slow: a\r\n"):
            return
        time.sleep(0.2)


def slow_body(ex: Exchange) -> None:
    ex.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(600):
        if not ex.send(b"{"):
            return
        time.sleep(0.2)


def slow_reader(ex: Exchange) -> None:
    """Reads the request body a kilobyte at a time: the client's writes crawl."""
    for _ in range(600):
        if not ex.read_body(1024):
            return
        time.sleep(0.2)


@pytest.mark.parametrize("where,behaviour", [("health", slow_headers), ("health", slow_body),
                                             ("documents", slow_headers), ("documents", slow_body),
                                             ("documents", slow_reader)],
                         ids=["health-headers", "health-body", "write-headers", "write-body", "write-request"])
def test_a_server_that_trickles_never_holds_a_check_past_its_deadline(hostile, tmp_path, quick, where, behaviour):
    routes = {"health": healthy, "events": events, "documents": stored, where: behaviour}
    server = hostile(**routes)
    path = tmp_path / "streamdeploy.yaml"
    loaded = loaded_description(tmp_path, text="x" * (900 * 1024) if behaviour is slow_reader else "m")
    started = time.monotonic()
    report = verify.run_checks(server.url, loaded, timeout=1.0, env={"VA_KEY": SECRET}, remember=False)
    took = time.monotonic() - started
    name = "health" if where == "health" else "write"
    failed = by_name(report)[name]
    assert failed.status == "failed", failed.detail
    assert "within 2.5 s" in failed.detail, failed.detail
    assert took < 25, took  # one or two tries of 2.5 s each, never the server's pace
    assert path.exists()


def test_a_stream_whose_headers_trickle_fails_at_its_deadline(hostile, tmp_path, quick):
    server = hostile(health=healthy, events=slow_headers, documents=stored)
    started = time.monotonic()
    stream = by_name(check(tmp_path, server))["stream"]
    assert stream.status == "failed" and "no status and headers within" in stream.detail
    assert time.monotonic() - started < 20


# --- redirects ---------------------------------------------------------------------------------

def redirect_to(url: str, status: int = 307) -> Behaviour:
    def answer(ex: Exchange) -> None:
        if ex.method == "POST":
            ex.read_body()
        ex.answer(status, headers={"Location": url + ex.path})
    return answer


@pytest.mark.parametrize("other_host", ["127.0.0.1", "localhost"])
def test_secret_headers_never_follow_a_redirect_to_another_origin(hostile, tmp_path, other_host):
    elsewhere = hostile(health=healthy, events=events, documents=lambda ex: (ex.read_body(), ex.answer(401)))
    server = hostile(health=healthy, events=events,
                     documents=redirect_to(f"http://{other_host}:{elsewhere.port}"))
    report = check(tmp_path, server)
    write = by_name(report)["write"]
    assert write.status == "failed"
    assert f"redirected: 307 → http://{other_host}:{elsewhere.port}/documents (another origin" in write.detail
    if other_host == "localhost":
        assert "host localhost" in write.detail  # a redirect to another host is named
    assert "Authorization, X-Api-Key not sent there" in write.detail
    [(method, _, headers)] = [s for s in elsewhere.seen if s[1] == "/documents"]
    assert method == "POST"  # a 307 keeps the method and body: only the secrets stay home
    assert "authorization" not in headers and "x-api-key" not in headers
    assert SECRET not in json.dumps(elsewhere.seen)
    assert write.facts["redirects"] and SECRET not in write.detail


def test_a_redirect_within_the_origin_keeps_its_headers_and_is_reported(hostile, tmp_path):
    def moved(ex: Exchange) -> None:
        if ex.path == "/documents":
            ex.read_body()
            ex.answer(308, headers={"Location": "/documents/new"})
        else:
            stored(ex)

    server = hostile(health=healthy, events=events, documents=moved)
    write = by_name(check(tmp_path, server))["write"]
    assert write.status == "ok", write.detail
    assert "redirected: 308 → " in write.detail and "another origin" not in write.detail
    post = [h for m, p, h in server.seen if p == "/documents/new" and m == "POST"]
    assert post and post[0]["authorization"] == f"Bearer {SECRET}"


def test_a_redirect_loop_stops_and_says_so(hostile, tmp_path):
    server = hostile(health=lambda ex: ex.answer(302, headers={"Location": "/health"}), events=events,
                     documents=stored)
    health = by_name(check(tmp_path, server))["health"]
    assert health.status == "failed" and f"stopped after {verify.MAX_REDIRECTS} redirects" in health.detail


def test_the_report_masks_any_secret_the_service_echoes(hostile, tmp_path):
    from streamdeploy.secrets import Masker

    other = "another-described-secret-77"
    server = hostile(health=lambda ex: ex.answer(500, f"env: {other} {SECRET}".encode()), events=events)
    report = check(tmp_path, server, mask=Masker([other, SECRET]))
    assert other not in report.checks[0].detail and SECRET not in report.checks[0].detail
    assert "***" in report.checks[0].detail


# --- bad input: flags, URLs, the state file ---------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e9"])
def test_a_timeout_that_is_not_a_sane_number_of_seconds_is_bad_input(tmp_path, value):
    (tmp_path / "streamdeploy.yaml").write_text(DESCRIPTION % "m")
    result = run_cli("verify", "http://127.0.0.1:1", "-f", str(tmp_path / "streamdeploy.yaml"),
                     f"--timeout={value}", timeout=30)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "--timeout must be a number of seconds" in result.stderr


@pytest.mark.parametrize("url", ["http://☃.invalid:1", "http://xn--a.example:1", "http://bü\u200dcher.example:1"])
def test_a_host_name_idna_cannot_encode_is_bad_input(tmp_path, url):
    result = run_cli("verify", url, "--timeout", "1", cwd=tmp_path, timeout=30)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "is not a valid URL" in result.stderr and "IDNA" in result.stderr


@pytest.mark.parametrize("content", [
    "[]", '"a string"', "null", "{not json", "[" * 100000 + "]" * 100000, '{"markers": []}',
    '{"markers": {"http://x": ["a"]}}', '{"markers": {"http://x": {"api": {"marker": 5}}}}',
    b"\xff\xfe not utf-8",
], ids=["list", "string", "null", "invalid", "deep", "markers-list", "url-list", "marker-number", "bytes"])
def test_a_corrupt_state_file_is_bad_input_with_the_fix(hostile, tmp_path, content):
    state = tmp_path / ".streamdeploy" / "verify.json"
    state.parent.mkdir()
    state.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "streamdeploy.yaml").write_text(DESCRIPTION % "m")
    server = hostile(health=healthy, events=events, documents=stored)
    for extra in (["--expect-marker", "last"], []):
        result = run_cli("verify", server.url, "-f", str(tmp_path / "streamdeploy.yaml"), "--timeout", "2", *extra,
                         env={"VA_KEY": SECRET}, timeout=60)
        assert_no_traceback(result)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "is not a verify state file" in result.stderr and f"delete {state}" in result.stderr
    assert state.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # never replaced


def test_redirect_and_origin_rules(monkeypatch):
    same = verify._same_origin_or_upgrade
    assert same("http://127.0.0.1:8000", "http://127.0.0.1:8000/x")
    assert not same("http://127.0.0.1:8000", "http://127.0.0.1:8001/x")  # another port
    assert not same("http://127.0.0.1:8000", "http://localhost:8000/x")  # another name for the same machine
    assert same("http://app.example", "https://app.example/x")  # the usual upgrade to TLS
    assert not same("https://app.example", "http://app.example/x")  # never down
    assert not same("http://app.example:8080", "https://app.example/x")


def test_the_bounded_decoder_never_inflates_more_than_asked():
    packed = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = packed.compress(b"\0" * (50 * 1024 * 1024)) + packed.flush()
    decoder = verify._Decoder("gzip")
    got = decoder.feed(bomb, 1000)
    assert len(got) == 1000 and len(bomb) < 100_000
    with pytest.raises(verify.TooMuch, match="br"):
        verify._Decoder("br")


def test_a_server_closing_mid_body_is_a_clear_failure(hostile, tmp_path):
    def cut(ex: Exchange) -> None:
        ex.send(b"HTTP/1.1 500 X\r\nContent-Length: 1000\r\n\r\npartial")
        ex.handler.connection.shutdown(socket.SHUT_RDWR)

    server = hostile(health=cut, events=events, documents=stored)
    health = by_name(check(tmp_path, server))["health"]
    assert health.status == "failed" and "the connection broke" in health.detail


def test_a_stream_request_keeps_its_secret_headers_to_its_origin_too(hostile):
    # a POST chat stream with a bearer token, redirected to another port
    elsewhere = hostile(events=events)
    server = hostile(events=redirect_to(elsewhere.url))
    request = verify.Prepared(method="POST", path="/events", json_body={"q": "hi"},
                              headers={"Authorization": f"Bearer {SECRET}"}, expect_status=200, expect_text=None,
                              dropped=[], secret_values=[SECRET])
    result = verify.check_stream(server.url, "/events", 1.0, None, request=request)
    assert result.status == "ok", result.detail
    assert "another origin: Authorization not sent there" in result.detail
    [(method, _, headers)] = elsewhere.seen
    assert method == "POST" and "authorization" not in headers
