"""The example app's streams as real clients and proxies see them, with no container: uvicorn on
loopback, Debian's Chromium through Playwright (tests/browser.py), Debian's nginx.

- Chromium's EventSource gets the events, and after a server restart reconnects by itself with
  Last-Event-ID (the new boot answers `reset`, which it only sends for a Last-Event-ID it did
  not issue).
- Behind nginx the browser gives up when a reconnect meets a 502 (app down); the client snippet
  the example ships (examples/app/clients/events.js) makes a new EventSource and resumes with
  ?last_event_id=.
- nginx with default proxy settings adds nothing measurable: the same `added` event arrives
  through it within 1.1x of its direct latency.
- an nginx idle timeout shorter than the heartbeat ends the stream, and `check` says so; one
  longer than twice the heartbeat keeps it open.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from browser import chromium
from conftest import EXAMPLES
from streamdeploy import capabilities, loader

CLIENT_JS = EXAMPLES / "app" / "clients" / "events.js"
TYPES = ["ready", "added", "deleted", "reset", "shutdown"]


def _testkit():
    if "app_testkit" not in sys.modules:
        spec = importlib.util.spec_from_file_location("app_testkit", EXAMPLES / "app" / "tests" / "app_testkit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app_testkit"] = module
        spec.loader.exec_module(module)
    return sys.modules["app_testkit"]


def description(tmp_path: Path, heartbeat: str, proxy: str = "") -> loader.Loaded:
    """examples/app's description with another heartbeat (and a proxy in front), loaded."""
    text = (EXAMPLES / "app" / "streamdeploy.yaml").read_text().replace("heartbeat: 15s", f"heartbeat: {heartbeat}")
    if proxy:
        text += f"  compose: {{proxy: {proxy}}}\n"
    (tmp_path / "streamdeploy.yaml").write_text(text)
    shutil.copy(EXAMPLES / "app" / "requirements.txt", tmp_path / "requirements.txt")
    return loader.load(tmp_path / "streamdeploy.yaml")


class App:
    """The example app under real uvicorn, with the env the description gives it (streaming.env)."""

    def __init__(self, tmp_path: Path, loaded: loader.Loaded, port: int | None = None):
        kit = _testkit()
        env = {**loaded.spec.services["api"].described_env(), "SSE_RETRY_MS": "1000"}
        self.server = kit.AppServer(tmp_path / "data", tmp_path, env, tmp_path)
        if port:
            self.server.port, self.server.url = port, f"http://127.0.0.1:{port}"
        self.server.start()
        self.server.wait_healthy(60)

    def stop(self):
        self.server.terminate(30)
        self.server.kill()

    def add(self, doc_id: str) -> None:
        r = httpx.post(self.server.url + "/documents", json={"documents": [{"id": doc_id, "text": f"doc {doc_id}"}]},
                       timeout=30)
        assert r.status_code == 201, r.text


@pytest.fixture
def app(tmp_path):
    started: list[App] = []

    def start(loaded=None, port=None) -> App:
        started.append(App(tmp_path, loaded or description(tmp_path, "15s"), port))
        return started[-1]

    yield start
    for one in started:
        one.server.kill()


