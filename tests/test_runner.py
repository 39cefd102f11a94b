"""The runner: real subprocesses, streamed and masked output, timeouts, Ctrl-C, probes,
secrets on stdin, pipes, background processes and the dry-run view."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streamdeploy import runner
from streamdeploy.runner import Runner
from streamdeploy.secrets import parse_fly_dotenv
from streamdeploy.targets.base import Note, Plan, Probe, Stdin, Step

PY = sys.executable
REPO = Path(__file__).resolve().parents[1]


def py(code: str, description: str = "a step", **kwargs) -> Step:
    return Step(argv=(PY, "-c", textwrap.dedent(code)), description=description, **kwargs)


def plan_of(*steps: Step, target: str = "test", **kwargs) -> Plan:
    return Plan(target=target, steps=steps, **kwargs)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


# --- running and streaming ----------------------------------------------------------------


def test_steps_run_in_order_and_their_output_is_streamed(tmp_path, capsys):
    result = Runner(tmp_path, "test", mode="stream").run(plan_of(
        py("print('hello from one')", "Step one"),
        py("import sys; print('to stderr', file=sys.stderr)", "Step two"),
    ))
    assert result.ok and result.exit_code == 0
    assert [r.status for r in result.results] == ["ok", "ok"]
    err = capsys.readouterr().err
    assert "[1/2] Step one" in err and "│ hello from one" in err
    assert "[2/2] Step two" in err and "│ to stderr" in err
    assert err.index("hello from one") < err.index("to stderr")


def test_a_failed_step_stops_the_run_shows_the_tail_and_the_hint(tmp_path, capsys):
    marker = tmp_path / "third-ran"
    result = Runner(tmp_path, "test", mode="quiet").run(plan_of(
        py("print('ok')", "First"),
        py("""
            import sys
            for i in range(30):
                print(f'line {i}')
            print('Error: the deploy failed', file=sys.stderr)
            sys.exit(3)
            """, "Deploying", hint="look at `fly logs`"),
        py(f"open({str(marker)!r}, 'w')", "Never"),
    ))
    assert not result.ok and result.exit_code == 1
    failed = result.failed
    assert failed.index == 2 and failed.exit_code == 3 and failed.status == "failed"
    assert len(failed.tail) == runner.TAIL_LINES and failed.tail[-1] == "Error: the deploy failed"
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "✗ [2/3] Deploying" in err and "exited with 3" in err
    assert "last 20 lines" in err and "line 29" in err and "line 9\n" not in err
    assert "next: look at `fly logs`" in err


def test_streamed_failure_is_not_repeated_but_keeps_the_hint(tmp_path, capsys):
    Runner(tmp_path, "test", mode="stream").run(plan_of(
        py("import sys; print('Error: boom'); sys.exit(1)", "Boom", hint="try again"),
    ))
    err = capsys.readouterr().err
    assert err.count("│ Error: boom") == 1 and "lines of its output" not in err and "next: try again" in err


def test_a_missing_program_fails_the_step_clearly(tmp_path, capsys):
    result = Runner(tmp_path, "test", mode="quiet").run(plan_of(
        Step(argv=("definitely-not-a-command-xyz", "--version"), description="Missing")))
    assert result.failed.status == "failed"
    assert "`definitely-not-a-command-xyz` is not installed" in result.failed.message


def test_cwd_is_relative_to_the_description_and_env_is_added(tmp_path):
    (tmp_path / "sub").mkdir()
    out = tmp_path / "seen.json"
    Runner(tmp_path, "test", mode="quiet", env={"PATH": os.environ["PATH"], "KEEP": "1"}).run(plan_of(
        py(f"""
            import json, os
            json.dump({{"cwd": os.getcwd(), "plain": os.environ.get("PLAIN"), "keep": os.environ.get("KEEP")}},
                      open({str(out)!r}, "w"))
            """, "Env", cwd="sub", env=(("PLAIN", "a b'c"),)),
    ))
    assert json.loads(out.read_text()) == {"cwd": str(tmp_path / "sub"), "plain": "a b'c", "keep": "1"}


# --- secrets ---------------------------------------------------------------------------------

SECRETS = {"OPENAI_API_KEY": "sk-TOPSECRET-0001", "API_KEY": 'pa"ss # word',
           "PEM": "-----BEGIN KEY-----\nline2-of-the-key\n-----END KEY-----"}


def test_secrets_go_on_stdin_in_each_format(tmp_path):
    def capture_stdin(name: str, fmt: str, names: tuple[str, ...]) -> Step:
        return py(f"import sys; open({str(tmp_path / name)!r}, 'w').write(sys.stdin.read())", f"Reads {fmt}",
                  stdin=Stdin(names, fmt))

    result = Runner(tmp_path, "test", SECRETS, mode="quiet").run(plan_of(
        capture_stdin("dotenv", "dotenv", ("OPENAI_API_KEY", "API_KEY")),
        capture_stdin("value", "value", ("API_KEY",)),
        capture_stdin("envfile", "envfile", ("OPENAI_API_KEY",)),
    ))
    assert result.ok
    assert parse_fly_dotenv((tmp_path / "dotenv").read_text()) == {k: SECRETS[k] for k in ("OPENAI_API_KEY",
                                                                                              "API_KEY")}
    assert (tmp_path / "value").read_text() == SECRETS["API_KEY"]
    assert (tmp_path / "envfile").read_text() == "OPENAI_API_KEY=sk-TOPSECRET-0001\n"


def test_steps_without_stdin_get_an_empty_closed_stdin(tmp_path):
    result = Runner(tmp_path, "test", mode="quiet").run(plan_of(
        py("import sys; assert sys.stdin.read() == ''", "Prompt would get EOF")))
    assert result.ok


def test_pass_secrets_reach_the_child_environment_by_name_only(tmp_path):
    out = tmp_path / "env.json"
    step = py(f"import json, os; json.dump({{'k': os.environ.get('OPENAI_API_KEY')}}, open({str(out)!r}, 'w'))",
              "Env secret", pass_secrets=("OPENAI_API_KEY",))
    assert Runner(tmp_path, "test", SECRETS, mode="quiet").run(plan_of(step)).ok
    assert json.loads(out.read_text()) == {"k": SECRETS["OPENAI_API_KEY"]}
    assert all(SECRETS["OPENAI_API_KEY"] not in arg for arg in step.argv)


def test_secret_values_are_masked_in_streamed_output_and_tails(tmp_path, capsys):
    code = """
        import json, os, sys
        print('key is', os.environ['OPENAI_API_KEY'])
        print(json.dumps({'pw': os.environ['API_KEY']}))
        print(os.environ['PEM'])
        sys.exit(1)
        """
    result = Runner(tmp_path, "test", SECRETS, mode="stream").run(plan_of(
        py(code, "Leaky", pass_secrets=("OPENAI_API_KEY", "API_KEY", "PEM"))))
    err = capsys.readouterr().err
    assert SECRETS["OPENAI_API_KEY"] not in err and "key is ***" in err
    assert 'pa\\"ss' not in err and '{"pw": "***"}' in err
    assert "line2-of-the-key" not in err and "BEGIN KEY" not in err
    assert all(SECRETS["OPENAI_API_KEY"] not in line for line in result.failed.tail)



def test_platform_tokens_a_cli_prints_back_are_masked_too(tmp_path, capsys):
    # The CLIs read FLY_API_TOKEN etc. from their environment; an error that quotes one
    # must not put it in the output or in the failed step's tail (`up --json`).
    env = {"PATH": os.environ["PATH"], "FLY_API_TOKEN": "FlyV1 fm2_tok-ABCDEF123", "KUBECONFIG": "/tmp/kc"}
    code = "import os, sys; print('Error: token', os.environ['FLY_API_TOKEN'], 'rejected'); sys.exit(1)"
    result = Runner(tmp_path, "test", mode="stream", env=env).run(plan_of(py(code)))
    err = capsys.readouterr().err
    assert "fm2_tok-ABCDEF123" not in err and "Error: token *** rejected" in err
    assert result.failed.tail == ["Error: token *** rejected"]

def test_a_step_naming_an_unresolved_secret_is_a_bug_not_a_silent_empty_value(tmp_path):
    with pytest.raises(KeyError):
        Runner(tmp_path, "test", {}, mode="quiet").run(plan_of(py("pass", pass_secrets=("NOPE",))))


def test_optional_secrets_reach_the_child_when_set_and_are_left_out_when_not(tmp_path):
    out = tmp_path / "env.json"
    step = py(f"import json, os; json.dump({{k: os.environ.get(k) for k in ('API_KEY', 'UNSET_ONE')}}, "
              f"open({str(out)!r}, 'w'))", "Starting", pass_if_set=("API_KEY", "UNSET_ONE"))
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "UNSET_ONE")}
    assert Runner(tmp_path, "test", {"API_KEY": SECRETS["API_KEY"]}, mode="quiet", env=env).run(plan_of(step)).ok
    assert json.loads(out.read_text()) == {"API_KEY": SECRETS["API_KEY"], "UNSET_ONE": None}


# --- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("probe,skipped", [
    (Probe((PY, "-c", "pass"), "exit0"), True),
    (Probe((PY, "-c", "raise SystemExit(1)"), "exit0"), False),
    (Probe((PY, "-c", "raise SystemExit(1)"), "fails"), True),
    (Probe((PY, "-c", "pass"), "fails"), False),
    (Probe((PY, "-c", "print('{\"name\": \"chroma_data\"}')"), "contains", '"chroma_data"'), True),
    (Probe((PY, "-c", "print('[]')"), "contains", '"chroma_data"'), False),
    (Probe(("no-such-probe-command",), "fails"), False),  # cannot tell: run the step
])
def test_probes_decide_whether_a_step_runs(tmp_path, capsys, probe, skipped):
    marker = tmp_path / "ran"
    result = Runner(tmp_path, "test", mode="stream").run(plan_of(
        py(f"open({str(marker)!r}, 'w')", "Creating volume", skip_if=probe)))
    assert result.ok
    assert marker.exists() is not skipped
    assert result.results[0].status == ("skipped" if skipped else "ok")
    if skipped:
        why = "not needed" if probe.skip_when == "fails" else "already exists"
        assert f"— {why}, skipping" in capsys.readouterr().err


def test_a_probe_says_why_its_step_is_skipped(tmp_path, capsys):
    fresh = Probe((PY, "-c", "pass"), reason="up to date")
    result = Runner(tmp_path, "test", mode="stream").run(plan_of(py("pass", "Installing requirements.txt",
                                                                     skip_if=fresh)))
    assert result.results[0].status == "skipped"
    err = capsys.readouterr().err
    assert "Installing requirements.txt — up to date, skipping" in err and "already exists" not in err


# --- pipes -----------------------------------------------------------------------------------


def test_pipe_to_feeds_stdout_into_the_next_command(tmp_path):
    out = tmp_path / "piped"
    step = Step(argv=(PY, "-c", "import sys; print(sys.stdin.read().upper())"), description="Pipe",
                stdin=Stdin(("OPENAI_API_KEY",), "value"),
                pipe_to=(PY, "-c", f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"))
    assert Runner(tmp_path, "test", SECRETS, mode="quiet").run(plan_of(step)).ok
    assert out.read_text().strip() == SECRETS["OPENAI_API_KEY"].upper()


@pytest.mark.parametrize("first,second,failing", [
    ("import sys; sys.exit(4)", "import sys; sys.stdin.read()", "first"),
    ("print('x')", "import sys; sys.stdin.read(); sys.exit(5)", "second"),
])
def test_a_pipe_fails_when_either_side_fails(tmp_path, first, second, failing):
    step = Step(argv=(PY, "-c", first), description="Pipe", pipe_to=(PY, "-c", second))
    result = Runner(tmp_path, "test", mode="quiet").run(plan_of(step))
    assert result.failed is not None
    assert result.failed.exit_code == (4 if failing == "first" else 5)
    shown = step.argv if failing == "first" else step.pipe_to
    assert runner.show(shown) in result.failed.message


# --- timeouts and interrupts ---------------------------------------------------------------

SLEEPER = """
    import os, sys, time
    open(sys.argv[1], 'w').write(str(os.getpid()))
    print('started', flush=True)
    time.sleep(60)
    """


def test_a_step_that_runs_too_long_is_stopped_and_fails(tmp_path, capsys):
    pid_file = tmp_path / "pid"
    step = Step(argv=(PY, "-c", textwrap.dedent(SLEEPER), str(pid_file)), description="Slow", timeout=1.5,
                hint="raise the timeout")
    started = time.monotonic()
    result = Runner(tmp_path, "test", mode="quiet", grace=1).run(plan_of(step))
    assert time.monotonic() - started < 10
    assert result.failed.status == "timeout" and result.exit_code == 1
    assert "timed out after 1.5s" in result.failed.message
    assert not alive(int(pid_file.read_text()))
    assert "next: raise the timeout" in capsys.readouterr().err


def test_the_step_timeout_flag_caps_every_step(tmp_path):
    step = Step(argv=(PY, "-c", "import time; time.sleep(30)"), description="Slow", timeout=600)
    result = Runner(tmp_path, "test", mode="quiet", step_timeout=1, grace=0.5).run(plan_of(step))
    assert result.failed.status == "timeout" and "1.0s" in result.failed.message


def test_a_child_that_ignores_signals_is_killed_after_the_grace(tmp_path):
    pid_file = tmp_path / "pid"
    code = f"""
        import os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open({str(pid_file)!r}, 'w').write(str(os.getpid()))
        time.sleep(60)
        """
    started = time.monotonic()
    result = Runner(tmp_path, "test", mode="quiet", grace=0.5).run(plan_of(py(code, "Stubborn", timeout=1)))
    assert result.failed.status == "timeout"
    assert time.monotonic() - started < 10
    assert not alive(int(pid_file.read_text()))


INTERRUPT_SCRIPT = """
import sys, textwrap
from pathlib import Path
from streamdeploy.runner import Runner
from streamdeploy.targets.base import Plan, Step
root = Path(sys.argv[1])
sleeper = textwrap.dedent('''
    import os, sys, time
    open(sys.argv[1], 'w').write(str(os.getpid()))
    print('started', flush=True)
    time.sleep(60)
''')
plan = Plan("test", (
    Step((sys.executable, "-c", "print('first')"), "First"),
    Step((sys.executable, "-c", sleeper, str(root / "pid")), "Deploying slowly"),
    Step((sys.executable, "-c", "open(sys.argv[1], 'w')", str(root / "third")), "Third"),
))
result = Runner(root, "test", mode="stream", grace=1).run(plan)
print("FAILED AT", result.failed.index, result.failed.status, file=sys.stderr)
sys.exit(result.exit_code)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_child_names_the_step_and_exits_130(tmp_path, sig):
    script = tmp_path / "run.py"
    script.write_text(INTERRUPT_SCRIPT)
    process = subprocess.Popen([PY, str(script), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 30
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():  # written, not just made
        assert time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    child = int((tmp_path / "pid").read_text())
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "FAILED AT 2 interrupted" in err
    assert "[2/3] Deploying slowly" in err and "interrupted" in err
    assert not alive(child)
    assert not (tmp_path / "third").exists()
    assert "Traceback" not in err


# --- background steps ----------------------------------------------------------------------

SERVER = """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    print('serving with', sys.argv[1], flush=True)
    while True:
        time.sleep(0.1)
    """


def test_a_background_step_keeps_running_with_a_pid_file_and_log(tmp_path):
    step = py(SERVER, "Starting api", background=True)
    step = Step(argv=(*step.argv, "token-123456"), description=step.description, background=True)
    work = Runner(tmp_path, "local", {"T": "token-123456"}, mode="quiet")
    result = work.run(plan_of(step, target="local"))
    assert result.ok and result.results[0].status == "started"
    [started] = result.background
    [record] = runner.records(tmp_path, "local")
    assert (record.pid, record.kind, record.description) == (started.pid, "background", "Starting api")
    assert record.start is not None and record.boot  # enough to know the process again, for good
    assert [b.pid for b in runner.running(tmp_path, "local")] == [started.pid]
    deadline = time.monotonic() + 10
    while "serving with" not in runner.log_file(tmp_path, "local").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the log is on disk: masked like what is printed
    assert "serving with ***" in runner.log_file(tmp_path, "local").read_text()
    lines: list[str] = []
    os.killpg(started.pid, signal.SIGTERM)  # the group: the supervisor and the server
    assert runner.follow(started.log, [started], work.mask, write=lines.append, poll=0.05) == 143
    assert runner.stop([started], grace=1) == [(started.pid, "stopped")]  # 143 is a normal stop


def test_stop_target_stops_a_detached_process_and_forgets_it(tmp_path):
    result = Runner(tmp_path, "local", mode="quiet").run(plan_of(
        py(SERVER.replace("sys.argv[1]", "'x'"), "Starting", background=True), target="local"))
    pid = result.background[0].pid
    outcome = runner.stop_target(tmp_path, "local", grace=2)
    assert outcome == [(pid, "stopped")]
    result.background[0].process.wait(timeout=5)
    assert not runner.pid_file(tmp_path, "local").exists()
    assert runner.running(tmp_path, "local") == []


def test_a_stale_pid_file_is_ignored(tmp_path):
    dead = subprocess.Popen([PY, "-c", "pass"])
    dead.wait()
    path = runner.pid_file(tmp_path, "local")
    path.parent.mkdir(parents=True)
    path.write_text(f"{dead.pid}\n{os.getpid()}\n")  # gone, and not a group leader we started
    assert runner.running(tmp_path, "local") == []


def test_a_background_process_that_dies_at_once_fails_its_step_with_its_log(tmp_path):
    result = Runner(tmp_path, "local", {"S": "hidden-value-1"}, mode="quiet").run(plan_of(
        py("import sys; print('ImportError: no module named app hidden-value-1'); sys.exit(1)", "Starting api",
           background=True), target="local"))
    assert result.failed.status == "failed"
    assert "ImportError: no module named app ***" in result.failed.tail
    assert not runner.pid_file(tmp_path, "local").exists()


def test_a_failure_after_a_background_start_stops_what_this_run_started(tmp_path):
    result = Runner(tmp_path, "local", mode="quiet", grace=1).run(plan_of(
        py(SERVER.replace("sys.argv[1]", "'x'"), "Starting api", background=True),
        py("import sys; sys.exit(2)", "Waiting for health"),
        target="local"))
    assert result.failed.index == 2
    process = result.background[0].process
    assert process.wait(timeout=5) in (143, -signal.SIGTERM)
    assert not runner.pid_file(tmp_path, "local").exists()


def test_a_new_run_stops_what_the_last_one_left_running(tmp_path):
    first = Runner(tmp_path, "local", mode="quiet").run(plan_of(
        py(SERVER.replace("sys.argv[1]", "'1'"), "Starting", background=True), target="local"))
    second = Runner(tmp_path, "local", mode="quiet").run(plan_of(
        py(SERVER.replace("sys.argv[1]", "'2'"), "Starting", background=True), target="local"))
    try:
        first.background[0].process.wait(timeout=10)  # stopped (and reaped by the runner)
        assert not alive(first.background[0].pid)
        assert [b.pid for b in runner.running(tmp_path, "local")] == [second.background[0].pid]
    finally:
        runner.stop_target(tmp_path, "local", grace=2)


LISTENER = """
    import signal, socket, sys, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    print("listening", flush=True)
    while True:
        time.sleep(0.1)
    """


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_step(port: int) -> Step:
    step = py(LISTENER, f"Starting api on {port}", background=True)
    return Step(argv=(*step.argv, str(port)), description=step.description, background=True, listens=(port,))


def wait_listening(root: Path) -> None:
    deadline = time.monotonic() + 10
    while "listening" not in runner.log_file(root, "local").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_running_service_is_not_stopped_for_a_replacement_whose_port_a_stranger_holds(tmp_path):
    ours, strangers = free_port(), socket.socket()
    strangers.bind(("127.0.0.1", 0))
    strangers.listen()
    taken = strangers.getsockname()[1]
    first = Runner(tmp_path, "local", mode="quiet").run(plan_of(listening_step(ours), target="local"))
    try:
        wait_listening(tmp_path)
        assert runner.listening_ports(runner.running(tmp_path, "local")) == {ours}
        # a port somebody else holds: the working service stays up, and the step says why
        blocked = Runner(tmp_path, "local", mode="quiet").run(plan_of(listening_step(taken), target="local"))
        assert blocked.failed and f"port {taken} is in use by another program" in blocked.failed.message
        assert "was left as it is" in blocked.failed.message
        assert alive(first.background[0].pid) and not blocked.background
        # the port the running service holds itself is fine: it is stopped, then replaced
        again = Runner(tmp_path, "local", mode="quiet").run(plan_of(listening_step(ours), target="local"))
        assert again.ok, again.failed
        first.background[0].process.wait(timeout=10)
        assert [b.pid for b in runner.running(tmp_path, "local")] == [again.background[0].pid]
    finally:
        strangers.close()
        runner.stop_target(tmp_path, "local", grace=2)


def test_a_running_service_is_not_stopped_for_a_replacement_that_is_not_installed(tmp_path):
    first = Runner(tmp_path, "local", mode="quiet").run(plan_of(listening_step(free_port()), target="local"))
    try:
        missing = Runner(tmp_path, "local", mode="quiet").run(plan_of(
            Step(("no-such-server-here",), "Starting api", background=True), target="local"))
        assert "is not installed" in missing.failed.message and "was left as it is" in missing.failed.message
        assert alive(first.background[0].pid)
    finally:
        runner.stop_target(tmp_path, "local", grace=2)


def record_for(pid: int, kind: str = "background", **changes) -> runner.Record:
    start, boot = runner._identity(pid)
    fields = {"pid": pid, "kind": kind, "description": "Starting api", "command": "sh -c 'exec uvicorn app:app'",
              "start": start, "boot": boot, **changes}
    return runner.Record(**fields)


def write_records(root: Path, *records: runner.Record) -> Path:
    path = runner.pid_file(root, "local")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.line() for r in records))
    return path


