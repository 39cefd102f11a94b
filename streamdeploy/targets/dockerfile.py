"""The generated Dockerfile and entrypoint as text, built without a template engine.

Importing jinja2 and compiling templates/Dockerfile.j2 cost ~20 ms on every `render`
(benchmarks/cli.md). The template stays the readable form of this file, and
tests/targets/test_dockerfile_text.py proves that :func:`text` returns exactly what the
template renders, byte for byte, over every combination of its inputs: change both.

The arguments are the template's variables; ``deps`` is the dict ``docker._deps`` makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEMPLATE = "Dockerfile.j2"  # in templates/, the readable form of text()
ENTRYPOINT_TEMPLATE = "entrypoint.sh.j2"
ENV_SEPARATOR = " \\\n    "  # one variable per line, continued with a backslash


def text(*, python: str, base_image: str, pipefail: bool, env: list[str], system_packages: list[str], uid: int,
         gid: int, mounts: list[str], owned_dirs: list[str], entrypoint: bool, entrypoint_copy: str,
         entrypoint_argv: str, deps: dict[str, Any], build_steps: list[str], port: int | None,
         healthcheck: str | None, cmd_argv: str) -> str:
    out = [
        f"# Pinned by tag: Python {python} on Debian bookworm. A digest pin needs a registry lookup,\n"
        "# which rendering does not do (it works offline); for byte-identical rebuilds append\n"
        f"# @sha256:<digest> from `docker buildx imagetools inspect {base_image}`.\n"
        f"FROM {base_image}\n"
    ]
    if pipefail:
        out.append("\n# A build step pipes: fail the step when any part of the pipe fails, not only the last.\n"
                   'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n')
    out.append(
        "\n# Settings of the image itself. The service's own settings come from the platform\n"
        "# (fly.toml [env], docker run -e, ...): one image then runs everywhere, a changed value\n"
        "# needs no rebuild, and no value is ever baked into a layer.\n"
        f"ENV {_join(env, ENV_SEPARATOR)}\n"
    )
    if system_packages:
        out.append(
            "\n# DL3008: Debian's security updates replace the exact versions a pin would name, so a\n"
            "# pinned install breaks within weeks; the base image tag pins the Debian release.\n"
            "# hadolint ignore=DL3008\n"
            "RUN apt-get update \\\n"
            f" && apt-get install -y --no-install-recommends {_join(system_packages, ' ')} \\\n"
            " && rm -rf /var/lib/apt/lists/*\n"
        )
    owns = (", and the directories it owns (the volume\n# mount points: a fresh Docker volume copies their owner)"
            if mounts else "")
    out.append(
        f"\n# The unprivileged user the server runs as{owns}. A regular account, not\n"
        "# --system: system ids end at 999, and useradd warns about 10001 on every build.\n"
        f"RUN groupadd --gid {gid} app \\\n"
        f" && useradd --no-log-init --uid {uid} --gid app --create-home --home-dir /home/app "
        "--shell /usr/sbin/nologin app \\\n"
        f" && install -d -o app -g app {_join(owned_dirs, ' ')}\n"
        "WORKDIR /app\n\n"
    )
    kind = deps["kind"]
    if kind == "requirements":
        out.append(
            f"# Dependencies before the source: this layer is rebuilt only when {deps['file']} changes.\n"
            f"{deps['copy_line']}\n"
            f"RUN pip install --no-cache-dir -r {deps['file_arg']}\n"
        )
    elif kind == "pyproject":
        out.append(
            f"# Dependencies before the source: this layer is rebuilt only when {deps['file']} changes.\n"
            "# It installs what [project] dependencies lists; the project's code is copied next.\n"
            f"{deps['copy_line']}\n"
            "RUN python -c \"import sys, tomllib; print('\\n'.join(tomllib.load(open(sys.argv[1], 'rb'))"
            ".get('project', {}).get('dependencies', [])))\" "
            f"{deps['file_arg']} > /tmp/requirements.txt \\\n"
            " && pip install --no-cache-dir -r /tmp/requirements.txt \\\n"
            " && rm /tmp/requirements.txt\n"
        )
    out.append("\n")
    if entrypoint:
        out.append(
            "# After the dependencies, so one dependency layer serves services with and without volumes.\n"
            "# No mode flag on COPY (the legacy builder has none): ENTRYPOINT runs it with sh, so its mode "
            "never matters.\n"
            f"{entrypoint_copy}\n\n"
        )
    out.append("# The source, owned by the app user so build steps can write next to it.\n"
               f"COPY --chown={uid}:{gid} . .\n")
    if kind == "pyproject-late":
        out.append(f"# Python {python} has no tomllib to read {deps['file']} early, so dependencies install "
                   "with the project.\n"
                   f"RUN pip install --no-cache-dir {deps['dir_arg']}\n")
    if build_steps:
        out.append(
            "\n# Build steps from the description, as the app user: what they cache under $HOME or /app\n"
            "# stays readable at run time. One layer each, so a failing step is easy to find (DL3059).\n"
            f"USER {uid}:{gid}\n"
        )
        for i, step in enumerate(build_steps):
            out.append(f"# hadolint ignore=DL3059\n{step}\n" if i else f"{step}\n")
    if entrypoint:
        out.append(
            f"\n# Root only until the entrypoint has handed the volume mount to uid {uid} (Railway, Fly\n"
            "# and Render mount volumes owned by root); it then drops to that user with setpriv before\n"
            "# the server starts, so the server never runs as root.\n"
        )
        if build_steps:
            out.append("# hadolint ignore=DL3002\nUSER 0:0\n")
    elif not build_steps:
        out.append(f"\nUSER {uid}:{gid}\n")
    if port:
        out.append(f"EXPOSE {port}\n")
    if healthcheck:
        out.append(f"{healthcheck}\n")
    if entrypoint:
        out.append(f"ENTRYPOINT {entrypoint_argv}\n")
    out.append("# `sh -c` expands $PORT; `exec` makes the server PID 1, so it gets SIGTERM and drains.\n"
               f"CMD {cmd_argv}\n")
    return "".join(out)


def _join(items: list[Any], separator: str) -> str:
    """jinja2's ``join`` filter: each item as text."""
    return separator.join(str(item) for item in items)


def entrypoint(*, uid: int, gid: int) -> str:
    """templates/entrypoint.sh.j2 with its only two variables filled in (the test checks
    it has no others, and that this is what jinja2 renders)."""
    # Beside the package's templates/__init__.py: importlib.resources would add ~20 ms to `render`.
    import streamdeploy.templates as templates

    source = Path(templates.__file__).with_name(ENTRYPOINT_TEMPLATE).read_text(encoding="utf-8")
    return source.replace("{{ uid }}", str(uid)).replace("{{ gid }}", str(gid))
