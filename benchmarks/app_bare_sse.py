"""A bare sse-starlette endpoint, the baseline app_streams.py compares the service with.

    uvicorn app_bare_sse:app  (app_streams.py --bare starts it for you)

Same framing as the service's /events (a `ready` event, heartbeats, a final `shutdown`
event on SIGTERM), but no change feed, no Chroma, no settings: what is left is the cost
of uvicorn + FastAPI + sse-starlette per open stream.
"""

from __future__ import annotations

import os

import anyio
from fastapi import FastAPI
from sse_starlette import EventSourceResponse, ServerSentEvent

app = FastAPI()
HEARTBEAT = float(os.environ.get("SSE_HEARTBEAT", "15"))
shutdown = anyio.Event()


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/events")
async def events() -> EventSourceResponse:
    async def gen():
        yield ServerSentEvent(data="{}", event="ready", id="0")
        await shutdown.wait()
        yield ServerSentEvent(data="{}", event="shutdown", id="0")

    return EventSourceResponse(gen(), ping=HEARTBEAT, shutdown_event=shutdown, shutdown_grace_period=2)
