"""The OpenAI code paths (streamed chat completions and embeddings over httpx) against a
small fake of OpenAI's documented HTTP API on 127.0.0.1. Nothing leaves the machine."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from app.answer import LLMError, openai_tokens
from app.embeddings import EmbeddingError, OpenAIEmbeddings
from app.store import Document
from app_testkit import events_only, parse_sse

DELTAS = ["Railway ", "closes idle ", "requests after ", "five minutes [1]."]
USAGE = {"prompt_tokens": 57, "completion_tokens": 12, "total_tokens": 69}


def fake_vector(text: str) -> list[float]:
    """Letter counts: crude but deterministic, so retrieval through the fake is meaningful."""
    v = np.zeros(26)
    for ch in text.lower():
        if "a" <= ch <= "z":
            v[ord(ch) - 97] += 1
    return (v / (np.linalg.norm(v) or 1)).tolist()


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.headers.get("Authorization") != "Bearer sk-test":
            return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if self.path == "/v1/embeddings":
            data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(body["input"])]
            data.reverse()  # the client must order by "index", not by position
            return self._json(200, {"object": "list", "data": data, "model": body["model"], "usage": {}})
        if self.path == "/v1/chat/completions":
            if body["model"] == "missing-model":
                return self._json(404, {"error": {"message": "The model `missing-model` does not exist", "code": "model_not_found"}})
            assert body["stream"] is True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
            chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
            chunks += [{**base, "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]} for d in DELTAS]
            chunks += [{**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
            chunks += [{**base, "choices": [], "usage": USAGE}]
            wire = ": keep-alive\n\n" + "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            raw = wire.encode()
            for i in range(0, len(raw), 37):  # odd-sized writes: events split mid-line
                self.wfile.write(raw[i : i + 37])
                self.wfile.flush()
                time.sleep(0.002)
            return None
        return self._json(404, {"error": {"message": f"unknown path {self.path}"}})


@pytest.fixture
def fake_openai():
    FakeOpenAI.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_tokens(base_url: str, **kw) -> tuple[list[str], dict]:
    async def go():
        usage: dict = {}
        async with httpx.AsyncClient() as client:
            out = [
                t
                async for t in openai_tokens(
                    client, base_url=base_url, question="q?", hits=[Document("d1", "Some source.")], usage=usage, **kw
                )
            ]
        return out, usage

    return asyncio.run(go())


def test_chat_stream_is_parsed_from_split_sse_chunks(fake_openai):
    tokens, usage = run_tokens(fake_openai, api_key="sk-test", model="gpt-4o-mini")
    assert tokens == DELTAS
    assert usage == USAGE
    sent = FakeOpenAI.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["stream"] is True and sent["body"]["model"] == "gpt-4o-mini"
    assert "[1] Some source." in sent["body"]["messages"][-1]["content"]


def test_chat_api_errors_carry_openais_message(fake_openai):
    with pytest.raises(LLMError, match="404: The model `missing-model` does not exist"):
        run_tokens(fake_openai, api_key="sk-test", model="missing-model")
    with pytest.raises(LLMError, match="401: Incorrect API key"):
        run_tokens(fake_openai, api_key="sk-wrong", model="gpt-4o-mini")


def test_embeddings_client_orders_by_index_and_reports_errors(fake_openai):
    ef = OpenAIEmbeddings("sk-test", "text-embedding-3-small", fake_openai)
    vectors = ef(["abc", "zzz"])
    assert np.allclose(vectors[0], fake_vector("abc")) and np.allclose(vectors[1], fake_vector("zzz"))
    assert FakeOpenAI.requests[-1]["body"] == {"model": "text-embedding-3-small", "input": ["abc", "zzz"]}
    with pytest.raises(EmbeddingError, match="401"):
        OpenAIEmbeddings("sk-wrong", "text-embedding-3-small", fake_openai)(["abc"])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_service_streams_openai_answers_over_openai_embeddings(start_server, fake_openai):
    server = start_server(EMBEDDINGS="openai", OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai, OPENAI_MODEL="gpt-test")
    with server.client() as c:
        health = c.get("/health").json()
        assert health["embeddings"] == "openai" and health["answers"] == "openai"
        docs = [{"id": "railway", "text": "Railway closes idle requests after five minutes."},
                {"id": "zzz", "text": "Zzz zzz zzz."}]
        assert c.post("/documents", json={"documents": docs}).status_code == 201
        assert any(r["path"] == "/v1/embeddings" for r in FakeOpenAI.requests)
        with c.stream("GET", "/stream", params={"q": "when does railway close requests", "k": 1}) as r:
            events = list(events_only(parse_sse(r.iter_lines())))
    assert [e.event for e in events] == ["token"] * len(DELTAS) + ["sources", "done"]
    assert "".join(e.json()["text"] for e in events[: len(DELTAS)]) == "".join(DELTAS)
    assert events[-2].json()["sources"][0]["id"] == "railway"
    assert events[-1].json() == {"mode": "openai", "model": "gpt-test", "usage": USAGE, "tokens": len(DELTAS)}
    chat = [r for r in FakeOpenAI.requests if r["path"] == "/v1/chat/completions"][-1]
    assert chat["body"]["model"] == "gpt-test"
    assert "Railway closes idle requests" in chat["body"]["messages"][-1]["content"]  # the retrieved passage