@pytest.mark.parametrize("reused", ["later-start", "other-boot"])
def test_a_pid_that_now_belongs_to_another_process_is_never_signalled(tmp_path, reused):
    # What a pid file says after the process exited and its pid was reused, or after a
    # restart: the same number, another process. `down` must leave it alone and say so.
    stranger = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        start, boot = runner._identity(stranger.pid)
        wrong = {"start": start - 100} if reused == "later-start" else {"boot": "another-boot-id"}
        write_records(tmp_path, record_for(stranger.pid, **wrong))
        assert runner.running(tmp_path, "local") == []
        [(record, now)] = runner.strangers(tmp_path, "local")
        assert record.pid == stranger.pid and "time.sleep(60)" in now
        assert runner.stop_target(tmp_path, "local", grace=1) == []
        assert stranger.poll() is None  # untouched
        assert not runner.pid_file(tmp_path, "local").exists()  # and forgotten
    finally:
        stranger.kill()
        stranger.wait()


def test_the_recorded_process_itself_is_known_again_and_stopped(tmp_path):
    ours = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write_records(tmp_path, record_for(ours.pid))
        assert [b.pid for b in runner.running(tmp_path, "local")] == [ours.pid]
        assert runner.strangers(tmp_path, "local") == []
        assert runner.stop_target(tmp_path, "local", grace=2) == [(ours.pid, "stopped")]
        ours.wait(timeout=5)
        assert not alive(ours.pid)
    finally:
        if ours.poll() is None:
            ours.kill()
            ours.wait()


