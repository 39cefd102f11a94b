"""Search latency of the example app: embedded Chroma vs a Chroma server shared by app processes.

    .venv/bin/python benchmarks/chroma_server.py                 # 10,000 documents, the full run
    .venv/bin/python benchmarks/chroma_server.py --docs 1000 --queries 100 --rounds 2   # a quick look

Three set-ups, everything on 127.0.0.1, all started before any timing:

* embedded   one app process with PersistentClient on a local directory (what a volume gives)
* server x1  `chroma run` + one app process with HttpClient (CHROMA_HOST/CHROMA_PORT)
* server x2  the same server + two app processes, requests alternating between them
             (what the kubernetes target deploys with `store:` and replicas)

N documents are loaded through POST /documents (batches of 256) into the embedded app and,
through both server-mode apps, into the server; every process must then see all N. Then
GET /search?q=...&k=5 is timed from outside (the full HTTP round trip), one request at a
time and with C concurrent clients. The set-ups take turns, in a rotating order, for
--rounds rounds, so background load on the machine hits them alike; percentiles are over
all rounds, and the spread of the per-round p50 shows how noisy the machine was.

Every process is stopped at the end, whatever happens; --max-seconds bounds the run.
Results print as Markdown and, with --json, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
APP_DIR = REPO / "examples" / "app"
API_KEY = "benchmark-key"
BATCH = 256  # the app's MAX_BATCH default
HEARTBEAT = "/api/v2/heartbeat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chroma_cli() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        sys.exit("the `chroma` CLI is missing: install chromadb into this Python")
    return found


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], name: str, **kwargs) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.started.clear()


def wait_ok(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


def start_app(procs: Processes, name: str, work: Path, env: dict[str, str]) -> str:
    port = free_port()
    home = work / f"home-{name}"
    home.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "API_KEY": API_KEY,
        "EMBEDDINGS": "hash",  # offline and deterministic: the benchmark measures the store, not a model
        **env,
    }
    proc = procs.start(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--timeout-graceful-shutdown", "5"],
        name, cwd=APP_DIR, env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_ok(url + "/health", proc)
    return url


def start_chroma(procs: Processes, work: Path) -> int:
    port = free_port()
    proc = procs.start([chroma_cli(), "run", "--path", str(work / "chroma-server"), "--host", "127.0.0.1",
                        "--port", str(port)], "chroma")
    wait_ok(f"http://127.0.0.1:{port}{HEARTBEAT}", proc)
    return port


# ---------------------------------------------------------------- workload


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def documents(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    return [{"id": f"doc-{i:06d}", "text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 60)))}
            for i in range(n)]


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary(random.Random(7))
    return [" ".join(rng.choice(words) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def load(urls: list[str], docs: list[dict]) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        for i in range(0, len(docs), BATCH):
            url = urls[(i // BATCH) % len(urls)]
            response = client.post(url + "/documents", json={"documents": docs[i:i + BATCH]})
            if response.status_code != 201:
                raise RuntimeError(f"loading failed: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - started


def check_count(urls: list[str], expected: int) -> None:
    for url in urls:
        health = httpx.get(url + "/health", timeout=30).json()
        if health.get("documents") != expected:
            raise RuntimeError(f"{url} sees {health.get('documents')} documents, expected {expected}")


@dataclass
class Timing:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict:
        values = sorted(self.latencies_ms)
        return {
            "requests": len(values),
            "errors": self.errors,
            "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "p99_ms": round(percentile(values, 99), 2),
            "mean_ms": round(statistics.fmean(values), 2) if values else None,
            "throughput_rps": round(len(values) / self.wall_s, 1) if self.wall_s else None,
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


async def search_load(urls: list[str], texts: list[str], concurrency: int, deadline: float) -> Timing:
    timing = Timing()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(texts):
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency * len(urls), max_keepalive_connections=concurrency * len(urls))

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty() and time.monotonic() < deadline:
            i, text = queue.get_nowait()
            url = urls[i % len(urls)]  # alternate between app processes, like a Service would
            started = time.perf_counter()
            try:
                response = await client.get(url + "/search", params={"q": text, "k": 5})
                ok = response.status_code == 200 and response.json()["hits"]
            except httpx.HTTPError:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            if ok:
                timing.latencies_ms.append(elapsed)
            else:
                timing.errors += 1

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        timing.wall_s = time.perf_counter() - started
    return timing


# ---------------------------------------------------------------- set-ups


SETUPS = ("embedded", "server x1", "server x2")


def run(n_docs: int, n_queries: int, rounds: int, concurrencies: list[int], warmup: int,
        deadline: float, keep: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="chroma-bench-"))
    procs = Processes(work)
    try:
        embedded = start_app(procs, "app-embedded", work, {"CHROMA_DB_PATH": str(work / "chroma-embedded")})
        chroma_port = start_chroma(procs, work)
        server_env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_port),
                      "CHROMA_DB_PATH": str(work / "never-used")}
        server_apps = [start_app(procs, f"app-server-{i}", work, server_env) for i in (1, 2)]
        urls = {"embedded": [embedded], "server x1": server_apps[:1], "server x2": server_apps}

        docs = documents(n_docs)
        loading = {"embedded": load([embedded], docs), "server x2": load(server_apps, docs)}
        for name in SETUPS:
            check_count(urls[name], n_docs)

        texts = queries(warmup + rounds * n_queries)
        for name in SETUPS:  # warm caches, indexes and connections
            asyncio.run(search_load(urls[name], texts[:warmup], 1, deadline))
        timings = {(name, c): Timing() for name in SETUPS for c in concurrencies}
        round_p50 = {(name, c): [] for name in SETUPS for c in concurrencies}
        for r in range(rounds):
            batch = texts[warmup + r * n_queries: warmup + (r + 1) * n_queries]
            order = SETUPS[r % len(SETUPS):] + SETUPS[:r % len(SETUPS)]
            for concurrency in concurrencies:
                for name in order:
                    timing = asyncio.run(search_load(urls[name], batch, concurrency, deadline))
                    if time.monotonic() > deadline:
                        raise RuntimeError("--max-seconds reached; results would be partial")
                    total = timings[(name, concurrency)]
                    total.latencies_ms += timing.latencies_ms
                    total.errors += timing.errors
                    total.wall_s += timing.wall_s
                    round_p50[(name, concurrency)].append(round(percentile(sorted(timing.latencies_ms), 50), 2))
        results = []
        for name in SETUPS:
            entry: dict = {"setup": name, "app_processes": len(urls[name]), "documents": n_docs, "runs": []}
            if name in loading:
                entry["load_s"] = round(loading[name], 1)
                entry["load_docs_per_s"] = round(n_docs / loading[name], 1)
            for concurrency in concurrencies:
                entry["runs"].append({"concurrency": concurrency, **timings[(name, concurrency)].summary(),
                                      "p50_ms_per_round": round_p50[(name, concurrency)]})
            results.append(entry)
        return {"results": results}
    finally:
        procs.stop_all()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def markdown(results: list[dict]) -> str:
    lines = [
        "| set-up | app processes | clients | p50 ms | p95 ms | p99 ms | req/s | errors | p50 per round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for concurrency in sorted({run["concurrency"] for r in results for run in r["runs"]}):
        for result in results:
            for run in result["runs"]:
                if run["concurrency"] != concurrency:
                    continue
                spread = ", ".join(str(v) for v in run["p50_ms_per_round"])
                lines.append(f"| {result['setup']} | {result['app_processes']} | {concurrency} | {run['p50_ms']} "
                             f"| {run['p95_ms']} | {run['p99_ms']} | {run['throughput_rps']} | {run['errors']} "
                             f"| {spread} |")
    lines += ["", "| loaded through | documents | seconds | docs/s |", "|---|---:|---:|---:|"]
    for result in results:
        if "load_s" in result:
            lines.append(f"| {result['setup']} | {result['documents']} | {result['load_s']} | "
                         f"{result['load_docs_per_s']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500, help="timed searches per set-up, level and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", default="1,8", help="comma-separated concurrent clients")
    parser.add_argument("--max-seconds", type=float, default=1800, help="give up after this long")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and its logs")
    args = parser.parse_args()
    if not (APP_DIR / "app" / "main.py").exists():
        sys.exit(f"the example app is missing: {APP_DIR}")
    deadline = time.monotonic() + args.max_seconds
    load_before = list(os.getloadavg())
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    outcome = run(args.docs, args.queries, args.rounds, concurrencies, args.warmup, deadline, args.keep)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    # Other work on the machine skews latency: record how busy it was around the run.
                    "load_average_before": load_before, "load_average_after": list(os.getloadavg())},
        "parameters": {"docs": args.docs, "queries_per_round": args.queries, "rounds": args.rounds,
                       "warmup": args.warmup, "concurrency": concurrencies, "k": 5, "embeddings": "hash"},
        **outcome,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(outcome["results"]))
    print(f"\nload average before {load_before}, after {report['machine']['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
