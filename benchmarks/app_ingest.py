"""Ingest and search through the example service's HTTP API, at 10,000 documents.

    python benchmarks/app_ingest.py [--docs 10000] [--batch 256] [--queries 500] [--json out.json]

Loopback only. Starts the service (offline `hash` embeddings, embedded Chroma in a temp
dir), POSTs --docs synthetic documents in batches of --batch (the MAX_BATCH default),
then times --queries sequential GET /search?k=5 requests and a few GET /stream answers.
Documents are generated from a fixed seed: ~60-word passages over a Zipf-distributed
vocabulary, which is closer to real text than random strings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import time

from app_common import Server, emit, machine, percentile

SYLLABLES = ["de", "ploy", "stream", "vol", "ume", "re", "gion", "heart", "beat", "proxy", "cache", "ser", "ver", "chro",
             "ma", "vec", "tor", "in", "dex", "ku", "ber", "net", "es", "fly", "rail", "way", "ren", "der", "sock", "et"]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def passage(rng: random.Random, vocab: list[str], weights: list[float], n_words: int = 60) -> str:
    words = rng.choices(vocab, weights=weights, k=n_words)
    sentences, i = [], 0
    while i < len(words):
        j = i + rng.randint(8, 16)
        sentences.append(" ".join(words[i:j]).capitalize() + ".")
        i = j
    return " ".join(sentences)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, data, {"Content-Type": "application/json"} if data else {})
    r = conn.getresponse()
    return r.status, r.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()

    rng = random.Random(42)
    vocab = vocabulary(rng)
    weights = [1 / (r + 1) for r in range(len(vocab))]  # Zipf
    docs = [{"id": f"doc-{i}", "text": passage(rng, vocab, weights), "metadata": {"n": i, "shard": i % 8}}
            for i in range(args.docs)]
    queries = [" ".join(rng.choices(vocab, weights=weights, k=rng.randint(2, 6))) for _ in range(args.queries)]

    result = {"benchmark": "app_ingest", "machine": machine(), "docs": args.docs, "batch": args.batch,
              "embeddings": "hash (offline)", "chroma": "embedded"}
    with Server() as server:
        server.wait_healthy()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        batch_times = []
        t0 = time.perf_counter()
        for start in range(0, len(docs), args.batch):
            b0 = time.perf_counter()
            status, body = request(conn, "POST", "/documents", {"documents": docs[start : start + args.batch]})
            assert status == 201, body[:300]
            batch_times.append(time.perf_counter() - b0)
        took = time.perf_counter() - t0
        result["ingest"] = {
            "seconds": round(took, 2),
            "docs_per_s": round(args.docs / took),
            "batch_ms_p50": round(percentile(batch_times, 50) * 1000, 1),
            "batch_ms_p99": round(percentile(batch_times, 99) * 1000, 1),
        }
        status, body = request(conn, "GET", "/health")
        result["documents_after_ingest"] = json.loads(body)["documents"]

        for q in queries[:20]:  # warm the index and code paths
            request(conn, "GET", f"/search?q={q.replace(' ', '+')}&k=5")
        lat = []
        for q in queries:
            s0 = time.perf_counter()
            status, body = request(conn, "GET", f"/search?q={q.replace(' ', '+')}&k=5")
            lat.append(time.perf_counter() - s0)
            assert status == 200 and len(json.loads(body)["hits"]) == 5
        result["search_k5_http_ms"] = {"p50": round(percentile(lat, 50) * 1000, 2), "p90": round(percentile(lat, 90) * 1000, 2),
                                       "p99": round(percentile(lat, 99) * 1000, 2), "max": round(max(lat) * 1000, 2),
                                       "queries": len(lat)}
        # Whole extractive answers over SSE: retrieval + answer + sources + done.
        answer = []
        for q in queries[:50]:
            s0 = time.perf_counter()
            status, body = request(conn, "GET", f"/stream?q={q.replace(' ', '+')}&k=4")
            answer.append(time.perf_counter() - s0)
            assert status == 200 and b"event: done" in body
        result["stream_full_answer_ms"] = {"p50": round(percentile(answer, 50) * 1000, 2),
                                           "p99": round(percentile(answer, 99) * 1000, 2), "answers": len(answer)}
        conn.close()
        result["server_rss_mb"] = round(server.rss_kb() / 1024, 1)
        code, exit_s = server.terminate()
        result["sigterm_exit_s"] = round(exit_s, 3)
    emit(result, args.json)


if __name__ == "__main__":
    main()