def test_a_step_left_running_by_a_killed_up_is_named_and_stopped_by_the_next_run(tmp_path, capsys):
    left = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write_records(tmp_path, record_for(left.pid, kind="step", command="fly deploy --app demo"))
        result = Runner(tmp_path, "local", mode="quiet", grace=2).run(plan_of(py("print('hi')"), target="local"))
        assert result.ok
        left.wait(timeout=5)  # (the runner reaped it: it is this test's child)
        assert not alive(left.pid)
        err = capsys.readouterr().err
        assert f"`fly deploy --app demo` (pid {left.pid}) is still running" in err and "killed" in err
        assert not runner.pid_file(tmp_path, "local").exists()
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()


def test_a_running_step_is_recorded_and_forgotten_when_it_ends(tmp_path):
    seen = tmp_path / "seen"
    code = f"import pathlib; pathlib.Path({str(seen)!r}).write_text(pathlib.Path({str(tmp_path)!r}, " \
           f"'.streamdeploy', 'local.pid').read_text())"
    assert Runner(tmp_path, "local", mode="quiet").run(plan_of(py(code, "Deploying"), target="local")).ok
    [record] = [runner.Record(**{**json.loads(line), "legacy": False}) for line in seen.read_text().splitlines()]
    assert record.kind == "step" and record.description == "Deploying" and record.start is not None
    assert not runner.pid_file(tmp_path, "local").exists()


