"""Server-Sent Events, shutdown and persistence against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from app_testkit import CLEAN_SIGTERM_CODES, SSE, AppServer, events_only, parse_sse

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DOCS = [
    {"id": "railway", "text": "Railway closes an HTTP request after five minutes without bytes. Heartbeats keep SSE streams alive."},
    {"id": "fly", "text": "Fly.io machines mount one volume each. A volume pins the app to one region."},
    {"id": "render", "text": "Render disks allow a single instance. Zero-downtime deploys are off with a disk."},
]
QUESTION = "what keeps SSE streams alive on railway"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the stream tests that only add documents with their own ids."""
    tmp = tmp_path_factory.mktemp("sse")
    (tmp / "home").mkdir()
    s = AppServer(tmp / "chroma", home=tmp / "home", env={"SSE_HEARTBEAT": "0.2", "SHUTDOWN_GRACE": "2"}, log_dir=tmp)
    try:
        s.start()
        s.wait_healthy()
        with s.client() as c:
            assert c.post("/documents", json={"documents": DOCS}).status_code == 201
        yield s
    finally:
        s.kill()


def read_until(items, predicate, limit: int = 200) -> list[SSE]:
    out = []
    for item in items:
        out.append(item)
        if predicate(item) or len(out) >= limit:
            break
    return out


def open_stream(client: httpx.Client, path: str, **kw):
    return client.stream("GET", path, headers={"Accept": "text/event-stream", **kw.pop("headers", {})}, **kw)


