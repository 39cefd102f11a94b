"""fake `node`: its version, and the one program the Railway CLI runs with it.

`railway config plan|apply` evaluates .railway/railway.ts with ``node
--experimental-strip-types --disable-warning=ExperimentalWarning --input-type=module -e
<script> -- FILE`` and the environment it was given (railwayapp/cli src/iac/eval.rs). Node
older than 22.6 does not know the first flag and exits 9 with "bad option". The version is
v22.18.0 unless a test seeds another: ``fake_clis.seed("node", {"version": "v18.20.4"})``.
The evaluation itself is ``fakes.railway_iac``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from contracts import Invocation, UsageError
from fakes import railway_iac
from fakes.fake_cli import Call, Exit

DEFAULT_VERSION = "v22.18.0"
STRIP_TYPES = (22, 6)  # the first release with --experimental-strip-types
KNOWN = {"--experimental-strip-types", "--input-type=module", "--disable-warning=ExperimentalWarning"}


def parse(argv: list[str]) -> Invocation:
    if argv in (["--version"], ["-v"]):
        return Invocation("node", (), {"--version": ["true"]}, [])
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "-e" and i + 1 < len(argv):
            flags["-e"] = [argv[i + 1]]
            i += 2
            continue
        if argv[i] not in KNOWN:
            raise UsageError(f"fake node: only `node --version` and the Railway CLI's IaC evaluation are modelled "
                             f"(got {argv[i]})", 9)
        flags[argv[i]] = ["true"]
        i += 1
    if "-e" not in flags:
        raise UsageError("fake node: only `node -e SCRIPT -- FILE` is modelled", 9)
    return Invocation("node", ("-e",), flags, argv[i + 1:])


def _version(call: Call) -> str:
    with call.state() as state:
        return state.get("node", {}).get("version", DEFAULT_VERSION)


def version(call: Call) -> int:
    call.print(_version(call))
    return 0


def evaluate(call: Call) -> int:
    shown = _version(call)
    numbers = tuple(int(n) for n in re.findall(r"\d+", shown)[:2])
    if call.has("--experimental-strip-types") and numbers < STRIP_TYPES:
        raise Exit(9, f"{Path(sys.argv[0]).name}: bad option: --experimental-strip-types")
    if not call.inv.positionals:
        raise Exit(1, "fake node: no file to evaluate")
    script = call.flag("-e") or ""
    native = call.has("--experimental-strip-types") and call.has("--input-type=module") and \
        all(marker in script for marker in railway_iac.NATIVE_MARKERS)
    try:
        result = railway_iac.evaluate(Path(call.inv.positionals[0]), call.env, native)
    except railway_iac.EvalError as error:
        raise Exit(1, f"{error}\n\nNode.js {shown}")
    sys.stdout.write(json.dumps(result))
    return 0


HANDLERS = {(): version, ("-e",): evaluate}
