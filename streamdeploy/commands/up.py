"""`streamdeploy up`, `plan` and `down`: ship the description through a platform's own CLI.

`up --target T`, in order, stopping at the first thing that is not right:

1. load the description and ask the target for its plan;
2. `check` for this target (errors stop us unless --force);
3. every secret the plan needs has a value (environment, then --env-file): exit 3 if not;
4. every CLI the plan runs is installed and can act (logged in, daemon up): exit 3 if not;
5. read back what the platform already holds, where the target asks (``Target.reads``: a
   Railway volume's region and size, variables set in its dashboard), and plan again with it;
   then write the target's files through the one writer, so what ships is what is on disk, and
   the plan's deploy-time files under .streamdeploy/ (the image tags of this release);
6. run the steps (``runner``), record the release when the target's history is this
   machine's (compose, docker), then verify the service at the plan's URL;
7. for a plan that leaves processes running (local): unless --detach, show their log
   until Ctrl-C or SIGTERM, then stop them (every process of their groups) and exit 130.

From the first step on, Ctrl-C or SIGTERM (a CI timeout, `kill`) at any moment stops
what this run started before `up` exits: a local service never outlives a foreground `up`.
Secrets a step passes only when set (``Step.pass_if_set``: local runs) are optional: a
missing one is a warning, not exit 3.

`plan` and `up --dry-run` print the steps and run nothing; secrets appear as names.
`rollback` ships its plan through the same ``ship`` (no check, no reads, no rendering).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from streamdeploy import console, exitcodes, loader, paths, runner, targets
from streamdeploy import secrets as secret_values
from streamdeploy.problems import ProblemsError, fail
from streamdeploy.targets import local as local_target
from streamdeploy.targets.base import Note, Plan

LOCAL = "local"


def run(
    file: Path | None,
    target: str = LOCAL,
    dry_run: bool = False,
    env_file: Path | None = None,
    force: bool = False,
    detach: bool = False,
    verify: bool = True,
    step_timeout: float = 900.0,
    as_json: bool = False,
) -> int:
    loaded = loader.load(file)
    name = resolve_target(target)
    env_file = _env_file(loaded, name, env_file)
    plan = make_plan(loaded, name)

    def prepare(plan: Plan) -> tuple[Plan, list[str] | None]:
        held = read_held(loaded, name, as_json)
        if held:
            plan = make_plan(loaded, name, held)
        return plan, _write_files(loaded, name, force, as_json, plan.notes, held)

    return ship(loaded, plan, env_file, dry_run=dry_run, detach=detach, verify=verify, step_timeout=step_timeout,
                as_json=as_json, gate=lambda: _gate(loaded, name, force, as_json), prepare=prepare)


def ship(loaded: loader.Loaded, plan: Plan, env_file: Path | None, *, dry_run: bool = False, detach: bool = False,
         verify: bool = True, step_timeout: float = 900.0, as_json: bool = False,
         gate: Callable[[], bool] | None = None,
         prepare: Callable[[Plan], tuple[Plan, list[str] | None]] | None = None, command: str = "up") -> int:
    """Run a plan the one way every command that deploys does (`up`, `rollback`): secrets,
    readiness, ``gate`` (check) and ``prepare`` (read what the platform holds, plan again,
    write the target's files: the final plan and the files written, None to stop) when
    given, the plan's deploy-time files, the runner, then verify (or serve)."""
    name = plan.target
    resolved = resolve_secrets(plan, env_file)
    if dry_run:
        _show(plan, resolved, as_json)
        return exitcodes.OK
    if not step_timeout > 0 or step_timeout == float("inf"):  # nan and inf too: a step that may never end
        raise fail("--step-timeout must be a number of seconds more than 0", fix="e.g. --step-timeout 1200")
    if gate is not None and not gate():
        if as_json:
            console.emit_json({"ok": False, "target": name, "stopped": "check found errors (`streamdeploy check`)"})
        return exitcodes.FAILED
    if resolved.not_ready:
        raise secret_values.unset_problem(resolved, name, env_file, declared=_declared(loaded))
    runner.preflight(plan, resolved.values)
    if verify and plan.url:
        from streamdeploy import verify as verifier

        verifier.read_state(loaded.root)  # corrupt: bad input now, not after the deploy
    from streamdeploy.commands import doctor

    problems = doctor.readiness_problems(plan.tools, target=name)
    if problems:
        raise ProblemsError(problems, exitcodes.NOT_READY)
    written: list[str] | None = []
    if prepare is not None:
        plan, written = prepare(plan)
    if written is None:
        return exitcodes.FAILED
    written = [*written, *_write_state(loaded, plan, as_json)]
    if not as_json:
        _say_left_out(loaded, name, resolved, env_file)
    # Every child's output is masked with every secret the description names: a CLI finds
    # them in its environment even when the plan does not send them (Render's has none).
    work = runner.Runner(loaded.root, name, resolved.values, step_timeout=step_timeout,
                         mode="quiet" if as_json else "auto", hide=described_values(loaded, env_file),
                         attached=not (detach or as_json))
    result = runner.RunResult(name)
    # One guard from step 1 until `up` returns: Ctrl-C or SIGTERM (a CI timeout, `kill`)
    # at any moment stops what this run started, and so does a crash of `up` itself.
    with runner.interrupts():
        try:
            started = time.monotonic()
            # what the source tree holds before the app runs: data that lands there instead of
            # on a volume is a failed verify (local runs only; platforms have no source tree)
            before = local_target.snapshot(loaded.spec, loaded.root) if name == LOCAL else None
            work.run(plan, result=result)
            return _after_run(loaded, plan, result, resolved, work.mask, written, started, detach, verify, as_json,
                              before, command)
        except (KeyboardInterrupt, runner.Interrupted) as signal:
            return _interrupted(loaded, name, result, signal, as_json)
        except BaseException:
            runner.stop_run(loaded.root, name, result.background)
            raise


def _write_state(loaded: loader.Loaded, plan: Plan, as_json: bool) -> list[str]:
    from streamdeploy import writer

    written = writer.write_state(list(plan.writes), loaded.root, bound=paths.project_root(loaded.root))
    if not as_json:
        for path in written:
            console.success(f"wrote {path} (for this deploy; not committed)")
    return written


def _after_run(loaded, plan: Plan, result: runner.RunResult, resolved, mask: secret_values.Masker,
               written: list[str], started: float, detach: bool, verify: bool, as_json: bool,
               before: dict | None = None, command: str = "up") -> int:
    """Verify, then serve in the foreground, leave running (--detach) or stop what the run started."""
    name = plan.target
    outcome = {"ok": result.ok, "command": command, "target": name, "written": written, "run": result.as_dict(),
               "url": plan.url, "verify": None, "secrets_left_out": list(resolved.left_out)}
    if not result.ok:
        _say_stopped(result, name, as_json, command)
        if as_json:
            console.emit_json(outcome)
        return result.exit_code
    if plan.release is not None:  # live now, whatever verify says: what a rollback returns from
        from streamdeploy import releases

        releases.record(loaded.root, name, dict(plan.release))
    if not as_json:
        console.success(f"{name}: {_summary(result)} in {runner.seconds_text(time.monotonic() - started)}")
    code = exitcodes.OK
    if verify and plan.url:
        report = _verify(loaded, plan, resolved, mask, result, as_json, before)
        code = exitcodes.FAILED if report is None else report.exit_code
        outcome["verify"] = report.as_dict() if report is not None else None
        outcome["ok"] = code == exitcodes.OK
    elif verify and not as_json:
        console.info(f"{name}: no URL to verify; once it answers, run `streamdeploy verify URL`")
    if result.background and code == exitcodes.OK:
        if not (detach or as_json):
            return _serve(loaded, plan, result, mask)
        if as_json:
            outcome["background"] = result.as_dict()["background"]
        else:
            _say_detached(loaded, name, plan, result)
    elif result.background and not detach:
        runner.stop_run(loaded.root, name, result.background)
    elif not as_json and any(b.process is not None and b.process.poll() is None for b in result.background):
        console.info(f"left running for you to look at (pid {', '.join(str(b.pid) for b in result.background)}, "
                     f"log {result.background[0].log}); `streamdeploy down` stops it")
    if as_json:
        console.emit_json(outcome)
    return code


def _interrupted(loaded, name: str, result: runner.RunResult, signal: BaseException, as_json: bool) -> int:
    """Ctrl-C or SIGTERM after the steps (verifying, serving): stop what this run started."""
    why = _signal_name(signal)
    if not as_json:
        console.err().print(f"[yellow]{why}[/yellow]: stopping …" if result.background
                            else f"[yellow]interrupted[/yellow] ({why})")
    stopped = runner.stop_run(loaded.root, name, result.background) if result.background else []
    if as_json:
        console.emit_json({"ok": False, "target": name, "interrupted": why, "run": result.as_dict(),
                           "stopped": [{"pid": pid, "how": how} for pid, how in stopped]})
    else:
        _say_outcome(stopped)
    return exitcodes.INTERRUPTED


def show_plan(file: Path | None, target: str = LOCAL, as_json: bool = False) -> int:
    loaded = loader.load(file)
    name = resolve_target(target)
    plan = make_plan(loaded, name)
    _show(plan, resolve_secrets(plan, _env_file(loaded, name, None)), as_json)
    return exitcodes.OK


def down(file: Path | None, as_json: bool = False) -> int:
    """Stop what `up --detach` (or an `up` that was killed) left running: every process in a
    .streamdeploy/<target>.pid that is still the one streamdeploy started.

    ``--json``: ``stopped`` (target, pid, how), ``already_stopped`` (targets whose recorded
    processes had all exited) and ``left_alone`` (recorded pids another process now has)."""
    loaded = loader.load(file)
    root = loaded.root
    recorded = runner.recorded_targets(root)
    stopped: list[dict] = []
    left_alone: list[dict] = []
    already: list[str] = []
    for name in recorded:
        for record, now in runner.strangers(root, name):
            left_alone.append({"target": name, "pid": record.pid, "command": record.command, "now": now})
            console.warning(f"pid {record.pid} is now {now}, not the `{record.command}` streamdeploy started (it "
                            "exited and the pid went to another process, or the machine restarted): left it alone",
                            where=name)
        outcome = runner.stop_target(root, name)
        if not outcome:
            already.append(name)
        for pid, how in outcome:
            stopped.append({"target": name, "pid": pid, "how": how})
            if not as_json:
                console.success(f"{name}: {how} (pid {pid})")
    if as_json:
        console.emit_json({"ok": True, "stopped": stopped, "already_stopped": already, "left_alone": left_alone})
    elif not stopped:
        console.info("nothing is running" + (" (the recorded processes had already exited)" if recorded else ""))
    return exitcodes.OK


# --- steps of `up` -------------------------------------------------------------------------


def resolve_target(target: str) -> str:
    if target == "all":
        raise fail("`up` ships one target at a time", fix=f"pass --target with one of: {', '.join(targets.DEPLOYABLE)}")
    if target in targets.EXTRAS:
        raise fail(f"`{target}` is not a place to ship to: `render --target {target}` writes its files",
                   fix=f"pass --target with one of: {', '.join(targets.DEPLOYABLE)}")
    if target not in targets.DEPLOYABLE:
        raise targets.unknown(target, targets.DEPLOYABLE)
    return target


def make_plan(loaded: loader.Loaded, name: str, held: tuple[tuple[str, str], ...] = (), action: str = "plan") -> Plan:
    """The target's plan for `up` (``action`` "plan") or for `rollback` ("rollback")."""
    from streamdeploy.commands.render import context_for

    target = targets.get(name)
    command = "up" if action == "plan" else action
    method = getattr(target, action, None)
    try:
        if method is None:
            raise NotImplementedError
        return method(loaded.spec, context_for(loaded, held))
    except ProblemsError as error:  # a target's own rule (targets.fly.vm_size): say where it is
        raise loader.placed(error, loaded) from None
    except NotImplementedError:
        raise fail(f"`{command} --target {name}` is not available yet", fix="render the files with "
                   f"`streamdeploy render --target {name}` and ship them with the platform's CLI") from None


def read_held(loaded: loader.Loaded, name: str, as_json: bool = False) -> tuple[tuple[str, str], ...]:
    """Run the target's reads (read-only commands, through the runner's `capture`); a keyless
    read that fails (not linked yet: a first deploy) ends them with nothing held."""
    from streamdeploy.commands.render import context_for

    reads = getattr(targets.get(name), "reads", None)
    if reads is None:
        return ()
    held = []
    for read in reads(loaded.spec, context_for(loaded)):
        if not as_json:
            console.info(f"{name}: reading what it holds: `{runner.show(read.argv)}`")
        answer = runner.capture(read.argv, timeout=read.timeout, env={**os.environ, **dict(read.env)},
                                cwd=loaded.root)
        if read.key is None and not answer.ok:
            if not as_json:
                console.info(f"{name}: nothing to read back yet (a first deploy)")
            return ()
        if read.key is not None:
            held.append((read.key, answer.stdout))
    return tuple(held)
def described_values(loaded: loader.Loaded, env_file: Path | None) -> list[str]:
    """The values of every secret the description names that has one (environment, env file)."""
    names = secret_values.declared_names(loaded.spec)
    return list(secret_values.resolve((), env_file, optional=names).values.values())


def resolve_secrets(plan: Plan, env_file: Path | None) -> secret_values.Resolved:
    """Every secret the plan sends, resolved before step 1 (so nothing is looked up mid-run)."""
    return secret_values.resolve(secret_values.required_names(plan), env_file,
                                 optional=secret_values.optional_names(plan), groups=plan.secret_groups)


def _say_left_out(loaded: loader.Loaded, name: str, resolved: secret_values.Resolved,
                  env_file: Path | None) -> None:
    declared = _declared(loaded)
    where = str(env_file) if env_file else f".env next to {loaded.path.name}" if name == LOCAL else "a file"
    for secret in resolved.too_short:
        console.warning(f"the value of {secret} is shorter than {secret_values.MIN_MASKED} characters: too short "
                        "to hide in output, so it is not masked", where=name,
                        fix=f"use a real value for {secret} (a placeholder is visible wherever it appears)")
    groups = [g for s in loaded.spec.services.values() for g in s.secret_groups]
    said: set[str] = set()
    for group in groups:  # alternatives: one value is enough; none is worth one warning
        if any(n in resolved.values for n in group):
            said.update(group)
        elif not said.intersection(group):
            said.update(group)
            key = declared.get(group[0], {}).get("key")
            console.warning(f"none of {', '.join(group)} is set: the service starts without them, and it "
                            "needs one of them for what uses it", where=name + (f" ({key})" if key else ""),
                            fix=f"export one of them, or put it in {where} (or pass --env-file FILE)")
    optional = {n for s in loaded.spec.services.values() for n in s.optional_secrets}
    for secret in resolved.left_out:
        if secret in said:
            continue
        key = declared.get(secret, {}).get("key")
        if secret in optional:
            what = "the service starts without it (it is optional)"
        elif name == LOCAL:
            what = f"the service starts without it (it is optional for `up --target {name}`)"
        else:  # Render: a secret set on the platform before is kept
            what = f"`up --target {name}` keeps the value the platform holds, and stops if it holds none"
        console.warning(f"{secret} is not set: {what}", where=name + (f" ({key})" if key else ""),
                        fix=f"export {secret}=..., or put {secret}=... in {where} (or pass --env-file FILE)")


def _declared(loaded: loader.Loaded) -> dict[str, dict]:
    """Where each secret is listed in the description, so a missing one points there."""
    found: dict[str, dict] = {}
    for service_name, service in loaded.spec.services.items():
        for index, entry in enumerate(service.secret_entries):
            path = ("services", service_name, "secrets", index)
            position = loaded.positions.of(path)
            names = getattr(entry, "any_of", None) or [getattr(entry, "name", entry)]
            for secret in names:
                found.setdefault(secret, {"file": str(loaded.path), "key": f"services.{service_name}.secrets",
                                          "line": position[0] if position else None})
    return found


def _env_file(loaded: loader.Loaded, name: str, given: Path | None) -> Path | None:
    # `up --target local` reads the app's .env like the app itself would in development;
    # platforms only get what the user points at, never a development .env by accident.
    if given is not None:
        return given
    default = loaded.root / ".env"
    return default if name == LOCAL and default.is_file() else None


def _gate(loaded: loader.Loaded, name: str, force: bool, as_json: bool) -> bool:
    """`check` for this target: True to go on (no errors, or --force)."""
    from streamdeploy.commands.render import gate_on_check

    return name in gate_on_check(loaded, [name], force, as_json)


def _write_files(loaded: loader.Loaded, name: str, force: bool, as_json: bool,
                 plan_notes=(), held: tuple[tuple[str, str], ...] = ()) -> list[str] | None:
    from streamdeploy import writer
    from streamdeploy.commands.render import context_for

    rendering = targets.get(name).render(loaded.spec, context_for(loaded, held))
    outcome = writer.write_all(list(rendering.files), loaded.root, loaded.path.name, force=force,
                               bound=paths.project_root(loaded.root))
    if outcome.conflicts:
        for path, diff in outcome.conflicts:
            console.err().print(f"[bold red]refusing to overwrite[/bold red] {console.escape(path)}: it was edited "
                                "by hand (or not written by streamdeploy)")
            console.err().print(console.escape(diff))
        console.err().print("nothing was shipped: move your edits into streamdeploy.yaml, or pass --force to "
                            "overwrite them")
        if as_json:
            console.emit_json({"ok": False, "conflicts": [p for p, _ in outcome.conflicts]})
        return None
    if not as_json:
        for path in outcome.written:
            console.success(f"wrote {path}")
    _print_notes([*rendering.notes, *plan_notes], as_json)
    return outcome.written


def _show(plan: Plan, resolved: secret_values.Resolved, as_json: bool) -> None:
    present = {n: True for n in resolved.values}
    if as_json:
        console.emit_json(runner.plan_as_dict(plan, present))
    else:
        runner.print_plan(plan, present, resolved.masker())


def _print_notes(notes: list[Note], as_json: bool) -> None:
    if as_json:
        return
    for note in dict.fromkeys(notes):  # a note from both render and plan shows once
        where = note.target + (f" ({note.key})" if note.key else "")
        if note.level == "warning":
            console.warning(note.message, where=where, fix=note.fix)
        else:
            console.info(f"{where}: {note.message}")


def _summary(result: runner.RunResult) -> str:
    counts = {status: sum(1 for r in result.results if r.status == status) for status in ("ok", "skipped", "started")}
    parts = [f"{counts['ok']} step{'s' if counts['ok'] != 1 else ''} ran"]
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} already done")
    if counts["started"]:
        parts.append(f"{counts['started']} process{'es' if counts['started'] != 1 else ''} started")
    return ", ".join(parts)


