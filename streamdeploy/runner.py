"""The one place that starts platform processes: runs a Plan's Steps, one after another.

For each step: its probe decides whether it is needed; the process starts in its own
process group, under ``streamdeploy.supervisor`` (which stops the group should we die:
SIGKILL, a crash, a closed terminal), with secrets on stdin (or in its environment, by
name); its output is shown as it comes through the one masker (every secret the
description names, in every encoding a CLI echoes, wrapped across lines too); it must
finish within its timeout; Ctrl-C, SIGTERM or SIGHUP stops it — SIGINT, then SIGTERM,
then SIGKILL, a grace apart — and says which step stopped. A skipped step says why (its
probe's reason: "already exists", "up to date"). A failed step shows the end of the
CLI's output and the step's hint, and the run stops there.

Background steps (a local server) start with stdin closed; the supervisor appends their
output, masked, to ``.streamdeploy/logs/<target>.log``. ``.streamdeploy/<target>.pid``
records each one (and each foreground step while it runs) with its start time and boot
id, so that `up` can follow and stop them, `streamdeploy down` can stop them later, a step
left by a killed `up` is found, and a pid that now belongs to someone else is never
signalled. Each leads its own process group, and stopping one waits until the whole group
is gone: a server started by a compound command (``migrate && serve``) must not outlive
its shell, or an old and a new instance would share one embedded-Chroma volume. The run
it replaces is stopped only once the new background steps can start.

Display: on a terminal a step's last lines roll under a spinner and fold into one line
when it succeeds; elsewhere (CI logs) every line is printed; with ``--json`` nothing is
streamed and each step's tail is kept for the JSON result.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping

from streamdeploy import clock, console, exitcodes, ports, supervisor
from streamdeploy.problems import ProblemsError
from streamdeploy.secrets import LineMasker, Masker, optional_names, platform_tokens, required_names, stdin_text
from streamdeploy.targets.base import Plan, Probe, Step

STATE_DIR = ".streamdeploy"
TAIL_LINES = 20  # lines of a failed step's output shown again
LIVE_LINES = 6  # lines rolling under the spinner on a terminal
KILL_GRACE = 5.0  # seconds between SIGINT, SIGTERM and SIGKILL
PROBE_TIMEOUT = 60.0
START_CHECK = 0.5  # a background process that dies this fast failed to start
NORMAL_STOP = {0, 130, 143, -signal.SIGTERM, -signal.SIGINT}  # uvicorn exits 143 on SIGTERM
SKIP_REASONS = {"exit0": "already exists", "contains": "already exists", "fails": "not needed"}

Status = Literal["ok", "skipped", "failed", "timeout", "interrupted", "started"]


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while a step ran."""


@dataclass
class StepResult:
    index: int  # 1-based
    step: Step
    status: Status
    exit_code: int | None = None
    seconds: float = 0.0
    tail: list[str] = field(default_factory=list)  # masked
    message: str | None = None

    def as_dict(self) -> dict:
        return {"index": self.index, "description": self.step.description, "argv": list(self.step.argv),
                "status": self.status, "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "message": self.message, "tail": self.tail}


@dataclass(frozen=True)
class Record:
    """One line of a pid file: which process a run started, and how to know it again.

    A pid alone is not enough: after the process exits (or the machine restarts) the
    number goes to somebody else. ``start`` (clock ticks after boot, /proc/<pid>/stat) and
    ``boot`` (/proc/sys/kernel/random/boot_id) name one process for good; ``command`` is
    what it ran, for messages. ``kind``: "background" (a server `up` leaves running) or
    "step" (a foreground step, recorded while it runs: one still alive was left by an
    `up` that was killed)."""

    pid: int
    kind: str
    description: str
    command: str
    start: int | None = None
    boot: str | None = None
    legacy: bool = False  # a bare pid written by an older streamdeploy

    def line(self) -> str:
        return json.dumps({"pid": self.pid, "kind": self.kind, "description": self.description,
                           "command": self.command, "start": self.start, "boot": self.boot}) + "\n"


@dataclass
class Background:
    """A process a background step started and left running."""

    pid: int
    description: str
    log: Path
    process: subprocess.Popen | None = None  # None when read back from a pid file
    record: Record | None = None


@dataclass
class RunResult:
    target: str
    results: list[StepResult] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)

    @property
    def failed(self) -> StepResult | None:
        return next((r for r in self.results if r.status in ("failed", "timeout", "interrupted")), None)

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def exit_code(self) -> int:
        failed = self.failed
        if failed is None:
            return exitcodes.OK
        return exitcodes.INTERRUPTED if failed.status == "interrupted" else exitcodes.FAILED

    def as_dict(self) -> dict:
        return {"target": self.target, "ok": self.ok, "steps": [r.as_dict() for r in self.results],
                "background": [{"pid": b.pid, "description": b.description, "log": str(b.log)}
                               for b in self.background]}


