"""The generated image next to a `docker init`-style one, built side by side in one run.

Both images are of examples/app, from the same base (python:3.12-slim-bookworm; here the
stand-in tests/setup/engine.sh builds, since no registry is reachable) with the same builder
(BuildKit: Debian's docker 20.10 client with DOCKER_BUILDKIT=1, which `docker init`'s
`RUN --mount` needs), on the host network (no bridge here). Measured, in turns (A B A B):

- cold build: `--no-cache`;
- image size (`docker image inspect .Size`);
- rebuild after a source-only change (app/main.py edited), and whether the dependency layer
  came from the cache.

`docker init`'s Python template (pip flavour), as it writes it for a uvicorn app, with the
two changes this machine needs: no `# syntax=` line (no registry for that frontend) and the
bookworm tag of the base. Run as root with a running dockerd: `python benchmarks/image.py`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("IMAGE_ROUNDS", "2"))

DOCKER_INIT = """\
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim-bookworm as base
ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1
WORKDIR /app
ARG UID=10001
RUN adduser \\
    --disabled-password \\
    --gecos "" \\
    --home "/nonexistent" \\
    --shell "/sbin/nologin" \\
    --no-create-home \\
    --uid "${UID}" \\
    appuser
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt
USER appuser
COPY . .
EXPOSE 8000
CMD uvicorn 'app.main:app' --host=0.0.0.0 --port=8000
"""


def build(context: Path, dockerfile: str, tag: str, *flags: str) -> tuple[float, str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/docker", "build", "--progress=plain", "--network", "host", *flags,
                             "--file", dockerfile, "--tag", tag, "."], cwd=context, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build of {tag} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stderr


def size(tag: str) -> int:
    return int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True,
                              text=True, check=True).stdout)


def deps_cached(log: str) -> bool:
    """BuildKit prints `#N CACHED` for the step whose line mentions pip install."""
    steps = {m.group(1): m.group(2) for m in re.finditer(r"^#(\d+) \[[^\]]*\] (.*)$", log, re.M)}
    pip = [n for n, text in steps.items() if "pip install" in text]
    return bool(pip) and all(re.search(rf"^#{n} CACHED$", log, re.M) for n in pip)


def main() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0 or not Path("/usr/bin/docker").exists():
        print("skipped: needs a running dockerd and Debian's docker client (tests/setup/engine.sh up)")
        return
    work = Path(tempfile.mkdtemp(prefix="sd-image-bench-"))
    app = work / "app"
    shutil.copytree(REPO / "examples" / "app", app, ignore=shutil.ignore_patterns(
        ".streamdeploy", "__pycache__", ".models", "chroma_data", ".env", ".venv"))
    subprocess.run([sys.executable, "-m", "streamdeploy", "render", "--target", "docker"], cwd=app, check=True,
                   capture_output=True)
    (app / "Dockerfile.init").write_text(DOCKER_INIT)
    variants = {"generated": ("Dockerfile", "sd-bench-generated"), "docker-init": ("Dockerfile.init", "sd-bench-init")}
    results: dict[str, dict[str, list]] = {k: {"cold_s": [], "rebuild_s": [], "deps_cached": []} for k in variants}
    main_py = app / "app" / "main.py"
    original = main_py.read_text()
    try:
        for round_ in range(ROUNDS):
            for name, (dockerfile, tag) in variants.items():
                seconds, _ = build(app, dockerfile, tag, "--no-cache")
                results[name]["cold_s"].append(round(seconds, 2))
            for name, (dockerfile, tag) in variants.items():
                main_py.write_text(original + f"\n# source-only change {round_} {name}\n")
                seconds, log = build(app, dockerfile, tag)
                results[name]["rebuild_s"].append(round(seconds, 2))
                results[name]["deps_cached"].append(deps_cached(log))
        for name, (_, tag) in variants.items():
            results[name]["size_bytes"] = size(tag)
    finally:
        main_py.write_text(original)
        shutil.rmtree(work, ignore_errors=True)
    gen, init = results["generated"], results["docker-init"]
    ratios = {
        "size generated/docker-init": round(gen["size_bytes"] / init["size_bytes"], 3),
        "cold build generated/docker-init": round(min(gen["cold_s"]) / min(init["cold_s"]), 2),
        "source-only rebuild generated/docker-init": round(min(gen["rebuild_s"]) / min(init["rebuild_s"]), 2),
    }
    print(json.dumps({"results": results, "ratios": ratios, "loadavg_at_end": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
