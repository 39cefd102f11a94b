"""verify against the apps the corpus showed: a POST chat stream with a JSON body and a bearer
token, a stream with no heartbeat, and a health check that keeps answering 503."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from pydantic import BaseModel

from streamdeploy import verify
from streamdeploy.spec import StreamCheck

TOKEN = "tok-Very-Secret-123"


class Ask(BaseModel):
    message: str


def _app():
    import asyncio

    from fastapi import FastAPI, Header, HTTPException
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()

    @app.get("/health")
    def health():
        return JSONResponse({"loading": "the index"}, status_code=503)

    @app.post("/chat/stream")
    async def chat(ask: Ask, authorization: str = Header("")):
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(401, "bad token")

        async def words():
            for word in ask.message.split():
                yield f"data: {word}\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(words(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def url():
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def stream(**fields) -> StreamCheck:
    return StreamCheck.model_validate({"method": "POST", "path": "/chat/stream", **fields})


def test_a_post_stream_with_a_json_body_and_a_bearer_token_is_verified(url):
    check = stream(headers={"Authorization": "Bearer ${CHAT_TOKEN}"}, json={"message": "hello {marker} there"})
    request = verify.prepare(check, "sd-1", {"CHAT_TOKEN": TOKEN})
    result = verify.check_stream(url, request.path, None, None, request=request)
    assert result.status == "ok", result.detail
    assert result.detail.startswith("POST /chat/stream: text/event-stream") and "1 event; the app sends no heartbeat" in result.detail
    assert TOKEN not in result.detail


def test_a_post_stream_without_its_token_says_which_secret_to_set(url):
    check = stream(headers={"Authorization": "Bearer ${CHAT_TOKEN}"}, json={"message": "hi"})
    request = verify.prepare(check, "sd-1", {})
    result = verify.check_stream(url, request.path, None, None, request=request)
    assert result.status == "failed"
    assert result.detail.startswith("POST /chat/stream → 401") and "set CHAT_TOKEN" in result.detail


def test_a_health_check_that_keeps_answering_503_is_reported_as_503_not_a_timeout(url):
    import httpx

    started = time.monotonic()
    with httpx.Client() as client:
        result = verify.check_health(client, url, "/health", timeout=60, request_timeout=5, grace=1.0)
    assert time.monotonic() - started < 20  # not the 60 s timeout
    assert result.status == "failed" and result.facts["status"] == 503
    assert result.detail.startswith('GET /health → 503 {"loading":"the index"}')
