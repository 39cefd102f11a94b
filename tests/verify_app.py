"""A tiny service for testing `verify`'s failure paths, run for real by uvicorn on 127.0.0.1.

Behaviour comes from the environment, so one module covers every case:

  VA_HEARTBEAT      seconds between `: ping` comments on /events (0: none)
  VA_CONTENT_TYPE   content type of /events (default text/event-stream)
  VA_END_AFTER      close /events after this many seconds (default: never)
  VA_UNHEALTHY_FOR  /health answers 503 for this many seconds after the first time it is asked
  VA_DATA           JSON file the documents live in (survives a restart)
  VA_API_KEY        when set, POST /documents needs `Authorization: Bearer <key>`
  VA_LOG            file that records each request's headers (to prove what verify sent)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

FIRST_HEALTH_CHECK: list[float] = []
HEARTBEAT = float(os.environ.get("VA_HEARTBEAT", "1"))
CONTENT_TYPE = os.environ.get("VA_CONTENT_TYPE", "text/event-stream")
END_AFTER = float(os.environ["VA_END_AFTER"]) if os.environ.get("VA_END_AFTER") else None
UNHEALTHY_FOR = float(os.environ.get("VA_UNHEALTHY_FOR", "0"))
DATA = Path(os.environ.get("VA_DATA", "va-data.json"))
API_KEY = os.environ.get("VA_API_KEY") or None
LOG = os.environ.get("VA_LOG")


def _log(request: Request) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"path": request.url.path, "headers": dict(request.headers)}) + "\n")


def _documents() -> dict:
    try:
        return json.loads(DATA.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


async def health(request: Request):
    _log(request)
    if not FIRST_HEALTH_CHECK:
        FIRST_HEALTH_CHECK.append(time.monotonic())
    if time.monotonic() - FIRST_HEALTH_CHECK[0] < UNHEALTHY_FOR:
        return PlainTextResponse("starting", status_code=503)
    return JSONResponse({"status": "ok"})


async def events(request: Request):
    async def body():
        start = time.monotonic()
        yield b"event: hello\ndata: {}\n\n"
        last_ping = start
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if END_AFTER is not None and now - start >= END_AFTER:
                return
            if HEARTBEAT and now - last_ping >= HEARTBEAT:
                last_ping = now
                yield b": ping\n\n"

    return StreamingResponse(body(), media_type=CONTENT_TYPE)


async def question(request: Request):
    """A stream that needs a query, like the example's /stream?q=: 422 without it."""
    if not request.query_params.get("q"):
        return JSONResponse({"detail": [{"loc": ["query", "q"], "msg": "Field required"}]}, status_code=422)
    return await events(request)


async def add(request: Request):
    _log(request)
    if API_KEY and request.headers.get("authorization") != f"Bearer {API_KEY}":
        return JSONResponse({"detail": "missing or wrong API key"}, status_code=401)
    payload = await request.json()
    docs = _documents()
    for doc in payload["documents"]:
        docs[doc["id"]] = doc["text"]
    DATA.write_text(json.dumps(docs), encoding="utf-8")
    return JSONResponse({"added": len(payload["documents"])}, status_code=201)


async def get(request: Request):
    _log(request)
    doc_id = request.path_params["doc_id"]
    docs = _documents()
    if doc_id not in docs:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return JSONResponse({"id": doc_id, "text": docs[doc_id]})


app = Starlette(routes=[
    Route("/health", health),
    Route("/events", events),
    Route("/ask", question),
    Route("/documents", add, methods=["POST"]),
    Route("/documents/{doc_id}", get),
])