@dataclass
class Captured:
    """The result of a short read-only command (probes, `doctor`)."""

    argv: tuple[str, ...]
    exit_code: int | None  # None: could not start, or timed out
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # "not found", "timed out after 10s"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def preflight(plan: Plan, values: Mapping[str, str]) -> None:
    """Raise ProblemsError before step 1 if a secret cannot travel in its step's stdin format."""
    for step in plan.steps:
        if step.stdin and step.stdin.present(values):
            stdin_text(step.stdin.format, step.stdin.present(values), values)


# --- paths --------------------------------------------------------------------------------


def pid_file(root: Path, target: str) -> Path:
    return root / STATE_DIR / f"{target}.pid"


def log_file(root: Path, target: str) -> Path:
    return root / STATE_DIR / "logs" / f"{target}.log"


def show(argv: Iterable[str]) -> str:
    return shlex.join(list(argv))


# --- short commands -----------------------------------------------------------------------


def capture(argv: Iterable[str], timeout: float = 20.0, env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> Captured:
    """Run a read-only command to completion and keep its output (never for secrets on stdin)."""
    argv = tuple(argv)
    full_env = dict(os.environ if env is None else env)
    executable = shutil.which(argv[0], path=full_env.get("PATH")) if "/" not in argv[0] else argv[0]
    if executable is None:
        return Captured(argv, None, error=f"{argv[0]}: command not found")
    if not os.access(executable, os.X_OK):
        return Captured(argv, None, error=f"{argv[0]}: " + ("permission denied" if os.path.exists(executable)
                                                            else "command not found"))
    try:
        process = subprocess.Popen(supervisor.argv_for("step", "--", executable, *argv[1:]), cwd=cwd,
                                   env=exec_env(full_env, executable), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as err:
        return Captured(argv, None, error=f"{argv[0]}: {err.strerror}")
    try:
        out, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.communicate()
        return Captured(argv, None, error=f"timed out after {timeout:g}s")
    except BaseException:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return Captured(argv, process.returncode, out.decode("utf-8", "replace"), errors.decode("utf-8", "replace"))


def exec_env(env: Mapping[str, str], executable: str) -> dict[str, str]:
    """The environment a program starts with: ``_`` is its own path, as a shell sets it.

    Copied from ours, ``_`` would name streamdeploy (bash and zsh export it for the command
    typed), and tools read it: the Railway IaC SDK runs ``$_ --version`` to find the CLI that
    evaluates it (npm railway@3.11.0 dist/iac/index.js, assertMinimumIacCliVersion)."""
    return {**env, "_": executable}


# --- the runner ---------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        root: Path,
        target: str,
        secrets: Mapping[str, str] | None = None,
        step_timeout: float | None = None,
        mode: Literal["auto", "live", "stream", "quiet"] = "auto",
        env: Mapping[str, str] | None = None,
        grace: float = KILL_GRACE,
        hide: Iterable[str] = (),
        attached: bool = False,
    ):
        """``hide``: more values to mask in every child's output besides ``secrets`` (all
        the description's secrets, which a CLI may find in its environment and print);
        ``attached``: background processes stop when this process dies (a foreground
        `up`), instead of outliving it (`up --detach`)."""
        self.root = Path(root)
        self.target = target
        self.secrets = dict(secrets or {})
        self.step_timeout = step_timeout
        self.env = dict(os.environ if env is None else env)
        self.mask = Masker([*self.secrets.values(), *hide, *platform_tokens(self.env)])
        self.grace = grace
        self.attached = attached
        if mode == "auto":
            mode = "live" if console.err().is_terminal else "stream"
        self.mode = mode

    # --- the plan ---

    def run(self, plan: Plan, on_step: Callable[[StepResult], None] | None = None,
            result: RunResult | None = None) -> RunResult:
        """Run every step in order; stop at the first failure. Never raises for a failed step.

        ``result``: filled in as steps run, so a caller that is interrupted even as this
        returns still knows what was started."""
        result = RunResult(plan.target) if result is None else result
        total = len(plan.steps)
        stopped_previous = False
        with interrupts():
            self._stop_leftovers()
            for index, step in enumerate(plan.steps, start=1):
                try:
                    outcome = None
                    if step.background and not stopped_previous:
                        stopped_previous = True
                        # Never stop a working service before its replacement can start.
                        outcome = self._cannot_replace(plan.steps[index - 1:], index, total)
                        if outcome is None:
                            self._stop_previous()
                    outcome = outcome or self.run_step(step, index, total, result)
                except Interrupted:  # between steps: nothing of this step started
                    outcome = self._interrupted(step, index, total, time.monotonic())
                result.results.append(outcome)
                if on_step:
                    on_step(outcome)
                if outcome.status in ("failed", "timeout", "interrupted"):
                    if result.background:
                        self._say(f"[dim]stopping what this run started ({_pids(result.background)})[/dim]")
                        stop_run(self.root, self.target, result.background, self.grace)
                    break
        return result

    def run_step(self, step: Step, index: int, total: int, result: RunResult | None = None) -> StepResult:
        label = f"[{index}/{total}] {step.description}"
        missing = [n for n in _secret_names(step) if n not in self.secrets]
        if missing:
            # `up` resolves every secret before step 1; reaching this is a bug in a plan.
            raise KeyError(f"step {index} needs secrets that were not resolved: {', '.join(missing)}")
        started = time.monotonic()
        try:
            if step.stdin is not None and not step.stdin.present(self.secrets):
                self._done(label, "skipped", "no value to send (its secrets are optional and unset), skipping")
                return StepResult(index, step, "skipped", seconds=time.monotonic() - started)
            if step.skip_if is not None and self._probe_says_skip(step):
                self._done(label, "skipped", f"{skip_reason(step.skip_if)}, skipping")
                return StepResult(index, step, "skipped", seconds=time.monotonic() - started)
            if step.background:
                return self._start_background(step, index, label, started, result)
            return self._run_foreground(step, index, label, started)
        except Interrupted:
            return self._interrupted(step, index, total, started)

    def _interrupted(self, step: Step, index: int, total: int, started: float) -> StepResult:
        self._done(f"[{index}/{total}] {step.description}", "interrupted", "interrupted")
        return StepResult(index, step, "interrupted", seconds=time.monotonic() - started,
                          message="interrupted before the command started")

    # --- probes ---

    def _probe_says_skip(self, step: Step) -> bool:
        probe: Probe = step.skip_if
        captured = capture(probe.argv, timeout=min(PROBE_TIMEOUT, self._timeout(step)),
                           env=self._child_env(step, with_secrets=False), cwd=self._cwd(step))
        if captured.exit_code is None:
            return False  # could not tell: run the step, which fails with a clear error if it must
        if probe.skip_when == "exit0":
            return captured.exit_code == 0
        if probe.skip_when == "fails":
            return captured.exit_code != 0
        return captured.exit_code == 0 and probe.needle is not None and probe.needle in captured.stdout

    # --- foreground steps ---

    def _run_foreground(self, step: Step, index: int, label: str, started: float) -> StepResult:
        timeout = self._timeout(step)
        env = self._child_env(step)
        cwd = self._cwd(step)
        try:
            data = (stdin_text(step.stdin.format, step.stdin.present(self.secrets), self.secrets).encode()
                    if step.stdin else None)
        except ProblemsError as error:  # a value this CLI's stdin format cannot carry
            message = str(error)
            self._done(label, "failed", message)
            return StepResult(index, step, "failed", None, time.monotonic() - started, [], message)
        lines: queue.Queue = queue.Queue()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            processes = self._spawn(step, env, cwd, data is not None, lines)
        except FileNotFoundError as missing:
            program = missing.filename or (missing.args[0] if missing.args else step.argv[0])
            message = f"`{program}` is not installed (not found on PATH)"
            self._done(label, "failed", message)
            return StepResult(index, step, "failed", 127, time.monotonic() - started, [], message)
        record = self._record(processes[0], "step", step)
        if data is not None:
            threading.Thread(target=_feed, args=(processes[0], data), daemon=True).start()
        status: Status = "ok"
        display = _Display(self, label)
        masked = self.mask.lines()  # one stream: a value wrapped over two lines is still hidden

        def emit(texts: list[str]) -> None:
            for text in texts:
                tail.append(text)
                display.line(text)

        open_streams = 2 if step.pipe_to else 1  # reader threads still running
        try:
            deadline = started + timeout
            while open_streams:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    status = "timeout"
                    break
                try:
                    line = lines.get(timeout=min(remaining, 0.2))
                except queue.Empty:
                    emit(masked.flush())  # a pause: nothing is held back longer
                    display.tick()
                    continue
                if line is None:
                    open_streams -= 1
                    continue
                emit(masked.feed(line))
            emit(masked.close())
            if status == "ok":
                for process in processes:
                    remaining = max(0.0, deadline - time.monotonic())
                    try:
                        process.wait(timeout=remaining)
                    except subprocess.TimeoutExpired:
                        status = "timeout"
                        break
        except Interrupted:
            status = "interrupted"
        if status != "ok":
            display.close()
            self._say(f"[dim]stopping `{console.escape(show(step.argv))}` …[/dim]")
            for process in processes:
                _terminate(process, self.grace)
            _drain(lines, tail, masked, open_streams)
        self._forget(record)
        display.close()
        seconds = time.monotonic() - started
        codes = [p.returncode for p in processes]
        code = next((c for c in codes if c), 0) if status == "ok" else codes[-1]
        if status == "ok" and code != 0:
            status = "failed"
        failed_argv = step.pipe_to if step.pipe_to and codes[0] == 0 else step.argv
        message = {
            "ok": None,
            "failed": f"`{show(failed_argv)}` exited with {code}",
            "timeout": f"timed out after {seconds_text(timeout)} (the step's limit; raise it with --step-timeout)",
            "interrupted": "interrupted; the command was stopped",
        }[status]
        result = StepResult(index, step, status, code, seconds, list(tail), message)
        self._report(label, result, streamed=self.mode == "stream")
        return result

    def _spawn(self, step: Step, env: dict, cwd: Path, with_stdin: bool, lines: queue.Queue) -> list[subprocess.Popen]:
        program = self._resolve(step.argv, env)
        piped = self._resolve(step.pipe_to, env) if step.pipe_to else None
        first_argv = supervisor.argv_for("step", "--", *program)
        second_argv = supervisor.argv_for("step", "--", *piped) if piped else None
        # `_` is the program's own path, not the supervisor's (Railway's IaC runs `$_ --version`).
        first_env = exec_env(env, program[0])
        stdin = subprocess.PIPE if with_stdin else subprocess.DEVNULL
        # Each step gets its own process group (not the terminal's foreground group, so a
        # Ctrl-C reaches only us and we decide how to stop it); a pipe's two ends share it.
        # The supervisor leads it and stops the group should streamdeploy die (SIGKILL).
        if second_argv is None:
            process = subprocess.Popen(first_argv, cwd=cwd, env=first_env, stdin=stdin,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
            _reader(process.stdout, lines)
            return [process]
        first = subprocess.Popen(first_argv, cwd=cwd, env=first_env, stdin=stdin,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)
        try:
            second = subprocess.Popen(second_argv, cwd=cwd, env=exec_env(env, piped[0]), stdin=first.stdout,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=first.pid)
        except BaseException:
            _terminate(first, 0)
            raise
        first.stdout.close()  # the second process holds the pipe now; first gets SIGPIPE if it dies
        _reader(first.stderr, lines)
        _reader(second.stdout, lines)
        return [first, second]

    # --- background steps ---

    def _start_background(self, step: Step, index: int, label: str, started: float,
                          result: RunResult | None) -> StepResult:
        log = log_file(self.root, self.target)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = self._child_env(step)
        with open(log, "ab") as handle:
            handle.write(f"--- {clock.now().strftime('%Y-%m-%d %H:%M:%S')}Z {step.description}\n".encode())
        try:
            argv = self._resolve(step.argv, env)
        except FileNotFoundError:
            message = f"`{step.argv[0]}` is not installed (not found on PATH)"
            self._done(label, "failed", message)
            return StepResult(index, step, "failed", 127, time.monotonic() - started, [], message)
        # Its output reaches the log through the supervisor, masked: the log is on disk.
        options = [str(log), *(["--with-parent"] if self.attached else []), "--"]
        process = subprocess.Popen(supervisor.argv_for("serve", *options, *argv), cwd=self._cwd(step),
                                   env=exec_env(env, argv[0]), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        _feed(process, json.dumps(list(self.mask.values)).encode())
        record = self._record(process, "background", step)
        started_process = Background(process.pid, step.description, log, process, record)
        if result is not None:
            result.background.append(started_process)
        try:
            process.wait(timeout=START_CHECK)
        except subprocess.TimeoutExpired:
            self._done(label, "ok", f"running (pid {process.pid}, log {_relative(log)})")
            return StepResult(index, step, "started", None, time.monotonic() - started,
                              message=f"pid {process.pid}")
        tail = self.mask.all_lines(read_tail(log, TAIL_LINES))
        result_ = StepResult(index, step, "failed", process.returncode, time.monotonic() - started, tail,
                             f"`{show(step.argv)}` exited with {process.returncode} as soon as it started")
        self._report(label, result_, streamed=False)
        return result_

    def _stop_previous(self) -> None:
        previous = running(self.root, self.target)
        if previous:
            self._say(f"[dim]stopping what the last `up --target {self.target}` left running "
                      f"({_pids(previous)})[/dim]")
        stop_run(self.root, self.target, previous, self.grace)

    def _stop_leftovers(self) -> None:
        """A step still running from an `up` that was killed (its supervisor too): name it, stop it."""
        left = running(self.root, self.target, kind="step")
        for item in left:
            command = item.record.command if item.record else item.description
            console.warning(f"`{command}` (pid {item.pid}) is still running, left by an `up --target {self.target}` "
                            "that was killed; stopping it before this run starts", where=self.target)
        if left:
            stop(left, self.grace)
            _forget_records(pid_file(self.root, self.target), {b.pid for b in left})

    def _cannot_replace(self, steps: tuple[Step, ...], index: int, total: int) -> StepResult | None:
        """Why the background steps cannot start (a program missing, a port somebody else
        holds), checked before the running service is stopped for them: a failed step, or
        None when they can."""
        previous = running(self.root, self.target)
        held = listening_ports(previous)
        for step in (s for s in steps if s.background):
            why = None
            try:
                self._resolve(step.argv, self._child_env(step, with_secrets=False))
            except FileNotFoundError:
                why = f"`{step.argv[0]}` is not installed (not found on PATH)"
            if why is None and not self._cwd(step).is_dir():
                why = f"its directory {self._cwd(step)} does not exist"
            busy = [p for p in step.listens if not ports.port_free(p) and (held is not None and p not in held)]
            if why is None and busy:
                why = f"port {busy[0]} is in use by another program (not the run it replaces)"
            if why is not None:
                if step is not steps[0]:
                    why = f"{step.description}: {why}"
                if previous:
                    why += f"; what is running now ({_pids(previous)}) was left as it is"
                self._done(f"[{index}/{total}] {steps[0].description}", "failed", why)
                return StepResult(index, steps[0], "failed", None, 0.0, [], why)
        return None

    def _record(self, process: subprocess.Popen, kind: str, step: Step) -> Record:
        record = Record(process.pid, kind, step.description, show(step.argv), *_identity(process.pid))
        path = pid_file(self.root, self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(record.line())
        return record

    def _forget(self, record: Record) -> None:
        _forget_records(pid_file(self.root, self.target), {record.pid})

    # --- helpers ---

    def _timeout(self, step: Step) -> float:
        return min(step.timeout, self.step_timeout) if self.step_timeout else step.timeout

    def _cwd(self, step: Step) -> Path:
        return (self.root / step.cwd) if step.cwd else self.root

    def _child_env(self, step: Step, with_secrets: bool = True) -> dict[str, str]:
        env = dict(self.env)
        env.update(dict(step.env))
        if with_secrets:
            for name in step.pass_secrets:
                env[name] = self.secrets[name]
            for name in step.pass_if_set:
                if name in self.secrets:
                    env[name] = self.secrets[name]
        return env

    @staticmethod
    def _resolve(argv: tuple[str, ...], env: Mapping[str, str]) -> list[str]:
        # Look the program up on the child's PATH (the one the step will run with).
        if "/" in argv[0]:
            return list(argv)
        found = shutil.which(argv[0], path=env.get("PATH"))
        if found is None:
            raise FileNotFoundError(argv[0])
        return [found, *argv[1:]]

    def _say(self, markup: str) -> None:
        if self.mode != "quiet":
            console.err().print(markup)

    def _done(self, label: str, status: str, detail: str) -> None:
        mark = {"ok": "[green]✓[/green]", "skipped": "[cyan]–[/cyan]", "failed": "[bold red]✗[/bold red]",
                "interrupted": "[yellow]■[/yellow]"}.get(status, "•")
        console.err().print(f"{mark} {console.escape(label)} [dim]— {console.escape(detail)}[/dim]")

    def _report(self, label: str, result: StepResult, streamed: bool) -> None:
        took = seconds_text(result.seconds)
        if result.status == "ok":
            if self.mode != "stream":
                console.err().print(f"[green]✓[/green] {console.escape(label)} [dim]({took})[/dim]")
            else:
                console.err().print(f"  [green]✓ done[/green] [dim]({took})[/dim]")
            return
        err = console.err()
        if result.status == "interrupted":
            err.print(f"[yellow]■[/yellow] {console.escape(label)} [yellow]— interrupted after {took}[/yellow]")
            return
        err.print(f"[bold red]✗[/bold red] {console.escape(label)} [red]— {console.escape(result.message or '')}"
                  f" after {took}[/red]")
        if result.tail and not streamed:
            count = len(result.tail)
            err.print(f"  [dim]{'the last line' if count == 1 else f'the last {count} lines'} of its output:[/dim]")
            for line in result.tail:
                err.print(f"    {console.escape(line)}", soft_wrap=True)
        if result.step.hint:
            err.print(f"  [bold]next:[/bold] {console.escape(result.step.hint)}")


class _Display:
    """Shows one running step: a spinner with rolling lines, or plain lines, or nothing."""

    def __init__(self, runner: Runner, label: str):
        self.runner = runner
        self.label = label
        self.live = None
        self.recent: deque[str] = deque(maxlen=LIVE_LINES)
        if runner.mode == "live":
            from rich.live import Live

            self.live = Live(self._render(), console=console.err(), transient=True, refresh_per_second=8)
            self.live.start()
        elif runner.mode == "stream":
            console.err().print(f"[bold]{console.escape(label)}[/bold]")

    def _render(self):
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        lines = [Text(f"    {line}", style="dim", overflow="ellipsis", no_wrap=True) for line in self.recent]
        return Group(Spinner("dots", text=Text(self.label)), *lines)

    def line(self, text: str) -> None:
        if self.live is not None:
            self.recent.append(text)
            self.live.update(self._render())
        elif self.runner.mode == "stream":
            console.err().print(f"  [dim]│[/dim] {console.escape(text)}", soft_wrap=True)

    def tick(self) -> None:
        if self.live is not None:
            self.live.refresh()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


# --- processes ----------------------------------------------------------------------------


def _reader(stream, lines: queue.Queue) -> None:
    def pump():
        try:
            for raw in iter(stream.readline, b""):
                lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            lines.put(None)

    threading.Thread(target=pump, daemon=True).start()


def _drain(lines: queue.Queue, tail: deque, mask: LineMasker, open_streams: int, wait: float = 1.0) -> None:
    """Keep the last words of a stopped command (its "interrupted" message) for the tail."""
    deadline = time.monotonic() + wait
    while open_streams and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            continue
        if line is None:
            open_streams -= 1
        else:
            tail.extend(mask.feed(line))
    tail.extend(mask.close())


def _feed(process: subprocess.Popen, data: bytes) -> None:
    try:
        process.stdin.write(data)
        process.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # the command exited without reading; its exit code tells the story


def _signal_group(pid: int, sig: int) -> bool:
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _terminate(process: subprocess.Popen, grace: float) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the process group, `grace` apart."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        _signal_group(process.pid, sig)
        try:
            process.wait(timeout=grace if sig != signal.SIGKILL else 10)
        except subprocess.TimeoutExpired:
            continue
        except (KeyboardInterrupt, Interrupted):
            _signal_group(process.pid, signal.SIGKILL)  # a second Ctrl-C: no more waiting
            process.wait()
            break
    _signal_group(process.pid, signal.SIGKILL)  # leftovers in the group (a CLI's own children)


class interrupts:
    """Inside this block Ctrl-C, SIGTERM and SIGHUP (the terminal closed) raise Interrupted.
    Children run in their own process groups, so the signal reaches only us and we decide
    how they stop."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        if signum == signal.SIGHUP:
            _leave_the_terminal()
        raise Interrupted(signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _leave_the_terminal() -> None:
    """After a hangup, writing to the terminal fails (EIO): send our output to /dev/null, so
    that stopping what we started is never cut short by a message nobody can see."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        null_device = os.fstat(null).st_rdev
    except OSError:
        return
    for fd in (1, 2):
        try:
            mode = os.fstat(fd)
            if stat.S_ISCHR(mode.st_mode) and mode.st_rdev != null_device:
                os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


# --- background processes: pid files, following, stopping ----------------------------------


def records(root: Path, target: str) -> list[Record]:
    """What a pid file holds (lines it cannot read are skipped)."""
    path = pid_file(root, target)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.isdigit():  # an older streamdeploy wrote bare pids
            found.append(Record(int(line), "background", f"pid {line}", "", legacy=True))
            continue
        try:
            data = json.loads(line)
            found.append(Record(int(data["pid"]), str(data["kind"]), str(data["description"]), str(data["command"]),
                                data.get("start"), data.get("boot")))
        except (ValueError, TypeError, KeyError):
            continue
    return found


def running(root: Path, target: str, kind: str = "background") -> list[Background]:
    """The recorded processes (of ``kind``) that are still the ones streamdeploy started."""
    path = pid_file(root, target)
    return [Background(r.pid, r.description, log_file(root, target), record=r)
            for r in records(root, target) if r.kind == kind and whose(r, path)[0] == "ours"]


def listening_ports(processes: list[Background]) -> set[int] | None:
    """The TCP ports these processes' groups listen on; None where that cannot be told."""
    return ports.listening(pid for item in processes for pid in (_group_members(item.pid) or [item.pid]))


def recorded_targets(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / STATE_DIR).glob("*.pid"))


def whose(record: Record, recorded_in: Path) -> tuple[Literal["ours", "gone", "other"], str]:
    """Is the recorded process (or what is left of its group) still the one we started?

    "ours"; "gone" (nothing is left); or "other" with what now has the pid: it was reused
    after the process exited, or the machine restarted since. Only "ours" may be signalled."""
    pid = record.pid
    if record.legacy:
        return ("ours", "") if _is_ours(pid, recorded_in) else ("gone", "")
    now = _identity(pid)
    if not Path("/proc/self/stat").exists():  # no /proc (macOS): a live pid is all we can tell
        return ("ours", "") if _exists(pid) else ("gone", "")
    if record.boot is not None and now[1] != record.boot:
        return ("other", _described(pid)) if _exists(pid) and not _is_zombie(pid) else ("gone", "")
    if now[0] is not None and now[0] != record.start and not _is_zombie(pid):
        return "other", _described(pid)
    if now[0] is not None and not _is_zombie(pid):
        return "ours", ""
    # The leader has exited: a group keeps its id, and the id is not reused while any
    # member lives, so live members of group `pid` are what is left of ours.
    return ("ours", "") if _group_members(pid) else ("gone", "")


def _identity(pid: int) -> tuple[int | None, str | None]:
    """(start in clock ticks after boot, boot id) of a process: one process, for good."""
    fields = _proc_stat(pid)
    try:
        start = int(fields[19]) if fields else None
    except (IndexError, ValueError):
        start = None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = None
    return start, boot


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _described(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        command = shlex.join(w.decode("utf-8", "replace") for w in words)
    except OSError:
        command = ""
    return f"`{command[:120]}`" if command else "another process"


def _forget_records(path: Path, pids: set[int]) -> None:
    """Drop these pids' lines from a pid file (the whole file once nothing is left)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (FileNotFoundError, UnicodeDecodeError):
        return
    kept = [line for line in lines if _line_pid(line) not in pids]
    if not kept:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(kept), encoding="utf-8")
    os.replace(temporary, path)


def _line_pid(line: str) -> int | None:
    line = line.strip()
    if line.isdigit():
        return int(line)
    try:
        return int(json.loads(line)["pid"])
    except (ValueError, TypeError, KeyError):
        return None


def _is_ours(pgid: int, recorded_in: Path) -> bool:
    """For a bare pid (an older pid file): a process group we started, judged by when the
    file was written: its leader (or what is left of its group) started before that."""
    try:
        recorded = recorded_in.stat().st_mtime + 5
    except FileNotFoundError:
        return False
    try:
        os.kill(pgid, 0)
        leader = os.getpgid(pgid) == pgid and not _is_zombie(pgid)
    except (ProcessLookupError, PermissionError):
        leader = False
    if leader:
        started = _start_time(pgid)
        return started is None or started <= recorded  # later: the pid was reused
    members = _group_members(pgid) or []
    # A group's id is its first leader's pid, which is not reused while the group lives.
    return any((_start_time(pid) or 0.0) <= recorded for pid in members)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux); None elsewhere or when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    fields = _proc_stat(pid)
    return fields is not None and fields[0] in ("Z", "X")


def _group_members(pgid: int) -> list[int] | None:
    """The live (not zombie) processes in a process group; None where /proc cannot tell."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _start_time(pid: int) -> float | None:
    """When a process started (Linux /proc), in seconds since the epoch; None elsewhere."""
    try:
        fields = _proc_stat(pid)
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError, StopIteration):
        return None


def stop(processes: list[Background], grace: float = KILL_GRACE) -> list[tuple[int, str]]:
    """SIGTERM each process group and wait up to `grace` until every process in it is gone
    (not only its leader), then SIGKILL what is left. A second Ctrl-C or SIGTERM while
    waiting kills at once. Returns (pid, how it ended)."""
    outcome = []
    for item in processes:
        _signal_group(item.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for item in processes:
        how = "stopped"
        try:
            gone = _wait_gone(item, max(0.0, deadline - time.monotonic()))
        except (KeyboardInterrupt, Interrupted):
            gone, deadline = False, 0.0  # asked again: no more waiting, for the others either
        if not gone:
            _kill_group(item)
            how = "killed"
        elif item.process is not None and item.process.returncode not in NORMAL_STOP:
            how = f"exited with {item.process.returncode}"
        outcome.append((item.pid, how))
    return outcome


def _kill_group(item: Background) -> None:
    _signal_group(item.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while True:
        try:
            _wait_gone(item, max(0.0, deadline - time.monotonic()))
            return
        except (KeyboardInterrupt, Interrupted):
            continue  # SIGKILL is already on its way; this wait is short


def _wait_gone(item: Background, timeout: float) -> bool:
    """Wait until no process of the group is alive; reap the leader when it is our child."""
    deadline = time.monotonic() + timeout
    while True:
        if item.process is not None:
            item.process.poll()
        else:
            try:
                os.waitpid(item.pid, os.WNOHANG)
            except ChildProcessError:
                pass  # not our child (a detached run's process): its parent reaps it
        if not _group_alive(item.pid):
            if item.process is not None:
                item.process.poll()  # it may have exited since the poll above: keep its code
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours to wait for
    members = _group_members(pgid)
    return members is None or bool(members)  # only zombies left: gone for our purposes


def stop_run(root: Path, target: str, processes: list[Background],
             grace: float = KILL_GRACE) -> list[tuple[int, str]]:
    """Stop the processes a run of `target` started and forget its pid file."""
    outcome = stop(processes, grace)
    pid_file(root, target).unlink(missing_ok=True)
    return outcome


def stop_target(root: Path, target: str, grace: float = KILL_GRACE) -> list[tuple[int, str]]:
    """Stop what `up --target T` left running (--detach, or an `up` that was killed in a
    step); forget the pid file. A pid that is now another process is never signalled."""
    return stop_run(root, target, [*running(root, target), *running(root, target, kind="step")], grace)


def strangers(root: Path, target: str) -> list[tuple[Record, str]]:
    """Recorded pids that now belong to another process (reused, or after a restart), and what it is."""
    path = pid_file(root, target)
    return [(r, what) for r in records(root, target) for state, what in [whose(r, path)] if state == "other"]


def read_tail(path: Path, count: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-count:]


def follow(log: Path, processes: list[Background], mask: Masker | None = None,
           write: Callable[[str], None] | None = None, poll: float = 0.2) -> int | None:
    """Print what the log gains until every process has exited (returns the first exit code)
    or Ctrl-C (raises KeyboardInterrupt). Starts at the log's current end."""
    lines = (mask or Masker(())).lines()
    write = write or (lambda text: console.err().print(console.escape(text), soft_wrap=True))
    position = log.stat().st_size if log.exists() else 0
    pending = b""
    while True:
        chunk = b""
        if log.exists():
            with open(log, "rb") as handle:
                handle.seek(position)
                chunk = handle.read()
            position += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                for text in lines.feed(raw.decode("utf-8", "replace").rstrip("\r")):
                    write(text)
        if not chunk:
            for text in lines.flush():
                write(text)
        exited = [p for p in processes if p.process is not None and p.process.poll() is not None]
        if processes and len(exited) == len(processes):
            for text in [*(lines.feed(pending.decode("utf-8", "replace")) if pending else []), *lines.close()]:
                write(text)
            return exited[0].process.returncode
        time.sleep(poll)


# --- showing a plan without running it ----------------------------------------------------


def plan_as_dict(plan: Plan, secrets_set: Mapping[str, bool] | None = None) -> dict:
    """The plan as data (`plan --json`, `up --dry-run --json`): names only, never values."""
    secrets_set = secrets_set or {}

    def step_dict(index: int, step: Step) -> dict:
        return {
            "index": index,
            "description": step.description,
            "argv": list(step.argv),
            "command": show(step.argv),
            "stdin": ({"secrets": list(step.stdin.secrets), "format": step.stdin.format,
                       **({"optional": list(step.stdin.optional)} if step.stdin.optional else {})}
                      if step.stdin else None),
            "env": dict(step.env),
            "pass_secrets": list(step.pass_secrets),
            "pass_if_set": list(step.pass_if_set),
            "skip_if": ({"argv": list(step.skip_if.argv), "skip_when": step.skip_if.skip_when,
                         "needle": step.skip_if.needle, "reason": skip_reason(step.skip_if)}
                        if step.skip_if else None),
            "cwd": step.cwd,
            "timeout": step.timeout,
            "hint": step.hint,
            "pipe_to": list(step.pipe_to) if step.pipe_to else None,
            "background": step.background,
            "listens": list(step.listens),
        }

    return {
        "target": plan.target,
        "url": plan.url,
        "tools": list(plan.tools),
        "secrets": [{"name": n, "set": bool(secrets_set.get(n))} for n in required_names(plan)],
        "optional_secrets": [{"name": n, "set": bool(secrets_set.get(n))} for n in optional_names(plan)],
        "steps": [step_dict(i, s) for i, s in enumerate(plan.steps, start=1)],
        "writes": [f.path for f in plan.writes],
        "release": dict(plan.release) if plan.release is not None else None,
        "notes": [{"target": n.target, "message": n.message, "key": n.key, "fix": n.fix, "level": n.level}
                  for n in plan.notes],
    }


def print_plan(plan: Plan, secrets_set: Mapping[str, bool] | None = None, mask: Masker | None = None) -> None:
    """The plan for people: each step's command line as it would run, secrets by name."""
    mask = mask or Masker(())
    out = console.out()
    total = len(plan.steps)
    out.print(f"[bold]Plan for {console.escape(plan.target)}[/bold]: {total} step{'s' if total != 1 else ''}"
              " (nothing has run)")
    for file in plan.writes:
        out.print(f"first writes {console.escape(file.path)} (for this deploy; not committed)")
    for index, step in enumerate(plan.steps, start=1):
        out.print(f"[bold][{index}/{total}][/bold] {console.escape(step.description)}")
        command = show(step.argv)
        if step.stdin:
            sent = [*step.stdin.secrets, *(f"{n} (when set)" for n in step.stdin.optional)]
            command += f" <stdin: {', '.join(sent)}>"
        if step.pipe_to:
            command += f" | {show(step.pipe_to)}"
        if step.background:
            command += "  &  (keeps running; output to " + _relative(Path(STATE_DIR) / "logs" / f"{plan.target}.log") + ")"
        out.print(f"    $ {console.escape(mask(command))}", soft_wrap=True)
        if step.env:
            out.print("    env: " + console.escape(mask(" ".join(f"{k}={shlex.quote(v)}" for k, v in step.env))))
        if step.pass_secrets:
            out.print("    secrets in its environment: " + ", ".join(step.pass_secrets))
        if step.pass_if_set:
            out.print("    secrets in its environment when set: " + ", ".join(step.pass_if_set))
        if step.skip_if:
            probe = step.skip_if
            when = {"exit0": "succeeds", "fails": "fails",
                    "contains": f"prints {probe.needle!r}"}[probe.skip_when]
            out.print(f"    [dim]skipped if `{console.escape(show(probe.argv))}` {console.escape(when)}"
                      f" ({console.escape(skip_reason(probe))})[/dim]")
        if step.cwd and step.cwd != ".":
            out.print(f"    [dim]in {console.escape(step.cwd)}/[/dim]")
    secrets_set = secrets_set or {}
    required, optional = required_names(plan), optional_names(plan)
    if required:
        listed = ", ".join(f"{n} ({'set' if secrets_set.get(n) else 'NOT SET'})" for n in required)
        out.print(f"secrets (names only): {listed}")
    if optional:
        listed = ", ".join(f"{n} ({'set' if secrets_set.get(n) else 'not set: left out'})" for n in optional)
        out.print(f"optional secrets (names only): {listed}")
    if plan.url:
        out.print(f"then verify: {console.escape(plan.url)}")
    for note in plan.notes:
        where = note.target + (f" ({note.key})" if note.key else "")
        if note.level == "warning":
            console.warning(note.message, where=where, fix=note.fix)
        else:
            console.info(f"{where}: {note.message}")


# --- small things -------------------------------------------------------------------------


def _secret_names(step: Step) -> list[str]:
    return [*(step.stdin.secrets if step.stdin else ()), *step.pass_secrets]


def skip_reason(probe: Probe) -> str:
    return probe.reason or SKIP_REASONS[probe.skip_when]


def seconds_text(value: float) -> str:
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


def _pids(items: list[Background]) -> str:
    return "pid " + ", ".join(str(b.pid) for b in items)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