def test_a_step_dies_with_streamdeploy_even_on_sigkill(tmp_path):
    # The runner in a process of its own, killed -9 while its step runs: the step's whole
    # group (here a shell and its child) must not live on as orphans.
    child_pid = tmp_path / "child.pid"
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from streamdeploy.runner import Runner
from streamdeploy.targets.base import Plan, Step
step = Step(("sh", "-c", "sleep 60 & echo $! > {child_pid}; wait"), "Deploying", timeout=120)
Runner(Path({str(tmp_path)!r}), "fly", mode="stream").run(Plan("fly", (step,)))
"""
    parent = subprocess.Popen([PY, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not child_pid.exists() or not child_pid.read_text().strip():
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = int(child_pid.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while alive(child):
            assert time.monotonic() < deadline, "the step outlived a killed streamdeploy"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# A server behind a compound start command: the shell leads the group, the server is its
# child and takes a while to shut down (as uvicorn finishing open streams does).
GRACEFUL_CHILD = """
import os, signal, sys, time

def bye(*_):
    time.sleep(1.0)
    open(sys.argv[1] + ".clean", "w").close()
    sys.exit(0)

signal.signal(signal.SIGTERM, bye)
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""
STUBBORN_CHILD = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


@pytest.fixture
def start_compound(tmp_path):
    """Starts a background step `sh -c '<python child> & wait'`; returns the run and the child's
    pid. Whatever a test leaves of the group is killed afterwards, even when it fails."""
    groups: list[int] = []

    def start(child: str, shell: str = "{child} & wait") -> tuple[runner.RunResult, int]:
        script, pid_path = tmp_path / "child.py", tmp_path / "child.pid"
        script.write_text(child)
        command = shell.format(child=f"{PY} {script} {pid_path}")
        result = Runner(tmp_path, "local", mode="quiet").run(plan_of(
            Step(("sh", "-c", command), "Starting api", background=True), target="local"))
        assert result.ok, result.results
        groups.extend(b.pid for b in result.background)
        deadline = time.monotonic() + 10
        while not pid_path.exists() or not pid_path.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return result, int(pid_path.read_text())

    yield start
    for pgid in groups:
        for pid in runner._group_members(pgid) or []:
            os.kill(pid, signal.SIGKILL)


