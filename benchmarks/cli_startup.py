"""Start-up time of the streamdeploy CLI, as ratios to `streamdeploy --help`.

    .venv/bin/python benchmarks/cli_startup.py            # 21 rounds, a markdown table
    .venv/bin/python benchmarks/cli_startup.py --runs 41 --json
    .venv/bin/python benchmarks/cli_startup.py --against a04d8dc   # that commit and this tree, side by side

Each command runs as a fresh process (the console script next to the interpreter, as a
user types it). The commands are interleaved: every round runs each of them once, in an
order that rotates from round to round, so a noisy moment on this shared machine lands
on all of them rather than on one. A few warm-up rounds first (page cache, .pyc files).
With ``--against REF`` the commit REF (``git archive``, into a temporary directory) and this
tree run in the same rounds, each through a launcher script that puts its tree first on
sys.path and calls its own console entry point, so before/after ratios come from one run.
Budgets (issue 16): `validate` <= 1.3 x `--help`, `render --target all` <= 1.5 x `--help`.
Baselines show what the interpreter and typer cost by themselves.
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
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "app" / "streamdeploy.yaml"
HELP = "streamdeploy --help"
RENDER_COLD = "streamdeploy render --target all --stdout -f examples/app/... (scan cache off)"
# The row above runs with the app-source cache (streamdeploy/source_facts.py) turned off: what the
# first `render` or `check` after an edit of the app costs. The other rows find it warm.
ENV_OF = {RENDER_COLD: {"STREAMDEPLOY_NO_CACHE": "1"}}
BUDGETS = {  # command -> at most this many times `--help`
    "streamdeploy validate -f examples/app/...": 1.3,
    "streamdeploy render --target all --stdout -f examples/app/...": 1.5,
}


def commands(python: str, script: str) -> dict[str, list[str]]:
    return {
        "python -c pass (baseline)": [python, "-c", "pass"],
        "python -c 'import typer' (baseline)": [python, "-c", "import typer"],
        # The floor of any command that reads the description: pydantic and building its models.
        "python -c 'import streamdeploy.spec' (floor)": [python, "-c", "import streamdeploy.spec"],
        HELP: [script, "--help"],
        "streamdeploy version": [script, "version"],
        "streamdeploy validate -f examples/app/...": [script, "validate", "-f", str(EXAMPLE)],
        "streamdeploy check -f examples/app/...": [script, "check", "-f", str(EXAMPLE)],
        "streamdeploy render --target all --stdout -f examples/app/...":
            [script, "render", "--target", "all", "--stdout", "-f", str(EXAMPLE)],
        RENDER_COLD: [script, "render", "--target", "all", "--stdout", "-f", str(EXAMPLE)],
    }


def launcher(tree: Path, label: str, where: Path) -> str:
    """A script that runs ``tree``'s console entry point (from its pyproject.toml), like the installed one."""
    entry = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]["streamdeploy"]
    module, _, function = entry.partition(":")
    script = where / f"streamdeploy-{label}"
    script.write_text(f"import sys\nsys.path.insert(0, {str(tree)!r})\nfrom {module} import {function}\n"
                      f"sys.exit({function}())\n", encoding="utf-8")
    return str(script)


def extract(ref: str, where: Path) -> Path:
    """The tree of ``ref``, laid out as installed (templates/ is the package streamdeploy.templates)."""
    tree = where / "tree"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    if (tree / "templates").is_dir() and not (tree / "streamdeploy" / "templates").exists():
        (tree / "streamdeploy" / "templates").symlink_to(tree / "templates")
    return tree


def side_by_side(python: str, before: str, after: str) -> dict[str, list[str]]:
    cmds = {}
    for label, script in (("before", before), ("after", after)):
        for name, argv in commands(python, script).items():
            if name.startswith("streamdeploy"):
                cmds[f"{label}: {name}"] = [python, *argv]
    return cmds


def time_once(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall ms, CPU ms of the child): CPU time moves less when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # `check` exits 1 when it finds errors: still a full run
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed * 1000, cpu * 1000


def interleaved(cmds: dict[str, list[str]], runs: int, warmup: int, env: dict) -> dict[str, list[tuple[float, float]]]:
    """Every command once per round, the order rotated each round; warm-up rounds discarded."""
    names = list(cmds)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_no in range(warmup + runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            own = ENV_OF.get(name.removeprefix("before: ").removeprefix("after: "), {})
            sample = time_once(cmds[name], {**env, **own})
            if round_no >= warmup:
                samples[name].append(sample)
    return samples


def summary(samples: list[tuple[float, float]]) -> dict:
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)
    return {"median_ms": round(statistics.median(wall), 1), "min_ms": round(wall[0], 1),
            "max_ms": round(wall[-1], 1), "cpu_median_ms": round(statistics.median(cpu), 1), "runs": len(wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed rounds (each runs every command once)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--against", metavar="REF", help="also run this git commit's tree, in the same rounds")
    args = parser.parse_args()

    python = sys.executable
    script = str(Path(python).with_name("streamdeploy"))
    if not Path(script).exists():
        raise SystemExit(f"{script} not found: run this with the venv's python (pip install -e .)")
    # What a user's shell has: no colour forcing; stdout is a pipe, as in CI.
    # PYTHONDONTWRITEBYTECODE is dropped: an installed package has its .pyc files, and the
    # warm-up rounds write them, so we time imports, not compiling our own sources each run.
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE")}
    env["COLUMNS"] = "100"
    # The scan cache of this run only (its warm-up rounds fill it), never the user's.
    cache = tempfile.TemporaryDirectory(prefix="cli-startup-cache-")
    env["STREAMDEPLOY_CACHE_DIR"] = cache.name

    if args.against:
        with tempfile.TemporaryDirectory(prefix="cli-startup-") as where:
            before = launcher(extract(args.against, Path(where)), "before", Path(where))
            after = launcher(REPO, "after", Path(where))
            samples = interleaved(side_by_side(python, before, after), args.runs, args.warmup, env)
        labels = ["before: ", "after: "]
    else:
        samples = interleaved(commands(python, script), args.runs, args.warmup, env)
        labels = [""]
    results = {name: summary(s) for name, s in samples.items()}
    ratios = {}
    for name, r in results.items():
        label = next(lb for lb in reversed(labels) if name.startswith(lb))
        ratios[name] = round(r["median_ms"] / results[label + HELP]["median_ms"], 2)
    checks = {f"{label}{name} <= {budget} x --help": ratios[label + name] <= budget
              for label in labels for name, budget in BUDGETS.items()}
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}
    if args.json:
        print(json.dumps({"machine": machine, "results": results, "over_help": ratios, "checks": checks}, indent=2))
        return 0
    print(f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs, "
          f"load {machine['load_average']}; {args.runs} interleaved rounds after {args.warmup} warm-up\n")
    print("| command | median ms | x `--help` | min | max | CPU ms (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| `{name}` | {r['median_ms']} | {ratios[name]:.2f} | {r['min_ms']} | {r['max_ms']} | "
              f"{r['cpu_median_ms']} |")
    if args.against:
        print(f"\n| command | after / before ({args.against}) |\n|---|---:|")
        for name, r in results.items():
            if name.startswith("after: "):
                before_ms = results["before: " + name.removeprefix("after: ")]["median_ms"]
                print(f"| `{name.removeprefix('after: ')}` | {r['median_ms'] / before_ms:.2f} |")
    print()
    for name, ok in checks.items():
        print(f"- {'ok  ' if ok else 'OVER'} {name} ({ratios[name.split(' <= ')[0]]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