class Nginx:
    def __init__(self, tmp_path: Path, upstream: int, extra: str = ""):
        self.port = _testkit().free_port()
        self.dir = tmp_path / f"nginx-{self.port}"
        self.dir.mkdir()
        temp = " ".join(f"{kind}_temp_path {self.dir}/{kind};" for kind in
                        ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "nginx.conf").write_text(f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log {self.dir}/access.log;
  {temp}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{ proxy_pass http://127.0.0.1:{upstream}; {extra} }}
  }}
}}
""")
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                                      "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
        for _ in range(100):
            try:
                httpx.get(self.url + "/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not start: {self.proc.stderr.read() if self.proc.poll() else ''}")

    def access_log(self) -> str:
        return (self.dir / "access.log").read_text()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def nginx(tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("Debian's nginx is not installed (make test installs it when run as root)")
    started: list[Nginx] = []

    def start(upstream: int, extra: str = "") -> Nginx:
        started.append(Nginx(tmp_path, upstream, extra))
        return started[-1]

    yield start
    for one in started:
        one.stop()


# ----------------------------------------------------------------------------- Chromium

PAGE = """<!doctype html><meta charset=utf-8><title>events</title><script>
window.native = []; window.resilient = [];
const types = %s;
window.es = new EventSource("/events");
for (const t of types) es.addEventListener(t, e => native.push({type: t, id: e.lastEventId, data: e.data}));
%s
</script>"""


def open_page(browser, origin: str, with_client: bool):
    client = ""
    if with_client:
        client = CLIENT_JS.read_text() + ("\nwindow.feed = openEvents('/events', types, "
                                          "(t, e) => resilient.push({type: t, id: e.lastEventId, data: e.data}));")
    page = browser.new_page()
    url = origin + "/__test_page"
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html",
                                                body=PAGE % (json.dumps(TYPES), client)))
    page.goto(url)
    return page


def wait_for(page, log: str, type_: str, count: int = 1, timeout: float = 30):
    page.wait_for_function(f"window.{log}.filter(e => e.type === {type_!r}).length >= {count}",
                           timeout=timeout * 1000)
    return [e for e in page.evaluate(f"window.{log}") if e["type"] == type_]


def test_chromium_gets_events_and_reconnects_after_a_restart_with_last_event_id(app, tmp_path):
    with chromium() as browser:
        first = app()
        page = open_page(browser, first.server.url, with_client=False)
        wait_for(page, "native", "ready")
        first.add("before-restart")
        [added] = wait_for(page, "native", "added")
        assert json.loads(added["data"])["id"] == "before-restart" and added["id"]
        port = first.server.port
        first.stop()  # SIGTERM: the stream gets `shutdown`, then ends; the browser retries
        wait_for(page, "native", "shutdown")
        second = app(port=port)
        [reset] = wait_for(page, "native", "reset")
        assert "Last-Event-ID" in json.loads(reset["data"])["reason"]  # it came back with the old id
        second.add("after-restart")
        assert json.loads(wait_for(page, "native", "added", 2)[-1]["data"])["id"] == "after-restart"


def test_behind_a_proxy_that_answers_502_the_shipped_client_resumes(app, nginx, tmp_path):
    with chromium() as browser:
        first = app()
        proxy = nginx(first.server.port)
        page = open_page(browser, proxy.url, with_client=True)
        wait_for(page, "native", "ready")
        wait_for(page, "resilient", "ready")
        first.add("seen")
        [added] = wait_for(page, "resilient", "added")
        port = first.server.port
        first.stop()
        # The reconnect reaches nginx, which answers 502: EventSource gives up (CLOSED, 2).
        page.wait_for_function("window.es.readyState === 2", timeout=30_000)
        # The shipped client's own EventSource must have met a 502 too (each retries on its own
        # clock): only then has it given up and come back with ?last_event_id=, which is what is tested.
        page.wait_for_function("window.feed.source.url.includes('last_event_id=')", timeout=30_000)
        second = app(port=port)
        wait_for(page, "resilient", "reset")  # a new EventSource, with ?last_event_id= of `seen`
        second.add("after-outage")
        assert json.loads(wait_for(page, "resilient", "added", 2)[-1]["data"])["id"] == "after-outage"
        assert page.evaluate("window.es.readyState") == 2, "a bare EventSource stays closed after a 502"
        assert f"last_event_id={added['id']}" in proxy.access_log()
        assert " 502 " in proxy.access_log()


# ----------------------------------------------------------------------------- nginx


def _arrivals(url: str, wanted: set[str], out: dict, ready: threading.Event):
    with httpx.stream("GET", url + "/events", timeout=httpx.Timeout(30, read=60)) as r:
        for line in r.iter_lines():
            if line.startswith("event: ready"):
                ready.set()
            if line.startswith("data: ") and '"id"' in line:
                doc = json.loads(line[6:]).get("id")
                if doc in wanted:
                    out[doc] = time.perf_counter()
                    if len(out) == len(wanted):
                        return


def latency_ratio(server: App, proxy_url: str, events: int = 15) -> float:
    """Median latency of the same `added` events through the proxy over directly (both streams
    open at once, so the app's own work is in both)."""
    wanted = {f"lat-{i}" for i in range(events)}
    direct, proxied = {}, {}
    ready = [threading.Event(), threading.Event()]
    readers = [threading.Thread(target=_arrivals, args=(server.server.url, wanted, direct, ready[0]), daemon=True),
               threading.Thread(target=_arrivals, args=(proxy_url, wanted, proxied, ready[1]), daemon=True)]
    for reader in readers:
        reader.start()
    assert all(r.wait(20) for r in ready)
    sent = {}
    for doc in sorted(wanted):
        sent[doc] = time.perf_counter()
        server.add(doc)
        time.sleep(0.1)
    for reader in readers:
        reader.join(30)
    assert set(direct) == set(proxied) == wanted, "every event passed (the app sends X-Accel-Buffering: no)"
    through, straight = (statistics.median(got[d] - sent[d] for d in wanted) for got in (proxied, direct))
    print(f"median latency: direct {straight * 1000:.1f} ms, through {proxy_url} {through * 1000:.1f} ms")
    return through / straight


def test_nginx_with_default_settings_adds_no_delay_to_events(app, nginx, tmp_path):
    server = app()
    proxy = nginx(server.server.port)  # `proxy_pass` alone: nginx's default buffering, HTTP/1.0 upstream
    ratio = latency_ratio(server, proxy.url)
    assert ratio <= 1.1, f"through nginx {ratio:.3f}x the direct latency"


HAPROXY = """global
  pidfile {dir}/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend web
  bind 127.0.0.1:{port}
  default_backend app
backend app
  {option}
  server app 127.0.0.1:{upstream}
"""


@pytest.mark.parametrize("option", ["", "option http-no-delay"])
def test_haproxy_holds_events_back_unless_http_no_delay(app, tmp_path, option):
    """What `check` says for `proxy: {server: haproxy}` (rule haproxy-no-delay), measured."""
    if shutil.which("haproxy") is None:
        pytest.skip("Debian's haproxy is not installed (make test installs it when run as root)")
    server = app()
    port = _testkit().free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY.format(dir=tmp_path, port=port, upstream=server.server.port, option=option))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        ratio = latency_ratio(server, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
    if option:
        assert ratio <= 1.1, f"with {option}: {ratio:.3f}x"
    else:
        assert ratio > 1.5, f"without http-no-delay HAProxy delays each event ({ratio:.3f}x the direct latency)"


def _heartbeats_until_end(url: str, seconds: float) -> tuple[int, bool]:
    """(heartbeat comments seen, whether the stream ended) within `seconds`."""
    beats, ended = 0, False
    deadline = time.monotonic() + seconds
    try:
        with httpx.stream("GET", url + "/events", timeout=httpx.Timeout(10, read=seconds + 5)) as r:
            for line in r.iter_lines():
                if time.monotonic() > deadline:
                    return beats, False
                beats += line.startswith(":")
            ended = True
    except httpx.RemoteProtocolError:
        ended = True  # nginx closed the connection mid-response
    return beats, ended


def test_a_proxy_timeout_shorter_than_the_heartbeat_cuts_the_stream_and_check_says_so(app, nginx, tmp_path):
    loaded = description(tmp_path, "4s", proxy="{server: nginx, idle_timeout: 2s}")
    [finding] = [f for f in capabilities.check(loaded, ["compose"]) if f.rule == "heartbeat-too-slow"]
    assert finding.severity == "error" and "nginx" in finding.message and "proxy_read_timeout" in finding.fix
    server = app(loaded)
    proxy = nginx(server.server.port, "proxy_read_timeout 2s;")
    beats, ended = _heartbeats_until_end(proxy.url, 8)
    assert ended and beats == 0, "nginx ends the response after 2 s without a byte, before the 4 s heartbeat"
    assert _heartbeats_until_end(server.server.url, 5) == (1, False), "direct, the heartbeat keeps it open"


def test_a_heartbeat_under_half_the_proxy_timeout_keeps_the_stream_and_check_is_quiet(app, nginx, tmp_path):
    loaded = description(tmp_path, "1s", proxy="{server: nginx, idle_timeout: 3s}")
    assert not [f for f in capabilities.check(loaded, ["compose"]) if f.rule.startswith("heartbeat")]
    server = app(loaded)
    proxy = nginx(server.server.port, "proxy_read_timeout 3s;")
    beats, ended = _heartbeats_until_end(proxy.url, 7)
    assert not ended and beats >= 5, (beats, ended)


# ----------------------------------------------------------------------------- Python clients


def test_httpx_sse_hands_each_heartbeat_to_the_caller_as_an_empty_message(app, tmp_path):
    """What the README's client section warns about: skip events with no data."""
    httpx_sse = pytest.importorskip("httpx_sse")
    server = app(description(tmp_path, "1s"))
    with httpx.Client(timeout=10) as client, httpx_sse.connect_sse(client, "GET", server.server.url + "/events") as es:
        events = []
        for event in es.iter_sse():
            events.append(event)
            if len(events) == 3:
                break
    ready, *beats = events
    assert ready.event == "ready"
    assert [(b.event, b.data, b.id) for b in beats] == [("message", "", ready.id)] * 2