def _say_stopped(result: runner.RunResult, name: str, as_json: bool, command: str = "up") -> None:
    failed = result.failed
    if failed is None or as_json:
        return
    done = sum(1 for r in result.results if r.status in ("ok", "skipped", "started"))
    where = f"step {failed.index} ({failed.step.description})"
    if failed.status == "interrupted":
        console.err().print(f"[yellow]interrupted[/yellow] during {console.escape(where)}; {done} of the "
                            f"steps before it finished. `streamdeploy {command} --target {name}` again picks up "
                            "from the state the platform is in.")
    else:
        console.err().print(f"[bold red]{name}: stopped at {console.escape(where)}[/bold red]; "
                            f"{done} step{'s' if done != 1 else ''} before it finished. Fix the cause and run "
                            f"`{command}` again.")


# --- verifying and serving ---------------------------------------------------------------


def _verify(loaded, plan: Plan, resolved, mask: secret_values.Masker, result: runner.RunResult, as_json: bool,
            before: dict | None = None):
    """Run `verify` against each web service the plan reaches, while making sure local processes
    stay alive: the plan's main URL fully (health, stream, data), the others' health (a dashboard
    answers on its own health path). ``before``: a local run's volume snapshot, to check the data
    went into the volumes and not the source tree.

    Returns the main report, failed when another service failed, or None when a local process
    died first (then it is stopped). Ctrl-C and SIGTERM reach the caller as ``runner.Interrupted``."""
    from streamdeploy import verify as verifier
    from streamdeploy.commands.verify import print_report
    from streamdeploy.commands.verify import progress as show_progress

    env = {**os.environ, **resolved.values}
    box: dict = {"reports": []}
    others = [(service, url) for service, url in plan.urls if url != plan.url]
    main = next((service for service, url in plan.urls if url == plan.url), None)

    def work():
        try:
            for service, url, marker in [(main, plan.url, verifier.AUTO), *((s, u, None) for s, u in others)]:
                if not as_json:
                    console.info(f"verifying {url}" + (f" ({service})" if service and others else "") + " …")
                box["reports"].append(verifier.run_checks(
                    url, loaded, service=service, expect_marker=marker, env=env,
                    progress=None if as_json else show_progress, mask=mask))
        except BaseException as error:  # handed to the main thread
            box["error"] = error

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        dead = [b for b in result.background if b.process is not None and b.process.poll() is not None]
        if dead:
            _say_died(dead[0], mask)
            runner.stop_run(loaded.root, plan.target, result.background)
            return None
    if "error" in box:
        raise box["error"]
    report, *rest = box["reports"]
    if before is not None and report.ok:
        report.checks.extend(local_target.volume_checks(loaded.spec, loaded.root, before))
    if not as_json:
        for one in box["reports"]:
            print_report(one)
    if not all(r.ok for r in box["reports"]) and result.background:
        log = result.background[0].log
        console.err().print(f"[dim]last lines of {console.escape(str(log))}:[/dim]")
        for line in mask.all_lines(runner.read_tail(log, runner.TAIL_LINES)):
            console.err().print("    " + console.escape(line), soft_wrap=True)
    for other in rest:
        report.notes.append(f"{other.service} at {other.url}: " + ("ok" if other.ok else "failed: " + ", ".join(
            c.name for c in other.checks if c.status == "failed")))
        if not other.ok:
            report.checks.append(verifier.Check(f"{other.service}", "failed", f"{other.url} did not pass verify"))
    return report


