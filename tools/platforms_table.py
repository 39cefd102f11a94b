"""Writes streamdeploy/platforms_table.py: streamdeploy/platforms.toml as a Python literal.

platforms.toml stays the one place the platforms' facts are written and reviewed. Reading
it at run time (tomllib and 47 KB of TOML) was ~8% of `render --target all`; the literal
is compiled once, at install, like the rest of the package.
`tests/test_platforms_table.py` fails when the written table is not what this produces.

    .venv/bin/python tools/platforms_table.py          # rewrite the table
    .venv/bin/python tools/platforms_table.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import pprint
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "streamdeploy"
SOURCE = PACKAGE / "platforms.toml"
TABLE = PACKAGE / "platforms_table.py"
HEADER = '''"""streamdeploy/platforms.toml as data, read by capabilities without a TOML parser.

Generated from platforms.toml by tools/platforms_table.py; do not edit.
"""

import datetime

'''


def generate() -> str:
    data = tomllib.loads(SOURCE.read_text(encoding="utf-8"))
    return HEADER + "DATA = " + pprint.pformat(data, width=110, sort_dicts=False) + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not TABLE.is_file() or TABLE.read_text(encoding="utf-8") != text:
            print(f"{TABLE} is stale: run tools/platforms_table.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
