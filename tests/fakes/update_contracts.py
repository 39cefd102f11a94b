"""Refresh tests/fakes/contracts.json from ../shared/research/cli-contracts.json.

The fakes and ``tests/contracts.py`` parse argv the way each real CLI does, driven by
that research. Tests must also run where ../shared is absent, so they read this trimmed
copy: parser facts only (flags, positionals, aliases, auth env vars, exit codes), no prose.
``tests/fakes/test_fakes.py`` fails when the copy is stale.

    .venv/bin/python tests/fakes/update_contracts.py [--docker-cli CHECKOUT]

``contracts_extra.json`` adds commands the research does not record but plans use: docker's
(network create/inspect, container inspect, stop, rm, push), read from the options tables of
docker/cli ``docs/reference/commandline/*.md`` (``--docker-cli`` regenerates them from a
checkout of docker/cli), and kubectl's ``get``, read from kubernetes/kubectl
``pkg/cmd/get/get.go`` (its source is recorded in the entry).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = Path(os.environ.get("STREAMDEPLOY_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "research" / "cli-contracts.json"
COPY = HERE / "contracts.json"
EXTRA = HERE / "contracts_extra.json"
DOCKER_CLI_COMMIT = "28f756087eea5fa301f3fbf12b01ae62f91521c2"
# command path -> (reference page, positionals as docker/cli's Args validators state them)
DOCKER_EXTRA = {
    "network create": ("network_create.md", [{"name": "NETWORK", "required": True, "variadic": False}]),
    "network inspect": ("network_inspect.md", [{"name": "NETWORK", "required": True, "variadic": True}]),
    "container inspect": ("container_inspect.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "stop": ("container_stop.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "rm": ("container_rm.md", [{"name": "CONTAINER", "required": True, "variadic": True}]),
    "push": ("image_push.md", [{"name": "NAME[:TAG]", "required": True, "variadic": False}]),
}

# What the parsers need; everything else (notes, outputs, sources) stays in ../shared.
CLI_KEYS = ("binary", "parser", "global_flags", "root_only_flags", "auth_env", "exit_codes", "unknown_flag",
            "version_cmd", "logged_in_check")
COMMAND_KEYS = ("flags", "positional", "aliases", "subcommands", "source")
FLAG_KEYS = ("short", "takes_value", "type", "enum", "aliases", "alias_of", "optional_value", "no_opt_default",
             "repeatable", "requires", "nargs", "global", "persistent", "hidden", "deprecated", "format", "default")


def _flags(flags: dict) -> dict:
    return {name: {k: spec[k] for k in FLAG_KEYS if k in spec} for name, spec in flags.items()}


def trim(contracts: dict) -> dict:
    out: dict = {"_meta": {"from": "research/cli-contracts.json", "generated": contracts["_meta"]["generated"],
                           "versions": contracts["_meta"]["versions"]}}
    for cli, commands in contracts.items():
        if cli == "_meta":
            continue
        cli_out: dict = {}
        for path, entry in commands.items():
            if path == "_cli":
                cli_out["_cli"] = {k: entry[k] for k in CLI_KEYS if k in entry}
                for key in ("global_flags", "root_only_flags"):
                    if key in cli_out["_cli"]:
                        cli_out["_cli"][key] = _flags(cli_out["_cli"][key])
                continue
            trimmed = {k: entry[k] for k in COMMAND_KEYS if k in entry}
            trimmed["flags"] = _flags(entry.get("flags", {}))
            cli_out[path] = trimmed
        out[cli] = cli_out
    return out


def render(contracts: dict) -> str:
    return json.dumps(trim(contracts), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def docker_options(markdown: str) -> dict:
    """The `### Options` table of a docker/cli reference page -> our flag entries."""
    flags: dict = {}
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("### Options"):
            in_table = True
            continue
        if in_table and line.startswith("#"):
            break
        if not (in_table and line.startswith("| ") and "`-" in line):
            continue
        name_cell, type_cell, default_cell = [c.strip() for c in line.strip("|").split("|")[:3]]
        names = re.findall(r"`(-{1,2}[A-Za-z0-9-]+)`", name_cell)
        long = next(n for n in names if n.startswith("--"))
        short = next((n for n in names if not n.startswith("--")), None)
        kind = type_cell.strip("`")
        entry = {"short": short, "takes_value": kind != "bool", "type": kind}
        if default_cell.strip("`"):
            entry["default"] = default_cell.strip("`")
        if kind in ("list", "stringSlice", "stringArray", "map", "ipSlice", "ipNetSlice"):
            entry["repeatable"] = True
        flags[long] = entry
    return flags


def docker_supplement(checkout: Path) -> dict:
    import subprocess

    out: dict = {}
    for path, (page, positional) in DOCKER_EXTRA.items():
        text = subprocess.run(["git", "show", f"{DOCKER_CLI_COMMIT}:docs/reference/commandline/{page}"],
                              cwd=checkout, capture_output=True, text=True, check=True).stdout
        aliases = []
        match = re.search(r"### Aliases\s+(.+)", text)
        if match:
            aliases = [a[len("docker "):] for a in re.findall(r"`([^`]+)`", match.group(1))]
        out[path] = {"flags": docker_options(text), "positional": positional,
                     "aliases": [a for a in aliases if a != path],
                     "source": f"docker/cli:docs/reference/commandline/{page}@{DOCKER_CLI_COMMIT}"}
    return {"docker": out}


def main() -> int:
    if "--docker-cli" in sys.argv:
        checkout = Path(sys.argv[sys.argv.index("--docker-cli") + 1])
        # Only docker's part is generated; other CLIs' entries (kubectl get) are kept as read.
        kept = json.loads(EXTRA.read_text(encoding="utf-8")) if EXTRA.is_file() else {}
        text = json.dumps({**kept, **docker_supplement(checkout)}, indent=1, sort_keys=True) + "\n"
        EXTRA.write_text(text, encoding="utf-8")
        print(f"wrote {EXTRA.relative_to(REPO)}")
    if not SOURCE.is_file():
        print(f"{SOURCE} not found; set STREAMDEPLOY_SHARED to the shared research folder", file=sys.stderr)
        return 2
    text = render(json.loads(SOURCE.read_text(encoding="utf-8")))
    COPY.write_text(text, encoding="utf-8")
    print(f"wrote {COPY.relative_to(REPO)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
