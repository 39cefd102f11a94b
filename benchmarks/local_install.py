"""A first `up --target local` of examples/app with a warm package cache: pip against uv.

For each installer, side by side in one run: a copy of examples/app, one `up` to fill the
package cache (not timed), the venv removed, then `rounds` timed first runs, each from no venv
at all: `up --target local --detach --no-verify` (create the venv with the Python the
description names, install requirements.txt, run the build command, start the server) until
it returns, and `down`. uv is the one beside this interpreter (`pip install uv`, in .[dev]);
STREAMDEPLOY_INSTALLER=pip forces pip.

    python benchmarks/local_install.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def up(root: Path, installer: str) -> float:
    env = {**os.environ, "STREAMDEPLOY_INSTALLER": installer, "NO_COLOR": "1"}
    env.pop("STREAMDEPLOY_LOCAL_PYTHON", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streamdeploy", "up", "--target", "local", "--detach", "--no-verify",
                           "-f", str(root / "streamdeploy.yaml")], env=env, capture_output=True, text=True,
                          timeout=1800)
    took = time.monotonic() - started
    subprocess.run([sys.executable, "-m", "streamdeploy", "down", "-f", str(root / "streamdeploy.yaml")], env=env,
                   capture_output=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{installer}: up failed\n{done.stderr[-3000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    results: dict[str, list[float]] = {"pip": [], "uv": []}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for installer in results:
            root = Path(tmp) / installer / "app"
            shutil.copytree(REPO / "examples" / "app", root, ignore=shutil.ignore_patterns(
                ".streamdeploy", "__pycache__", "tests", ".models", "chroma_data", ".env"))
            roots[installer] = root
            up(root, installer)  # fills the package cache
        for _ in range(rounds):
            for installer, root in roots.items():  # interleaved: load on the machine hits both alike
                shutil.rmtree(root / ".streamdeploy", ignore_errors=True)
                results[installer].append(up(root, installer))
    print(f"first `up --target local` of examples/app, warm cache, {rounds} round(s), load {os.getloadavg()[0]:.1f}")
    for installer, times in results.items():
        print(f"  {installer:4} median {statistics.median(times):6.1f} s   runs: {', '.join(f'{t:.1f}' for t in times)}")
    ratio = statistics.median(results["pip"]) / statistics.median(results["uv"])
    print(f"  uv is {ratio:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