def group_members(pgid: int) -> list[int]:
    return runner._group_members(pgid)


def test_stop_waits_for_every_process_of_the_group_not_only_its_shell(tmp_path, start_compound):
    result, child = start_compound(GRACEFUL_CHILD)
    [started] = result.background
    assert runner.stop(result.background, grace=5) == [(started.pid, "stopped")]
    # the server finished its own shutdown before stop returned: no overlap with a next instance
    assert not alive(child) and (tmp_path / "child.pid.clean").exists()
    assert group_members(started.pid) == []


def test_stop_kills_a_group_member_that_ignores_sigterm_after_the_grace(start_compound):
    result, child = start_compound(STUBBORN_CHILD)
    [started] = result.background
    began = time.monotonic()
    assert runner.stop(result.background, grace=0.5) == [(started.pid, "killed")]
    assert time.monotonic() - began < 5
    assert not alive(child) and group_members(started.pid) == []


def test_down_stops_what_is_left_of_a_group_whose_leader_has_exited(tmp_path, start_compound):
    result, child = start_compound(GRACEFUL_CHILD, shell="{child} & sleep 1; exit 0")
    [started] = result.background
    time.sleep(1.5)  # the shell is gone; its server is not
    os.kill(started.pid, signal.SIGKILL)  # nor is the group, once its leader (the supervisor) is gone
    started.process.wait(timeout=10)
    assert alive(child)
    assert [b.pid for b in runner.running(tmp_path, "local")] == [started.pid]
    assert runner.stop_target(tmp_path, "local", grace=5) == [(started.pid, "stopped")]
    assert not alive(child) and (tmp_path / "child.pid.clean").exists()
    assert runner.running(tmp_path, "local") == []


