"""Helpers for the example app's tests: a real uvicorn subprocess on 127.0.0.1 and an SSE reader."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

APP_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: no OPENAI_API_KEY or API_KEY leaking in from the developer's shell."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # chroma's default model cache would land here: tests assert it never does
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


class AppServer:
    """``uvicorn app.main:app`` as a subprocess, exactly like the platforms' start command."""

    def __init__(self, data_dir: Path, home: Path, env: dict[str, str], log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(data_dir)
        self.env = clean_env(home, CHROMA_DB_PATH=str(self.data_dir), **env)
        self.log_path = log_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=APP_DIR, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, timeout: float = 20.0) -> None:
        self._wait(lambda r: True, timeout)

    def wait_healthy(self, timeout: float = 20.0) -> httpx.Response:
        return self._wait(lambda r: r.status_code == 200, timeout)

    def _wait(self, ok, timeout: float) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = httpx.get(self.url + "/health", timeout=2)
                if ok(r):
                    return r
                last = r.text
            except httpx.TransportError as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout} s (last: {last}):\n{self.log()}")

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM, like a platform stopping the machine; returns (exit code, seconds to exit)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", httpx.Timeout(10.0)), **kw)


# uvicorn re-raises SIGTERM after a graceful shutdown: Popen reports -15, a shell 143.
CLEAN_SIGTERM_CODES = {0, -signal.SIGTERM, 128 + signal.SIGTERM}


@dataclass
class SSE:
    kind: str  # "event" or "comment"
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comment: str = ""

    def json(self):
        import json

        return json.loads(self.data)


def parse_sse(lines: Iterator[str]) -> Iterator[SSE]:
    """A small, strict reader of text/event-stream (enough for these tests)."""
    data: list[str] = []
    ev = SSE("event")
    has_fields = False
    for line in lines:
        if line == "":
            if has_fields:
                ev.data = "\n".join(data)
                yield ev
            data, ev, has_fields = [], SSE("event"), False
            continue
        if line.startswith(":"):
            yield SSE("comment", comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        has_fields = True
        if name == "data":
            data.append(value)
        elif name == "event":
            ev.event = value
        elif name == "id":
            ev.id = value
        elif name == "retry":
            ev.retry = int(value)


def events_only(items: Iterator[SSE]) -> Iterator[SSE]:
    return (i for i in items if i.kind == "event")
