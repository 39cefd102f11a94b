"""Thousands of concurrent SSE streams on GET /events, then SIGTERM with all of them open.

    python benchmarks/app_streams.py [--streams 2000] [--hold 30] [--heartbeat 5] [--json out.json]

Loopback only; bounded (connect + hold + shutdown, then it stops by itself).

1. Start the service (one uvicorn worker, SSE_HEARTBEAT=--heartbeat, SHUTDOWN_GRACE=2),
   warm it with a few streams, and take the idle RSS.
2. Open N streams (raw asyncio HTTP/1.1 clients: light, so the client does not starve the
   server of the box's CPUs), each waiting for its `ready` event.
3. Hold them for --hold seconds. Halfway, POST one document and time how long until all
   N streams have its `added` event. Sample server RSS and CPU every second.
   Memory per stream = (RSS during the hold - idle RSS) / N.
4. SIGTERM the server with all N open: count streams that got the final `shutdown` event
   and a clean end of the chunked body, and time the process exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from app_common import Server, emit, machine, percentile, raise_fd_limit


class Stream:
    __slots__ = ("events", "heartbeats", "last_event", "clean_end", "error", "ready_at", "added_at")

    def __init__(self) -> None:
        self.events = 0
        self.heartbeats = 0
        self.last_event = None
        self.clean_end = False
        self.error: str | None = None
        self.ready_at: float | None = None
        self.added_at: float | None = None


async def run_stream(port: int, st: Stream, connect_gate: asyncio.Semaphore) -> None:
    writer = None
    try:
        async with connect_gate:  # cap connects in flight: the listen backlog is finite
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
            st.error = "bad response head: " + head.split(b"\r\n", 1)[0].decode()
            return
        buf = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readexactly(2)
                st.clean_end = True
                break
            buf += (await reader.readexactly(size + 2))[:-2]
            while b"\r\n\r\n" in buf:  # sse-starlette separates fields with CRLF
                block, buf = buf.split(b"\r\n\r\n", 1)
                if block.startswith(b":"):
                    st.heartbeats += 1
                    continue
                for line in block.split(b"\r\n"):
                    if line.startswith(b"event: "):
                        name = line[7:].decode()
                        st.events += 1
                        st.last_event = name
                        now = time.perf_counter()
                        if name == "ready":
                            st.ready_at = now
                        elif name == "added":
                            st.added_at = now
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        st.error = f"{type(e).__name__}: {e}"
    finally:
        if writer is not None:
            writer.close()


async def post_document(port: int) -> int:
    body = json.dumps({"documents": [{"id": "bench-broadcast", "text": "one change, pushed to every open stream"}]}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def bench(args) -> dict:
    result: dict = {"benchmark": "app_streams", "machine": machine(), "streams": args.streams, "hold_s": args.hold,
                    "heartbeat_s": args.heartbeat}
    result["fd_soft_limit"] = raise_fd_limit(2 * args.streams + 256)
    env = {"SSE_HEARTBEAT": str(args.heartbeat), "SHUTDOWN_GRACE": "2"}
    if args.bare:  # the baseline: a bare sse-starlette endpoint, same client, same box
        result["app"] = "benchmarks/app_bare_sse.py"
        server = Server(env=env, app="app_bare_sse:app", cwd=Path(__file__).resolve().parent)
    else:
        result["app"] = "examples/app (GET /events)"
        server = Server(env=env)
    server.start()
    try:
        result["cold_start_s"] = round(server.wait_healthy(), 3)
        gate = asyncio.Semaphore(args.connect_concurrency)
        # Warm-up: import-time and first-request costs do not count as per-stream memory.
        warm = [Stream() for _ in range(20)]
        tasks = [asyncio.create_task(run_stream(server.port, s, gate)) for s in warm]
        await asyncio.sleep(1.0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.0)
        idle_rss = server.rss_kb()
        result["server_rss_idle_mb"] = round(idle_rss / 1024, 1)

        streams = [Stream() for _ in range(args.streams)]
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(run_stream(server.port, s, gate)) for s in streams]
        while sum(1 for s in streams if s.ready_at or s.error) < len(streams) and time.perf_counter() - t0 < 120:
            await asyncio.sleep(0.05)
        connected = [s for s in streams if s.ready_at]
        result["connect_all_s"] = round(time.perf_counter() - t0, 2)
        result["connected"] = len(connected)
        lat = [s.ready_at - t0 for s in connected]
        result["first_event_latency_ms"] = {"p50": round(percentile(lat, 50) * 1000), "p99": round(percentile(lat, 99) * 1000)}

        cpu0, h0 = server.cpu_seconds(), time.perf_counter()
        rss_samples = []
        broadcast: dict = {}
        while time.perf_counter() - h0 < args.hold:
            await asyncio.sleep(1.0)
            rss_samples.append(server.rss_kb())
            if not broadcast and not args.bare and time.perf_counter() - h0 >= args.hold / 2:
                b0 = time.perf_counter()
                broadcast["status"] = await post_document(server.port)
                while sum(1 for s in connected if s.added_at) < len(connected) and time.perf_counter() - b0 < 20:
                    await asyncio.sleep(0.01)
                got = [s.added_at - b0 for s in connected if s.added_at]
                broadcast.update(received=len(got), all_received_ms=round(max(got) * 1000) if got else None,
                                 p50_ms=round(percentile(got, 50) * 1000) if got else None)
        held = time.perf_counter() - h0
        result["hold"] = {
            "held_s": round(held, 1),
            "errors_during_hold": sum(1 for s in streams if s.error),
            "streams_still_open": sum(1 for s in streams if s.ready_at and not s.error and not s.clean_end),
            "heartbeats_per_stream_min": min((s.heartbeats for s in connected), default=0),
            "heartbeats_per_stream_max": max((s.heartbeats for s in connected), default=0),
            "server_cpu_percent": round(100 * (server.cpu_seconds() - cpu0) / held, 1),
            "server_rss_peak_mb": round(max(rss_samples) / 1024, 1),
            "server_rss_median_mb": round(sorted(rss_samples)[len(rss_samples) // 2] / 1024, 1),
            "rss_per_stream_kb": round((sorted(rss_samples)[len(rss_samples) // 2] - idle_rss) / max(1, len(connected)), 1),
            "broadcast_one_change": broadcast,
        }

        # SIGTERM with every stream open.
        open_before = sum(1 for s in streams if s.ready_at and not s.error)
        code, took = server.terminate(timeout=60)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)
        ended = [s for s in streams if s.ready_at]
        result["sigterm"] = {
            "open_streams": open_before,
            "exit_code": code,
            "exit_s": round(took, 3),
            "final_shutdown_event": sum(1 for s in ended if s.last_event == "shutdown"),
            "clean_end_of_body": sum(1 for s in ended if s.clean_end),
            "errors": sum(1 for s in ended if s.error),
            "error_samples": sorted({s.error for s in ended if s.error})[:3],
        }
        result["server_log_errors"] = [l for l in server.log().splitlines() if "ERROR" in l][:5]
    finally:
        server.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--hold", type=float, default=30.0)
    ap.add_argument("--heartbeat", type=float, default=5.0)
    ap.add_argument("--connect-concurrency", type=int, default=128)
    ap.add_argument("--bare", action="store_true", help="measure the bare sse-starlette baseline instead")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    emit(asyncio.run(bench(args)), args.json)


if __name__ == "__main__":
    main()