def test_a_new_run_waits_until_the_old_group_is_gone_before_it_starts(tmp_path, start_compound):
    first, child = start_compound(GRACEFUL_CHILD)
    seen = tmp_path / "seen"
    # the new instance records whether the old server was still running when it started
    Runner(tmp_path, "local", mode="quiet").run(plan_of(py(f"""
        import os, time
        try:
            os.kill({child}, 0)
            state = open('/proc/{child}/stat').read().rsplit(')', 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            state = 'gone'
        open({str(seen)!r}, 'w').write(state)
        time.sleep(30)
        """, "Starting api", background=True), target="local"))
    try:
        deadline = time.monotonic() + 10
        while not seen.exists() or not seen.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert seen.read_text() in ("gone", "Z")  # never two servers on one volume
    finally:
        runner.stop_target(tmp_path, "local", grace=2)
        runner.stop(first.background, grace=1)


# --- the plan without running it ----------------------------------------------------------


DRY = plan_of(
    Step(("fly", "apps", "create", "demo", "--json"), "Creating app demo",
         skip_if=Probe(("fly", "status", "--app", "demo", "--json"))),
    Step(("fly", "secrets", "import", "--app", "demo"), "Importing secrets",
         stdin=Stdin(("OPENAI_API_KEY", "API_KEY"))),
    Step(("kubectl", "create", "secret", "generic", "s", "--from-env-file=names.env", "--dry-run=client"),
         "Storing secrets", pass_secrets=("OPENAI_API_KEY",), pipe_to=("kubectl", "apply", "-f", "-")),
    Step(("fly", "deploy"), "Deploying", env=(("FLY_NO_UPDATE_CHECK", "1"), ("GREETING", "it's here"))),
    target="fly", url="https://demo.fly.dev", secrets=("OPENAI_API_KEY", "API_KEY"), tools=("fly", "kubectl"),
    notes=(Note("fly", "volumes pin the app to one region", key="services.api.volumes"),),
)


