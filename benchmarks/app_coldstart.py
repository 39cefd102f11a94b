"""Cold start of the example service: process start to the first 200 from GET /health.

    python benchmarks/app_coldstart.py [--runs 7] [--json out.json]

Each run starts `uvicorn app.main:app` (one worker, 127.0.0.1, free port) as the
platforms do, polls /health every 5 ms, then stops it with SIGTERM. Runs with an empty
data directory and with one that already holds documents (index load on open). For
reference it also times `python -c "import chromadb"` on the same box, at the same time.
Target: <= 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from app_common import Server, emit, machine


def time_import(module: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        out.append(time.perf_counter() - t0)
    return out


def summary(xs: list[float]) -> dict:
    return {"min_s": round(min(xs), 3), "median_s": round(statistics.median(xs), 3), "max_s": round(max(xs), 3),
            "runs": [round(x, 3) for x in xs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--docs", type=int, default=1000, help="documents in the pre-filled data directory")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()

    result = {"benchmark": "app_coldstart", "machine": machine(), "target_s": 1.5}
    result["import_chromadb"] = summary(time_import("chromadb", 3))
    result["import_app_stack"] = summary(time_import("chromadb, fastapi, sse_starlette, uvicorn, httpx", 3))

    empty = []
    for _ in range(args.runs):
        with Server() as s:
            empty.append(s.wait_healthy())
            s.terminate()
    result["empty_data_dir"] = summary(empty)

    with tempfile.TemporaryDirectory(prefix="app-bench-data-") as data:
        with Server(data_dir=data) as s:  # fill it once
            s.wait_healthy()
            import http.client
            import json

            for start in range(0, args.docs, 250):
                docs = [{"id": f"d{i}", "text": f"document {i} about topic {i % 37} and detail {i % 11}"}
                        for i in range(start, min(start + 250, args.docs))]
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
                conn.request("POST", "/documents", json.dumps({"documents": docs}), {"Content-Type": "application/json"})
                assert conn.getresponse().status == 201
                conn.close()
            s.terminate()
        filled = []
        for _ in range(args.runs):
            with Server(data_dir=data) as s:
                filled.append(s.wait_healthy())
                s.terminate()
        result[f"data_dir_with_{args.docs}_docs"] = summary(filled)
    emit(result, args.json)


if __name__ == "__main__":
    main()
