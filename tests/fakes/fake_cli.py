"""One fake for every platform CLI: parse like the real one, record, answer from state.

Each executable on the fixture's PATH (``fly``, ``railway``, ...) is a two-line shim that
calls :func:`main` with the CLI's name. A call goes through:

1. the contract parser (``tests/contracts.py``): an unknown flag or subcommand, a bad
   value or a missing positional fails with the real CLI's message and exit code;
2. the call log (``calls.jsonl``): argv, cwd, stdin (when the command reads it), whether
   each auth/watched variable was set (never its value), then the exit code;
3. injected faults (``faults.json``): fail or stall a matching command;
4. the auth check from the contract's ``auth_env`` (and, per CLI, what else it needs);
5. the CLI's behaviour (``tests/fakes/platforms/<cli>.py``) against ``state.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for `contracts`

import contracts  # noqa: E402
from fakes import store  # noqa: E402

# Exit code when the real CLI is interrupted (fly: 127, internal/cli/cli.go; railway: 130).
INTERRUPTED_EXIT = {"fly": 127, "railway": 130}


class Exit(Exception):
    """End the command: print `stderr`, exit with `code`."""

    def __init__(self, code: int, stderr: str = ""):
        super().__init__(stderr)
        self.code = code
        self.stderr = stderr


@dataclass
class Call:
    """What a behaviour sees: the parsed invocation, its input, and ways to answer."""

    cli: str
    binary: str
    inv: contracts.Invocation
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    root: Path  # FAKE_CLI_HOME
    record: dict
    out: list[str] = field(default_factory=list)

    def print(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def json(self, data) -> None:
        self.print(json.dumps(data, indent=2))

    def answer(self, data, lines: str | list[str], as_json: bool | None = None) -> int:
        """A command's output: ``data`` as JSON under --json (or ``as_json``), else the CLI's
        text lines. Returns 0, the exit code."""
        if self.has("--json") if as_json is None else as_json:
            self.json(data)
        else:
            for line in [lines] if isinstance(lines, str) else lines:
                self.print(line)
        return 0

    def err(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def read_stdin(self) -> str:
        """Read all of stdin, as the real command does; recorded for the tests."""
        if sys.stdin is None or sys.stdin.isatty():
            raise Exit(1, "Error: stdin must be piped")
        data = sys.stdin.read()
        self.record["stdin"] = data
        return data

    def flag(self, name: str, default: str | None = None) -> str | None:
        return self.inv.value(name, default)

    def has(self, name: str) -> bool:
        return self.inv.has(name)

    def state(self):
        return store.state(self.root)

    def path(self, relative: str) -> Path:
        return (self.cwd / relative).resolve()


def main(cli: str) -> int:
    root = store.home()
    argv = sys.argv[1:]
    binary = Path(sys.argv[0]).name
    call_id = store.next_call_id(root)
    record: dict = {
        "id": call_id,
        "cli": cli,
        "binary": binary,
        "argv": argv,
        "cwd": os.getcwd(),
        "env": _env_presence(cli),
        "stdin": None,
        "time": time.time(),
        "pid": os.getpid(),
    }
    _install_signal_handlers(cli, root, call_id)
    from fakes import platforms

    behaviour = platforms.module(cli)
    try:
        # Tools without a contract (npm, node) bring their own small parser.
        inv = behaviour.parse(argv) if hasattr(behaviour, "parse") else contracts.parse(cli, argv)
    except contracts.UsageError as error:
        if error.exit_code == 0:  # --help
            print(f"Usage: {binary} ... (fake)")
            return _finish(root, record, 0)
        message = error.message
        if isinstance(error, contracts.NotInContract) or "unknown command" in message or "not a docker" in message \
                or "unrecognized subcommand" in message:
            message += "\n(fake CLI: only commands recorded in research/cli-contracts.json are modelled)"
        sys.stderr.write(message + "\n")
        record["usage_error"] = error.message
        return _finish(root, record, error.exit_code)
    record["command"] = list(inv.command)
    call = Call(cli, binary, inv, argv, Path.cwd(), dict(os.environ), root, record)
    try:
        # A tool with no login and no stdin (node, npm) leaves these two out.
        if getattr(behaviour, "reads_stdin", lambda _: False)(call):
            call.read_stdin()
        store.append_line(root, {**record, "event": "call"})
        _apply_faults(call)
        getattr(behaviour, "check_auth", lambda _: None)(call)
        handler = behaviour.HANDLERS.get(inv.command)
        if handler is None:
            raise Exit(99, f"fake {cli}: no behaviour for `{inv.name}` yet (tests/fakes/platforms/{cli}.py)")
        code = handler(call) or 0
    except Exit as stop:
        if stop.stderr:
            sys.stderr.write(stop.stderr.rstrip("\n") + "\n")
        code = stop.code
    sys.stdout.flush()
    return _finish(root, record, code, logged=True)


def _finish(root: Path, record: dict, code: int, logged: bool = False) -> int:
    if not logged:
        store.append_line(root, {**record, "event": "call"})
    store.append_line(root, {"id": record["id"], "event": "exit", "exit": code})
    return code


def _env_presence(cli: str) -> dict[str, bool]:
    """Which auth and watched variables were set: names and yes/no, never values."""
    names = set(contracts.load().get(cli, {}).get("_cli", {}).get("auth_env", []))
    names.add("CI")
    names |= {n for n in os.environ.get("FAKE_CLI_WATCH_ENV", "").split(",") if n}
    return {name: bool(os.environ.get(name)) for name in sorted(names)}


def _install_signal_handlers(cli: str, root: Path, call_id: int) -> None:
    def stop(signum, _frame):
        if os.environ.get("FAKE_CLI_IGNORE_SIGNALS"):
            return
        name = signal.Signals(signum).name
        store.append_line(root, {"id": call_id, "event": "signal", "signal": name})
        sys.stderr.write(f"{cli}: interrupted ({name})\n")
        code = INTERRUPTED_EXIT.get(cli, 130) if signum == signal.SIGINT else 128 + signum
        store.append_line(root, {"id": call_id, "event": "exit", "exit": code})
        os._exit(code)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _apply_faults(call: Call) -> None:
    """faults.json: [{"match": "fly deploy", "exit": 1, "stderr": "...", "sleep": 0, "times": null}]"""
    path = call.root / store.FAULTS
    with store.locked(call.root):
        faults = store.read_json(path, [])
        chosen = None
        for fault in faults:
            if _matches(fault["match"], call) and fault.get("times", 1) != 0:
                chosen = dict(fault)
                if fault.get("times") is not None:
                    fault["times"] -= 1
                break
        store.write_json(path, faults)
    if chosen is None:
        return
    call.record["fault"] = chosen["match"]
    if chosen.get("stdout"):
        call.print(chosen["stdout"])
    if chosen.get("echo_env"):
        _echo(call, chosen["echo_env"])
    if chosen.get("sleep"):
        if chosen.get("ignore_signals"):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        deadline = time.monotonic() + float(chosen["sleep"])
        while time.monotonic() < deadline:
            time.sleep(0.05)
    if chosen.get("exit") is not None:
        raise Exit(int(chosen["exit"]), chosen.get("stderr", ""))


def _echo(call: Call, names: list[str]) -> None:
    """Leak values the ways real CLIs do: a debug dump of the environment, a Basic auth
    header, a URL with the value in its query, a JSON error, a terminal-width wrap."""
    import base64
    from urllib.parse import quote, quote_plus

    values = [(n, call.env[n]) for n in names if call.env.get(n)]
    if call.record.get("stdin"):
        values.append(("stdin", call.record["stdin"]))
    for index, (name, value) in enumerate(values):
        write = call.print if index % 2 == 0 else call.err
        basic = base64.b64encode(f"user:{value}".encode()).decode()
        half = len(value) // 2
        write(f"debug: {name}={value}")
        write(f"debug: Authorization: Basic {basic}")
        write(f"debug: GET https://api.example.com/v1?token={quote(value, safe='')}&b={quote_plus(value)}")
        write(f"debug: {json.dumps({'error': 'rejected', 'value': value})}")
        write(f"debug: base64 {base64.b64encode(value.encode()).decode()} "
              f"{base64.urlsafe_b64encode(value.encode()).decode().rstrip('=')}")
        write(f"error: the value given for {name} is not accepted: {value[:half]}")
        write(value[half:] + " (wrapped at the terminal's width)")


def _matches(pattern: str, call: Call) -> bool:
    words = pattern.split()
    if not words or words[0] not in (call.cli, call.binary):
        return False
    return list(call.inv.command[:len(words) - 1]) == words[1:]