def test_the_printed_plan_shows_commands_names_and_probes_but_no_values(capsys):
    runner.print_plan(DRY, {"OPENAI_API_KEY": True, "API_KEY": False})
    out, err = capsys.readouterr()
    assert "[1/4] Creating app demo" in out and "$ fly apps create demo --json" in out
    assert "skipped if `fly status --app demo --json` succeeds (already exists)" in out
    assert "$ fly secrets import --app demo <stdin: OPENAI_API_KEY, API_KEY>" in out
    assert "| kubectl apply -f -" in out and "secrets in its environment: OPENAI_API_KEY" in out
    assert "env: FLY_NO_UPDATE_CHECK=1 GREETING='it'\"'\"'s here'" in out
    assert "OPENAI_API_KEY (set), API_KEY (NOT SET)" in out
    assert "volumes pin the app to one region" in err


def test_the_plan_as_json_is_data_with_secret_names_only():
    data = runner.plan_as_dict(DRY, {"OPENAI_API_KEY": True})
    assert data["secrets"] == [{"name": "OPENAI_API_KEY", "set": True}, {"name": "API_KEY", "set": False}]
    assert data["optional_secrets"] == []
    assert data["steps"][0]["skip_if"] == {"argv": ["fly", "status", "--app", "demo", "--json"],
                                           "skip_when": "exit0", "needle": None, "reason": "already exists"}
    assert data["steps"][1]["stdin"] == {"secrets": ["OPENAI_API_KEY", "API_KEY"], "format": "dotenv"}
    assert data["steps"][2]["pipe_to"] == ["kubectl", "apply", "-f", "-"]
    assert data["url"] == "https://demo.fly.dev" and data["tools"] == ["fly", "kubectl"]
    json.dumps(data)  # serialisable