def _say_died(process: runner.Background, mask: secret_values.Masker) -> None:
    code = process.process.returncode if process.process is not None else "?"
    console.err().print(f"[bold red]✗[/bold red] {console.escape(process.description)} exited with {code} before it "
                        "answered; its last lines:")
    for line in mask.all_lines(runner.read_tail(process.log, runner.TAIL_LINES)):
        console.err().print("    " + console.escape(line), soft_wrap=True)


def _signal_name(signal: BaseException) -> str:
    """SIGTERM, SIGHUP (the terminal closed), or Ctrl-C."""
    if isinstance(signal, runner.Interrupted) and signal.args and signal.args[0] != "SIGINT":
        return str(signal.args[0])
    return "Ctrl-C"


def _serve(loaded, plan: Plan, result: runner.RunResult, mask: secret_values.Masker) -> int:
    """Foreground: show the service's log until Ctrl-C or SIGTERM, the way to stop a service
    that was deployed and verified (exit 0, after a clean stop); or until it exits on its
    own (exit 1)."""
    log = result.background[0].log
    console.err().print(f"[bold]serving[/bold] at {console.escape(plan.url or '(no URL)')} — logs from "
                        f"{console.escape(str(log))} follow; Ctrl-C stops it")
    try:
        exit_code = runner.follow(log, result.background, mask)
    except (KeyboardInterrupt, runner.Interrupted) as signal:
        why = _signal_name(signal)
        console.err().print(f"[yellow]{why}[/yellow]: stopping …")
        _say_outcome(runner.stop_run(loaded.root, plan.target, result.background))
        return exitcodes.OK
    console.err().print(f"[bold red]the service exited[/bold red] (code {exit_code})")
    _say_outcome(runner.stop_run(loaded.root, plan.target, result.background))
    return exitcodes.FAILED


def _say_outcome(stopped: list[tuple[int, str]]) -> None:
    for pid, how in stopped:
        console.err().print(f"[dim]pid {pid}: {how}[/dim]")


def _say_detached(loaded, name: str, plan: Plan, result: runner.RunResult) -> None:
    pids = ", ".join(str(b.pid) for b in result.background)
    log = result.background[0].log
    console.success(f"running in the background (pid {pids}) at {plan.url or '(no URL)'}")
    where = "" if loaded.path.parent == Path.cwd() else f" -f {loaded.path}"
    console.info(f"logs: {log}\nstop it with `streamdeploy down{where}`")
