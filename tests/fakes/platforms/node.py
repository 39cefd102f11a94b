"""fake `node`: present and able to say its version (the Railway IaC plan lists it as a tool)."""

from __future__ import annotations

from contracts import Invocation, UsageError
from fakes.fake_cli import Call


def parse(argv: list[str]) -> Invocation:
    if argv in (["--version"], ["-v"]):
        return Invocation("node", (), {"--version": ["true"]}, [])
    raise UsageError("fake node: only `node --version` is modelled", 9)


def version(call: Call) -> int:
    call.print("v22.18.0")
    return 0


HANDLERS = {(): version}