def test_stream_sends_tokens_then_sources_then_done(server):
    with server.client() as c, open_stream(c, "/stream", params={"q": QUESTION}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        events = list(events_only(parse_sse(r.iter_lines())))
    names = [e.event for e in events]
    n_tokens = names.count("token")
    assert n_tokens > 3 and names == ["token"] * n_tokens + ["sources", "done"]
    assert all(e.id for e in events)
    run = events[0].id.split(".")[0]
    assert [e.id for e in events] == [f"{run}.{i}" for i in range(len(events))]
    assert events[0].retry == 3000
    answer = "".join(e.json()["text"] for e in events if e.event == "token")
    assert "Heartbeats keep SSE streams alive" in answer and "[1]" in answer
    sources = events[-2].json()["sources"]
    assert sources[0]["id"] == "railway" and isinstance(sources[0]["distance"], float)
    assert events[-1].json() == {"mode": "extractive", "tokens": n_tokens}


def test_stream_resumes_after_last_event_id(server):
    with server.client() as c:
        with open_stream(c, "/stream", params={"q": QUESTION}) as r:
            full = list(events_only(parse_sse(r.iter_lines())))
        with open_stream(c, "/stream", params={"q": QUESTION}) as r:
            first = read_until(events_only(parse_sse(r.iter_lines())), lambda e: e.id.endswith(".2"))
        # The client dropped after event 2; it comes back the way EventSource does.
        with open_stream(c, "/stream", params={"q": QUESTION}, headers={"Last-Event-ID": first[-1].id}) as r:
            rest = list(events_only(parse_sse(r.iter_lines())))
    run = first[0].id.split(".")[0]
    assert rest[0].id == f"{run}.3"  # same answer, next event
    resumed = first + rest
    assert [e.event for e in resumed] == [e.event for e in full]
    text = lambda evs: "".join(e.json()["text"] for e in evs if e.event == "token")  # noqa: E731
    assert text(resumed) == text(full)


def test_stream_with_unknown_last_event_id_resets(server):
    with server.client() as c, open_stream(c, "/stream", params={"q": QUESTION}, headers={"Last-Event-ID": "gone.5"}) as r:
        events = list(events_only(parse_sse(r.iter_lines())))
    assert events[0].event == "reset" and events[0].id
    assert events[1].event == "token" and events[-1].event == "done"


def test_events_heartbeats_and_live_changes(server):
    with server.client() as feed, server.client() as writer:
        with open_stream(feed, "/events") as r:
            assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
            items = parse_sse(r.iter_lines())
            ready = next(items)
            assert ready.kind == "event" and ready.event == "ready" and ready.id and ready.retry == 3000
            t0 = time.monotonic()
            beats = [next(items) for _ in range(3)]
            assert all(i.kind == "comment" and i.comment == "heartbeat" for i in beats)  # only heartbeats while idle
            assert 0.4 <= time.monotonic() - t0 < 3.0  # SSE_HEARTBEAT=0.2: periodic, not a burst

            assert writer.post("/documents", json={"documents": [{"id": "live", "text": "pushed to open streams"}]}).status_code == 201
            added = next(events_only(items))
            assert added.event == "added" and added.json()["id"] == "live" and added.json()["preview"] == "pushed to open streams"
            assert writer.delete("/documents/live").status_code == 204
            deleted = next(events_only(items))
            assert deleted.event == "deleted" and deleted.json() == {"id": "live"}
            boot, seq = ready.id.rsplit("-", 1)
            assert [added.id, deleted.id] == [f"{boot}-{int(seq) + 1}", f"{boot}-{int(seq) + 2}"]


def test_events_resume_with_last_event_id(server):
    with server.client() as c:
        with open_stream(c, "/events") as r:
            ready = next(events_only(parse_sse(r.iter_lines())))
        # Disconnected: two changes happen meanwhile.
        for i in (1, 2):
            assert c.post("/documents", json={"documents": [{"id": f"missed{i}", "text": f"missed change {i}"}]}).status_code == 201
        with open_stream(c, "/events", headers={"Last-Event-ID": ready.id}) as r:
            replay = read_until(events_only(parse_sse(r.iter_lines())), lambda e: e.json().get("id") == "missed2")
        assert [(e.event, e.json()["id"]) for e in replay] == [("added", "missed1"), ("added", "missed2")]
        with open_stream(c, "/events", headers={"Last-Event-ID": "stale-7"}) as r:
            assert next(events_only(parse_sse(r.iter_lines()))).event == "reset"


def test_sigterm_ends_every_open_stream_cleanly_and_exits_fast(start_server):
    server = start_server(SSE_HEARTBEAT="0.2", SHUTDOWN_GRACE="2", STREAM_TOKEN_DELAY="0.2")
    with server.client() as c:
        assert c.post("/documents", json={"documents": DOCS}).status_code == 201
    clients = [server.client() for _ in range(6)]
    results: dict[int, list] = {}
    try:
        streams = []
        for i, c in enumerate(clients):
            path, params = ("/stream", {"q": QUESTION}) if i == 0 else ("/events", None)
            cm = open_stream(c, path, params=params)
            r = cm.__enter__()
            items = parse_sse(r.iter_lines())
            first = next(events_only(items))  # the stream is live
            streams.append((cm, items, first))

        def drain(i, items):
            try:
                results[i] = list(events_only(items))  # until the server ends the response
            except Exception as e:  # an unclean end (e.g. incomplete chunked read) lands here
                results[i] = [e]

        threads = [threading.Thread(target=drain, args=(i, items)) for i, (_, items, _) in enumerate(streams)]
        for t in threads:
            t.start()
        code, took = server.terminate(timeout=10)
        for t in threads:
            t.join(10)
        for cm, _, _ in streams:
            cm.__exit__(None, None, None)
    finally:
        for c in clients:
            c.close()
    assert code in CLEAN_SIGTERM_CODES, server.log()
    assert took <= 5.0, f"exit took {took:.2f} s"  # SHUTDOWN_GRACE=2 plus margin for a loaded CI box
    for i, evs in results.items():
        assert evs and isinstance(evs[-1], SSE), f"stream {i} ended uncleanly: {evs[-1:]}"
        assert evs[-1].event == "shutdown" and evs[-1].id, f"stream {i}: {[e.event for e in evs]}"
    answer_events = results[0]
    assert answer_events[-1].id.split(".")[0] == streams[0][2].id.split(".")[0]  # resumable id of the same run
    assert "ASGI callable returned without completing response" not in server.log()
    assert "stopped cleanly" in server.log()


def test_restart_on_the_same_volume_keeps_the_data(start_server, tmp_path):
    """A redeploy: the new process starts while the old one still holds the volume."""
    first = start_server()
    with first.client() as c:
        assert c.post("/documents", json={"documents": DOCS}).status_code == 201
        assert c.get("/search", params={"q": "volume region"}).json()["hits"][0]["id"] == "fly"
        with open_stream(c, "/stream", params={"q": "volume region"}) as r:
            assert list(events_only(parse_sse(r.iter_lines())))[-1].event == "done"

    # Embedded Chroma is single-writer: the second process waits for the directory.
    second = start_server(data_dir=first.data_dir, wait="listening")
    with second.client() as c:
        r = c.get("/health")
        assert r.status_code == 503 and "in use by another process" in r.json()["reason"]
        assert c.get("/documents/fly").status_code == 503
    code, _ = first.terminate()
    assert code in CLEAN_SIGTERM_CODES

    second.wait_healthy(timeout=15)  # took the directory over once the first one exited
    with second.client() as c:
        assert c.get("/health").json()["documents"] == 3
        assert c.get("/documents/render").json()["text"] == DOCS[2]["text"]
        assert c.get("/search", params={"q": "volume region"}).json()["hits"][0]["id"] == "fly"
    # Chroma's default embedding function would have created ~/.cache/chroma on first use.
    assert not (tmp_path / "home" / ".cache" / "chroma").exists()
