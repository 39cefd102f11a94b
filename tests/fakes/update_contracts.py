"""Refresh tests/fakes/contracts.json from ../shared/research/cli-contracts.json.

The fakes and ``tests/contracts.py`` parse argv the way each real CLI does, driven by
that research. Tests must also run where ../shared is absent, so they read this trimmed
copy: parser facts only (flags, positionals, aliases, auth env vars, exit codes), no prose.
``tests/fakes/test_contracts_copy.py`` fails when the copy is stale.

    .venv/bin/python tests/fakes/update_contracts.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = Path(os.environ.get("STREAMDEPLOY_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "research" / "cli-contracts.json"
COPY = HERE / "contracts.json"

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


def main() -> int:
    if not SOURCE.is_file():
        print(f"{SOURCE} not found; set STREAMDEPLOY_SHARED to the shared research folder", file=sys.stderr)
        return 2
    text = render(json.loads(SOURCE.read_text(encoding="utf-8")))
    COPY.write_text(text, encoding="utf-8")
    print(f"wrote {COPY.relative_to(REPO)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
