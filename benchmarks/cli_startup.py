"""Start-up time of the streamdeploy CLI: median wall time of real processes.

    .venv/bin/python benchmarks/cli_startup.py            # 21 runs each, a markdown table
    .venv/bin/python benchmarks/cli_startup.py --runs 51 --json

Each command runs as a fresh process (the console script next to the interpreter, as a
user types it), a few warm-up runs first so the page cache is warm, then N timed runs.
Budgets (issue 2): `--help` and `validate` <= 150 ms; `render --target all --stdout` at
most 1.5 x `--help`. Baselines show what the interpreter and typer cost by themselves.
Numbers and what was done about them: benchmarks/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "app" / "streamdeploy.yaml"
BUDGET_MS = 150.0
RENDER_RATIO = 1.5


def commands(python: str, script: str) -> list[tuple[str, list[str]]]:
    return [
        ("python -c pass (baseline)", [python, "-c", "pass"]),
        ("python -c 'import typer' (baseline)", [python, "-c", "import typer"]),
        ("streamdeploy --help", [script, "--help"]),
        ("streamdeploy version", [script, "version"]),
        ("streamdeploy validate -f examples/app/...", [script, "validate", "-f", str(EXAMPLE)]),
        ("streamdeploy render --target all --stdout -f examples/app/...",
         [script, "render", "--target", "all", "--stdout", "-f", str(EXAMPLE)]),
    ]


def time_once(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall ms, CPU ms of the child): CPU time barely moves when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed * 1000, cpu * 1000


def measure(argv: list[str], runs: int, warmup: int, env: dict) -> dict:
    for _ in range(warmup):
        time_once(argv, env)
    samples = [time_once(argv, env) for _ in range(runs)]
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)
    return {"median_ms": round(statistics.median(wall), 1), "min_ms": round(wall[0], 1),
            "max_ms": round(wall[-1], 1), "cpu_median_ms": round(statistics.median(cpu), 1), "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    python = sys.executable
    script = str(Path(python).with_name("streamdeploy"))
    if not Path(script).exists():
        raise SystemExit(f"{script} not found: run this with the venv's python (pip install -e .)")
    # What a user's shell has: no colour forcing; rich sees a pipe, as in CI.
    # PYTHONDONTWRITEBYTECODE is dropped: an installed package has its .pyc files, and the
    # warm-up runs write them, so we time imports, not compiling our own sources each run.
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE")}
    env["COLUMNS"] = "100"

    results = {name: measure(argv, args.runs, args.warmup, env) for name, argv in commands(python, script)}
    help_ms = results["streamdeploy --help"]["median_ms"]
    render = results["streamdeploy render --target all --stdout -f examples/app/..."]
    checks = {
        "help <= 150 ms": help_ms <= BUDGET_MS,
        "validate <= 150 ms": results["streamdeploy validate -f examples/app/..."]["median_ms"] <= BUDGET_MS,
        "render <= 1.5 x help": render["median_ms"] <= RENDER_RATIO * help_ms,
    }
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}
    if args.json:
        print(json.dumps({"machine": machine, "results": results, "render_over_help": round(render["median_ms"] / help_ms, 2),
                          "render_over_version": round(render["median_ms"] / results["streamdeploy version"]["median_ms"], 2),
                          "checks": checks}, indent=2))
    else:
        print(f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs, "
              f"load {machine['load_average']}; {args.runs} runs after {args.warmup} warm-up\n")
        print("| command | median ms | min | max | CPU ms (median) |")
        print("|---|---:|---:|---:|---:|")
        for name, r in results.items():
            print(f"| `{name}` | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | {r['cpu_median_ms']} |")
        noop = results["streamdeploy version"]["median_ms"]
        print(f"\nrender / --help = {render['median_ms'] / help_ms:.2f} (budget {RENDER_RATIO}); "
              f"render / version (a no-op command: typer + pydantic) = {render['median_ms'] / noop:.2f}")
        for name, ok in checks.items():
            print(f"- {'ok  ' if ok else 'OVER'} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
