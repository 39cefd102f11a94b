"""Server-Sent Events plumbing shared by /stream and /events.

What every stream gets, and why:
- an id on every event, so a client that reconnects sends ``Last-Event-ID`` and resumes;
- a ``retry:`` hint on its first event (how long the browser waits before reconnecting);
- a heartbeat comment every SSE_HEARTBEAT seconds, under every platform's idle cutoff;
- ``Cache-Control: no-cache`` and ``X-Accel-Buffering: no`` so proxies pass events through;
- on shutdown (SIGTERM), a final ``shutdown`` event and a clean end of the response,
  within SHUTDOWN_GRACE seconds, instead of a connection cut mid-chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent

from .events import Broker
from .runs import Run
from .settings import Settings

SEND_TIMEOUT = 30.0  # a client that stops reading for this long is dropped, not buffered for
SHUTDOWN_MESSAGE = "server shutting down; reconnect with Last-Event-ID to resume"


def sse_response(stream: AsyncIterator[ServerSentEvent], settings: Settings, shutdown: anyio.Event) -> EventSourceResponse:
    return EventSourceResponse(
        stream,
        headers={"Cache-Control": "no-cache"},  # sse-starlette adds X-Accel-Buffering: no
        ping=settings.sse_heartbeat,  # 0 disables
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"),
        send_timeout=SEND_TIMEOUT,
        # sse-starlette sets this event when uvicorn starts shutting down, then gives the
        # generator the grace period to send its final event and return.
        shutdown_event=shutdown,
        shutdown_grace_period=settings.shutdown_grace,
    )


def _data(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class _Retry:
    """Puts the retry hint on the first event of a connection only."""

    def __init__(self, retry_ms: int):
        self.pending: int | None = retry_ms or None

    def __call__(self) -> int | None:
        value, self.pending = self.pending, None
        return value


async def follow_run(
    run: Run, start: int, settings: Settings, shutdown: anyio.Event, prelude: Iterable[ServerSentEvent] = ()
) -> AsyncIterator[ServerSentEvent]:
    """Events ``start``.. of an answer run, following it live until it finishes."""
    retry = _Retry(settings.sse_retry_ms)
    for event in prelude:
        event.retry = retry()
        yield event
    i = start
    while True:
        while i < len(run.events):
            name, data = run.events[i]
            yield ServerSentEvent(data=data, event=name, id=run.event_id(i), retry=retry())
            i += 1
        if run.finished:
            return
        if shutdown.is_set():
            last = run.event_id(i - 1) if i else run.id
            yield ServerSentEvent(data=_data({"reason": SHUTDOWN_MESSAGE}), event="shutdown", id=last, retry=retry())
            return
        await run.wait(i)


async def follow_changes(
    broker: Broker, last_event_id: str | None, settings: Settings, shutdown: anyio.Event
) -> AsyncIterator[ServerSentEvent]:
    """The change feed from ``last_event_id`` on (or from now), open until shutdown."""
    retry = _Retry(settings.sse_retry_ms)
    broker.subscribers += 1
    try:
        cursor = broker.parse_id(last_event_id)
        if cursor is None:
            cursor = broker.seq
            if last_event_id:  # an id from another boot, or too old: the client must refetch
                yield _reset(broker, cursor, retry(), "unknown or stale Last-Event-ID")
            else:
                payload = {"cursor": broker.event_id(cursor), "heartbeat": settings.sse_heartbeat}
                yield ServerSentEvent(data=_data(payload), event="ready", id=broker.event_id(cursor), retry=retry())
        while True:
            changes = broker.since(cursor)
            if changes is None:  # fell behind the log (a huge batch, a stalled client)
                cursor = broker.seq
                yield _reset(broker, cursor, retry(), "missed changes that are no longer kept")
                continue
            for change in changes:
                cursor = change.seq
                yield ServerSentEvent(data=change.data, event=change.kind, id=broker.event_id(change.seq), retry=retry())
            if broker.closed or shutdown.is_set():
                payload = {"reason": SHUTDOWN_MESSAGE}
                yield ServerSentEvent(data=_data(payload), event="shutdown", id=broker.event_id(cursor), retry=retry())
                return
            await broker.wait(cursor)
    finally:
        broker.subscribers -= 1


def _reset(broker: Broker, cursor: int, retry: int | None, reason: str) -> ServerSentEvent:
    payload = {"reason": reason, "cursor": broker.event_id(cursor)}
    return ServerSentEvent(data=_data(payload), event="reset", id=broker.event_id(cursor), retry=retry)
