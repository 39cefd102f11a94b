"""Answer runs: each GET /stream starts one; its events are recorded so a reconnect can resume.

The answer is produced once, by a task that does not depend on the connection: if the
client drops mid-answer and comes back with ``Last-Event-ID: <run>.<n>``, it gets event
n+1 onwards of the same answer (an LLM would not produce the same tokens twice).
Finished runs are kept for ``answer_ttl`` seconds, at most ``answer_cache`` of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from .events import Signal

log = logging.getLogger("app.runs")


class Run:
    def __init__(self, run_id: str, key: tuple[Any, ...]):
        self.id = run_id
        self.key = key  # (question, k): a resume must ask the same thing
        self.events: list[tuple[str, str]] = []  # (event name, JSON data)
        self.finished = False
        self.finished_at: float | None = None
        self._signal = Signal()

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, json.dumps(payload, separators=(",", ":"), ensure_ascii=False)))
        self._signal.notify()

    def finish(self) -> None:
        self.finished = True
        self.finished_at = time.monotonic()
        self._signal.notify()

    def wake(self) -> None:
        self._signal.notify()

    async def wait(self, seen: int) -> None:
        """Return once there are more than ``seen`` events, the run finished, or wake() is called."""
        if len(self.events) > seen or self.finished:
            return
        await self._signal.wait()

    def event_id(self, index: int) -> str:
        return f"{self.id}.{index}"


def parse_run_id(last_event_id: str | None) -> tuple[str, int] | None:
    """``<run>.<n>`` -> (run, n); a bare ``<run>`` (sent with ``reset``) -> (run, -1)."""
    if not last_event_id:
        return None
    run_id, dot, index = last_event_id.strip().partition(".")
    if not run_id:
        return None
    if not dot:
        return run_id, -1
    return (run_id, int(index)) if index.isdigit() else None


class RunRegistry:
    def __init__(self, capacity: int = 256, ttl: float = 300.0):
        self.capacity = capacity
        self.ttl = ttl
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> Run | None:
        self._expire()
        return self._runs.get(run_id)

    def start(self, key: tuple[Any, ...], events: AsyncIterator[tuple[str, dict[str, Any]]]) -> Run:
        self._expire()
        run = Run(secrets.token_hex(8), key)
        self._runs[run.id] = run
        task = asyncio.create_task(self._produce(run, events), name=f"answer-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _produce(self, run: Run, events: AsyncIterator[tuple[str, dict[str, Any]]]) -> None:
        try:
            async for name, payload in events:
                run.emit(name, payload)
        except asyncio.CancelledError:
            run.emit("error", {"message": "answer cancelled: server shutting down"})
            raise
        except Exception as e:  # the reader turns this into the stream's last event
            log.warning("answer %s failed: %s", run.id, e)
            run.emit("error", {"message": str(e)[:500]})
        finally:
            run.finish()

    def _expire(self) -> None:
        now = time.monotonic()
        for run_id in [r.id for r in self._runs.values() if r.finished and now - (r.finished_at or now) > self.ttl]:
            del self._runs[run_id]
        # Over capacity: drop the oldest finished runs; running ones are never dropped.
        for run_id in [r.id for r in self._runs.values() if r.finished][: max(0, len(self._runs) - self.capacity)]:
            del self._runs[run_id]

    def wake_all(self) -> None:
        for run in self._runs.values():
            run.wake()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
