"""Run a command as the terminal's foreground job, so Ctrl-C reaches it and not `make`.

`make demo` runs `streamdeploy up --target local`, which serves until Ctrl-C and then stops
cleanly (exit 0). But the terminal sends SIGINT to the whole foreground process group, make
included, and GNU make, once its child has exited, re-raises the signal on itself: `make:
*** [demo] Interrupt`, status 130, whatever the child did. A job-control shell avoids this by
giving each job its own process group and the terminal to that group; this does the same for
one command: a new process group, handed the terminal, handed back when the command ends.
Without a terminal (CI, a pipe) it just runs the command. Exit status: the command's.

    python tools/foreground.py COMMAND [ARG...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def _terminal() -> int | None:
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except OSError:
        pass
    os.close(fd)  # not our terminal's foreground (run in the background): leave it alone
    return None


def _give(fd: int, pgrp: int) -> None:
    # A process outside the foreground group that calls tcsetpgrp gets SIGTTOU: ignore it briefly.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    fd = _terminal()
    if fd is None:
        child = subprocess.Popen(argv)
        # A SIGINT sent to the whole group (a supervisor, `kill -INT -PGID`) reaches the child
        # too: it decides how to stop, and its status is ours, without a traceback from here.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        status = child.wait()
        return 128 - status if status < 0 else status
    ours = os.getpgrp()
    child = subprocess.Popen(argv, process_group=0)
    try:
        _give(fd, child.pid)
    except OSError:
        pass  # it already exited, or the terminal went away: nothing to hand over
    # Ctrl-C now goes to the child's group only; should one reach us anyway, the child decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = child.wait()
    finally:
        try:
            _give(fd, ours)
        except OSError:
            pass
        os.close(fd)
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
