"""`make demo` stopped with Ctrl-C exits 0: make must not die of the terminal's SIGINT.

Real make in a real pseudo-terminal: the test is the session leader's terminal, types
Ctrl-C (the line discipline sends SIGINT to the foreground process group) and reads make's
exit status. The same recipe without tools/foreground.py shows what it prevents.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

SERVER = ("import signal, sys, time\n"
          "signal.signal(signal.SIGINT, lambda *_: (print('stopped cleanly', flush=True), sys.exit(0)))\n"
          "print('serving', flush=True)\n"
          "time.sleep(60)\n")


def ctrl_c_under_make(tmp_path: Path, wrapped: bool) -> tuple[int, str]:
    server = tmp_path / "server.py"
    server.write_text(SERVER)
    command = f"{sys.executable} {server}"
    if wrapped:
        command = f"{sys.executable} {REPO / 'tools' / 'foreground.py'} {command}"
    (tmp_path / "Makefile").write_text(f"demo:\n\t@{command}\n")
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader with the pty as its terminal, as a login shell is
        os.execvp("make", ["make", "--no-print-directory", "-C", str(tmp_path), "demo"])
    output = b""
    deadline = time.monotonic() + 30
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and b"serving" in output:
            os.write(master, b"\x03")
            sent = True
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, 9)
        pytest.fail(f"make did not end: {output!r}")
    if not done:
        _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_ctrl_c_stops_the_served_command_and_make_exits_0(tmp_path):
    code, output = ctrl_c_under_make(tmp_path, wrapped=True)
    assert "stopped cleanly" in output
    assert code == 0, output
    assert "Interrupt" not in output


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_without_it_make_dies_of_the_signal(tmp_path):
    code, output = ctrl_c_under_make(tmp_path, wrapped=False)
    assert "stopped cleanly" in output  # the command itself stopped cleanly...
    assert code != 0  # ...and make still failed: what the wrapper prevents


def test_without_a_terminal_it_just_runs_the_command(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, str(REPO / "tools" / "foreground.py"), sys.executable, "-c",
                             "import sys; print('hi'); sys.exit(3)"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    assert result.returncode == 3 and result.stdout == "hi\n"


def test_without_a_terminal_a_sigint_to_the_group_leaves_the_stop_to_the_command(tmp_path):
    import signal
    import subprocess

    server = tmp_path / "server.py"
    server.write_text(SERVER)
    wrapper = subprocess.Popen([sys.executable, str(REPO / "tools" / "foreground.py"), sys.executable, str(server)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    assert wrapper.stdout.readline() == "serving\n"
    os.killpg(wrapper.pid, signal.SIGINT)  # the wrapper and the command, as a group signal does
    out, err = wrapper.communicate(timeout=30)
    assert wrapper.returncode == 0 and "stopped cleanly" in out
    assert "Traceback" not in err, err


def test_the_makefile_runs_the_demo_through_it():
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "tools/foreground.py" in recipe and "up --target local" in recipe
