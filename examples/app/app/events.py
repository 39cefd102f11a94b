"""The live change feed behind GET /events: a numbered log in memory, read by any number of streams.

Subscribers hold no queue, only a cursor (the number of the last change they sent), so
an idle stream costs next to nothing and a slow client cannot make the server buffer
for it: if it falls further behind than the log keeps, it gets a ``reset`` event and
refetches. Event ids are ``<boot>-<seq>``; ``boot`` changes on every start, so an id
from before a restart is recognised as stale rather than silently misread.

In Chroma server mode each replica has its own feed: it sees the changes made through
it, not those made through the other replicas (a cross-replica feed needs a broker).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


class Signal:
    """Wake every waiter at once; cheaper than one queue per subscriber."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    kind: str  # "added" | "deleted"
    data: str  # JSON, encoded once for every subscriber


class Broker:
    def __init__(self, buffer: int = 1024, boot: str | None = None):
        self.boot = boot or format(time.time_ns() // 1_000_000, "x")
        self.seq = 0
        self.closed = False
        self.subscribers = 0
        self._log: deque[Change] = deque(maxlen=buffer)
        self._signal = Signal()

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def parse_id(self, last_event_id: str | None) -> int | None:
        """The sequence number in an id from this boot, or None (other boot, garbage, future)."""
        if not last_event_id:
            return None
        boot, _, seq = last_event_id.strip().rpartition("-")
        if boot != self.boot or not seq.isdigit():
            return None
        n = int(seq)
        return n if n <= self.seq else None

    def publish(self, kind: str, payload: dict[str, Any]) -> Change:
        self.seq += 1
        change = Change(self.seq, kind, json.dumps(payload, separators=(",", ":")))
        self._log.append(change)
        self._signal.notify()
        return change

    def since(self, seq: int) -> list[Change] | None:
        """Changes after ``seq``, or None when some of them have already left the log."""
        if seq >= self.seq:
            return []
        oldest = self._log[0].seq if self._log else self.seq + 1
        if seq + 1 < oldest:
            return None
        # Seqs are contiguous, so the new changes are the last (self.seq - seq) entries:
        # read them from the right end instead of scanning the whole log per subscriber.
        missing = self.seq - seq
        return [self._log[-i] for i in range(missing, 0, -1)]

    async def wait(self, seq: int) -> None:
        """Return once there is a change after ``seq``, or the broker is closed."""
        if self.seq > seq or self.closed:
            return
        await self._signal.wait()

    def close(self) -> None:
        """Shutdown: wake every subscriber so each sends its final event and ends."""
        self.closed = True
        self._signal.notify()
