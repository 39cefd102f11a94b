"""The small process the runner puts between itself and every command it starts.

The runner starts it as a script (``python -I -S supervisor.py``: no site, ~30 ms) and
it runs the command in its own process group, which it leads:

``step PARENT -- ARGV...``
    A foreground step or a probe: ARGV inherits stdin, stdout and stderr, and the
    supervisor exits as ARGV does (same code, or the same signal). Signals the runner
    sends to the group reach ARGV directly; the supervisor only waits.

``serve PARENT LOG [--with-parent] -- ARGV...``
    A background process (the local server): the secret values come first on stdin (a
    JSON list), ARGV runs with stdin closed and its output in a pipe, and every line is
    masked (``streamdeploy.secrets.Masker``, the runner's one masker) before it is
    appended to LOG: what streamdeploy writes to disk is masked like what it prints.

Both stop the whole group when PARENT (streamdeploy) dies without stopping it first --
SIGKILL, a crash, a closed terminal -- so no platform CLI is left running as an orphan:
SIGTERM, then SIGKILL after GRACE. Linux tells us at once (``PR_SET_PDEATHSIG``);
elsewhere the parent is checked twice a second. ``serve`` without ``--with-parent``
outlives PARENT on purpose (``up --detach``).

Only the standard library and ``streamdeploy.secrets`` (standard library only) are used.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE = 5.0  # seconds between SIGTERM and SIGKILL once the parent is gone
POLL = 0.5  # seconds between checks of the parent where Linux cannot signal its death
LONGEST_LINE = 64 * 1024  # a line without a newline this long is written anyway
PARENT_DEATH = signal.SIGUSR1
_PR_SET_PDEATHSIG = 1


class ParentGone(Exception):
    pass


def argv_for(mode: str, *args: str) -> list[str]:
    """How the runner starts this file: isolated from PYTHON* variables and site-packages."""
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve()), mode, str(os.getpid()), *args]


def main(argv: list[str]) -> int:
    mode, parent, rest = argv[0], int(argv[1]), argv[2:]
    split = rest.index("--")
    options, command = rest[:split], rest[split + 1:]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # not SIG_IGN, which the command would inherit: a Python handler is reset by exec
        signal.signal(sig, lambda *_: None)
    if mode == "step":
        return _step(command, _Parent(parent, interrupt=True))
    return _serve(command, Path(options[0]), _Parent(parent) if "--with-parent" in options else None)


class _Parent:
    """Watches streamdeploy, our parent: PR_SET_PDEATHSIG (Linux) signals us when it dies;
    ``gone`` also compares our parent's pid, which changes when we are orphaned."""

    def __init__(self, pid: int, interrupt: bool = False):
        self.pid = pid
        self.interrupt = interrupt  # raise ParentGone out of a blocking wait
        self.signalled = False
        signal.signal(PARENT_DEATH, self._died)
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            self.told = libc.prctl(_PR_SET_PDEATHSIG, int(PARENT_DEATH), 0, 0, 0) == 0
        except (OSError, AttributeError):
            self.told = False  # not Linux: `gone` is polled

    def _died(self, *_) -> None:
        if os.getppid() != self.pid:  # not only the thread that started us ending
            self.signalled = True
            if self.interrupt:
                raise ParentGone

    @property
    def gone(self) -> bool:
        return self.signalled or os.getppid() != self.pid


def _start(command: list[str], **kwargs) -> subprocess.Popen | int:
    try:
        return subprocess.Popen(command, **kwargs)
    except OSError as err:
        sys.stderr.write(f"streamdeploy: cannot run {command[0]}: {err.strerror}\n")
        return 127 if isinstance(err, FileNotFoundError) else 126


def _step(command: list[str], parent: _Parent) -> int:
    child = None
    try:
        if parent.gone:  # it died before we asked to be told
            raise ParentGone
        child = _start(command)
        if isinstance(child, int):
            return child
        while True:
            if parent.told:
                child.wait()  # blocks; the parent's death interrupts it
                break
            try:
                child.wait(POLL)
                break
            except subprocess.TimeoutExpired:
                if parent.gone:
                    raise ParentGone from None
    except ParentGone:
        return _stop_group(child if isinstance(child, subprocess.Popen) else None)
    return _exit_like(child.returncode)


def _serve(command: list[str], log: Path, parent: _Parent | None) -> int:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    from streamdeploy.secrets import Masker

    lines = Masker(json.loads(sys.stdin.buffer.read().decode("utf-8") or "[]")).lines()
    read_end, write_end = os.pipe()
    child = _start(command, stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end)
    os.close(write_end)
    if isinstance(child, int):
        return child
    pending = b""
    kill_at: float | None = None  # once the parent is gone: when SIGKILL follows the SIGTERM
    with open(log, "ab") as out:

        def write(texts: list[str]) -> None:
            if texts:
                out.write("".join(t + "\n" for t in texts).encode("utf-8", "replace"))
                out.flush()

        while True:
            ready, _, _ = select.select([read_end], [], [], POLL)
            if parent is not None and kill_at is None and parent.gone:
                _signal_group(signal.SIGTERM)
                kill_at = time.monotonic() + GRACE
            if kill_at is not None and time.monotonic() > kill_at:
                write(lines.close())
                _signal_group(signal.SIGKILL)  # us too
            if not ready:
                write(lines.flush())  # a pause: no line waits in here for the next one
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > LONGEST_LINE:
                complete, pending = [*complete, pending], b""
            write([masked for raw in complete
                   for masked in lines.feed(raw.decode("utf-8", "replace").rstrip("\r"))])
        if pending:
            write(lines.feed(pending.decode("utf-8", "replace")))
        write(lines.close())
    os.close(read_end)
    if kill_at is not None:
        _signal_group(signal.SIGKILL)
    return _exit_like(child.wait())


def _stop_group(child: subprocess.Popen | None) -> int:
    """The parent is gone: SIGTERM the group, give it GRACE, then SIGKILL it (and us)."""
    _signal_group(signal.SIGTERM)
    if child is not None:
        try:
            child.wait(GRACE)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(signal.SIGKILL)
    return 1


def _signal_group(sig: int) -> None:
    try:
        os.killpg(os.getpgrp(), sig)
    except OSError:
        pass


def _exit_like(code: int) -> int:
    """Our exit status is the command's: its code, or death by the same signal."""
    if code >= 0:
        return code
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    return 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
