"""The example API over HTTP, as the dashboard uses it: no Streamlit here, so it tests on its own.

`API_URL` is whatever the platform wrote for `{service: api}`: http://api:8000 (Compose,
Kubernetes), https://stream-gen-ui.fly.dev or http://stream-gen-ui.internal:8000 (Fly),
http://api.railway.internal:8000 (Railway), or host:port with no scheme (Render's
fromService), so a missing scheme means http.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx


def base_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value:
        raise ValueError("API_URL is empty")
    return value if "://" in value else f"http://{value}"


class ApiError(Exception):
    """The API did not answer, or answered with an error: the message says which."""


class Api:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 10.0):
        self.url = base_url(url)
        headers = {"User-Agent": "stream-gen-ui-dashboard"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ApiError(f"{method} {self.url}{path}: {type(err).__name__}: {err}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response

    def health(self) -> dict[str, Any]:
        """/health's body; `status` is "ok", or "unavailable" with a `reason` (HTTP 503)."""
        try:
            response = self._client.get("/health")
        except httpx.HTTPError as err:
            return {"status": "unreachable", "reason": f"{type(err).__name__}: {err}"}
        try:
            body = response.json()
        except ValueError:
            body = {"status": f"HTTP {response.status_code}", "reason": response.text[:200]}
        body.setdefault("status", "ok" if response.status_code == 200 else f"HTTP {response.status_code}")
        return body

    def documents(self, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        body = self._call("GET", "/documents", params={"limit": limit, "offset": offset}).json()
        return body["documents"], body["total"]

    def add(self, text: str, doc_id: str | None = None, metadata: dict | None = None) -> list[str]:
        document: dict[str, Any] = {"text": text}
        if doc_id:
            document["id"] = doc_id
        if metadata:
            document["metadata"] = metadata
        return self._call("POST", "/documents", json={"documents": [document]}).json()["ids"]

    def delete(self, doc_id: str) -> None:
        self._call("DELETE", f"/documents/{quote(doc_id, safe='')}")

    def search(self, query: str, k: int = 5) -> list[dict]:
        return self._call("GET", "/search", params={"q": query, "k": k}).json()["hits"]


@dataclass
class Event:
    kind: str
    data: dict
    id: str | None
    at: float = field(default_factory=time.time)


class Feed:
    """Follows the API's /events stream in a background thread.

    Keeps the newest events; `version` goes up with each change, so a page knows when to
    refetch. On a dropped connection it reconnects with Last-Event-ID, as EventSource does.
    """

    def __init__(self, url: str, keep: int = 50, read_timeout: float = 60.0):
        self.url = base_url(url) + "/events"
        self.events: deque[Event] = deque(maxlen=keep)
        self.version = 0
        self.connected = False
        self.error: str | None = None
        self._last_id: str | None = None
        self._read_timeout = read_timeout  # more than the API's heartbeat: silence means a dead link
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="events-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def recent(self) -> list[Event]:
        with self._lock:
            return list(reversed(self.events))

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                delay = 0.5
            except (httpx.HTTPError, OSError) as err:
                self.error = f"{type(err).__name__}: {err}"
            self.connected = False
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)

    def _follow(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self._last_id:
            headers["Last-Event-ID"] = self._last_id
        timeout = httpx.Timeout(10.0, read=self._read_timeout)
        with httpx.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            response.raise_for_status()
            self.connected, self.error = True, None
            kind, data, event_id = "message", [], None
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line:  # a blank line ends an event
                    if data:
                        self._dispatch(kind, "\n".join(data), event_id)
                    kind, data, event_id = "message", [], None
                    continue
                if line.startswith(":"):
                    continue  # a heartbeat comment
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    event_id = value

    def _dispatch(self, kind: str, text: str, event_id: str | None) -> None:
        if event_id:
            self._last_id = event_id
        try:
            payload = json.loads(text)
        except ValueError:
            payload = {"text": text}
        with self._lock:
            if kind in ("added", "deleted", "reset"):
                self.version += 1  # the documents changed, or we may have missed changes
            if kind != "ready":
                self.events.append(Event(kind, payload if isinstance(payload, dict) else {"value": payload},
                                         event_id))