LOCAL_DRY = plan_of(
    Step(("sh", "-c", "exec serve"), "Starting api", pass_if_set=("OPENAI_API_KEY", "API_KEY"), background=True,
         skip_if=None),
    Step(("pip", "install", "-r", "requirements.txt"), "Installing",
         skip_if=Probe(("grep", "-qxF", "abc", "stamp"), reason="up to date")),
    target="local",
)


def test_optional_secrets_are_listed_apart_in_the_plan(capsys):
    runner.print_plan(LOCAL_DRY, {"API_KEY": True})
    out = capsys.readouterr().out
    assert "secrets in its environment when set: OPENAI_API_KEY, API_KEY" in out
    assert "optional secrets (names only): OPENAI_API_KEY (not set: left out), API_KEY (set)" in out
    assert "NOT SET" not in out and "(up to date)" in out
    data = runner.plan_as_dict(LOCAL_DRY, {"API_KEY": True})
    assert data["secrets"] == [] and data["steps"][0]["pass_if_set"] == ["OPENAI_API_KEY", "API_KEY"]
    assert data["optional_secrets"] == [{"name": "OPENAI_API_KEY", "set": False}, {"name": "API_KEY", "set": True}]


def test_capture_reports_missing_commands_and_timeouts():
    assert runner.capture(("no-such-command-here",)).error == "no-such-command-here: command not found"
    slow = runner.capture((PY, "-c", "import time; time.sleep(10)"), timeout=0.5)
    assert slow.exit_code is None and "timed out" in slow.error
    ok = runner.capture((PY, "-c", "print('hi')"))
    assert ok.ok and ok.stdout == "hi\n"
