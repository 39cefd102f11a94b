"""The flags of the everyday commands, parsed without importing typer.

typer 0.29 imports pydantic to build a converter per parameter before a command runs
(benchmarks/cli.md): `validate` paid for it on every start. For the commands below, a
command line made only of the flags they declare is parsed here from a table; anything
else (``--help``, an unknown or repeated flag, ``--flag=value``, a missing value, an
argument, shell completion, Windows) returns None, and typer handles it with its own messages.

``COMMANDS`` mirrors the typer definitions in ``streamdeploy/cli.py``:
tests/test_quickflags.py checks every flag, default and call against them, so the two
cannot disagree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from streamdeploy.records import factory, record


@record(frozen=True)
class Command:
    """What the typer command does with its flags: ``call`` = "module:function", passed
    the parameters named in ``positional`` then ``keywords`` (argument -> parameter)."""

    call: str
    options: dict[str, str]  # every spelling of a flag -> its parameter
    defaults: dict[str, Any]
    switches: frozenset[str] = frozenset()  # parameters that take no value
    paths: frozenset[str] = frozenset()  # parameters whose value is a Path
    positional: tuple[str, ...] = ()
    keywords: dict[str, str] = factory(dict)


_FILE = {"--file": "file", "-f": "file"}
_JSON = {"--json": "as_json"}
_TARGET = {"--target": "target", "-t": "target"}

COMMANDS: dict[str, Command] = {
    "validate": Command("streamdeploy.commands.validate:run", {**_FILE, **_JSON},
                        {"file": None, "as_json": False}, frozenset({"as_json"}), frozenset({"file"}),
                        ("file",), {"as_json": "as_json"}),
    "schema": Command("streamdeploy.commands.validate:print_schema", dict(_JSON), {"as_json": False},
                      frozenset({"as_json"})),
    "check": Command("streamdeploy.commands.check:run", {**_FILE, **_TARGET, **_JSON},
                     {"file": None, "target": "all", "as_json": False}, frozenset({"as_json"}),
                     frozenset({"file"}), ("file",), {"target": "target", "as_json": "as_json"}),
    "compare": Command("streamdeploy.commands.compare:run", {**_FILE, **_JSON},
                       {"file": None, "as_json": False}, frozenset({"as_json"}), frozenset({"file"}),
                       ("file",), {"as_json": "as_json"}),
    "render": Command(
        "streamdeploy.commands.render:run",
        {**_FILE, **_TARGET, "--out": "out", "-o": "out", "--stdout": "stdout", "--check": "check_only",
         "--force": "force", **_JSON},
        {"file": None, "target": "all", "out": None, "stdout": False, "check_only": False, "force": False,
         "as_json": False},
        frozenset({"stdout", "check_only", "force", "as_json"}), frozenset({"file", "out"}), ("file",),
        {"target": "target", "out": "out", "to_stdout": "stdout", "check_only": "check_only", "force": "force",
         "as_json": "as_json"}),
    "plan": Command("streamdeploy.commands.up:show_plan", {**_FILE, **_TARGET, **_JSON},
                    {"file": None, "target": "local", "as_json": False}, frozenset({"as_json"}),
                    frozenset({"file"}), ("file",), {"target": "target", "as_json": "as_json"}),
    "version": Command("streamdeploy.commands.version:run", dict(_JSON), {"as_json": False},
                       frozenset({"as_json"}), keywords={"as_json": "as_json"}),
}


@record(frozen=True)
class Invocation:
    command: Command
    values: dict[str, Any]

    def __call__(self) -> int:
        from importlib import import_module

        module, _, function = self.command.call.partition(":")
        target = getattr(import_module(module), function)
        args = [self.values[p] for p in self.command.positional]
        return target(*args, **{k: self.values[p] for k, p in self.command.keywords.items()})


def parse(argv: list[str]) -> Invocation | None:
    """The call these arguments mean, or None when typer should parse them."""
    command = COMMANDS.get(argv[0]) if argv else None
    # On Windows click expands globs and ~ in the arguments itself: typer's job there.
    if command is None or _completing() or os.name == "nt":
        return None
    values = dict(command.defaults)
    seen: set[str] = set()
    words = iter(argv[1:])
    for word in words:
        parameter = command.options.get(word)
        if parameter is None or parameter in seen:
            return None
        seen.add(parameter)
        if parameter in command.switches:
            values[parameter] = True
            continue
        value = next(words, None)
        # A value that looks like a flag, or is empty, is left to click's own rules.
        if not value or value.startswith("-"):
            return None
        values[parameter] = Path(value) if parameter in command.paths else value
    return Invocation(command, values)


def _completing() -> bool:
    """click's shell completion sets _<PROG>_COMPLETE; typer answers it."""
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)
