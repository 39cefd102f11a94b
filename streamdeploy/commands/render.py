"""`streamdeploy render`: description -> platform files, through the one writer."""

from __future__ import annotations

import sys
from pathlib import Path

from streamdeploy import console, exitcodes, loader, paths, targets, writer
from streamdeploy.problems import ProblemsError, fail
from streamdeploy.targets.base import Context, Note, RenderedFile


def collect(loaded: loader.Loaded, names: list[str], *,
            skip_refused: bool = False) -> tuple[list[RenderedFile], list[Note]]:
    """Render every named target; files shared by several targets (the Dockerfile) appear once.

    ``skip_refused`` (`--target all`): a target that cannot express the description (Cloud Run
    and a volume) is left out with a note instead of stopping the others."""
    ctx = context_for(loaded)
    files: dict[str, RenderedFile] = {}
    notes: list[Note] = []
    for name in names:
        try:
            rendering = targets.get(name).render(loaded.spec, ctx)
        except ProblemsError as error:  # a target's own rule (targets.fly.vm_size): say where it is
            if skip_refused and len(names) > 1:
                problem = error.problems[0]
                notes.append(Note(name, f"skipped: {problem.message}", key=problem.key, fix=problem.fix))
                continue
            raise loader.placed(error, loaded) from None
        for file in rendering.files:
            previous = files.get(file.path)
            if previous is not None and previous.content != file.content:
                raise AssertionError(f"targets disagree on {file.path}")  # a bug, not a user error
            files[file.path] = file
        notes.extend(n for n in rendering.notes if n not in notes)
    return list(files.values()), notes


def context_for(loaded: loader.Loaded, held: tuple[tuple[str, str], ...] = ()) -> Context:
    return Context(root=loaded.root, description=loaded.path.name, held=held)


def resolve_targets(target: str, spec=None) -> list[str]:
    names = targets.expand(target, spec)
    for name in names:
        if name not in targets.RENDERABLE:
            raise targets.unknown(name, [*targets.RENDERABLE, "all"])
    return names


def _platforms(names: list[str]) -> list[str]:
    """The names `check` judges: platforms, not the extras around them (a CI workflow)."""
    return [n for n in names if n not in targets.EXTRAS]


def gate_on_check(loaded: loader.Loaded, names: list[str], force: bool, as_json: bool,
                  every: bool = False) -> list[str]:
    """Run `check` for these targets and print what matters; return the targets to go on with.

    A named target with errors stops (unless ``force``). With ``--target all`` a target the
    service cannot run on is skipped and named, so one incompatible platform does not block
    the configs for the others.
    """
    import streamdeploy.capabilities as capabilities  # no silent fallback when it cannot load
    from streamdeploy.commands.check import print_findings

    platforms = _platforms(names)
    findings = capabilities.check(loaded, platforms)
    runnable = capabilities.runnable(findings, platforms)
    blocked = [n for n in platforms if n not in runnable]
    everywhere = capabilities.ANY in capabilities.blocked(findings)
    shown = [f for f in findings if f.severity == "error" or (f.severity == "warning" and not every)]
    if not as_json:
        print_findings(shown, compact=True)
        warnings = sum(f.severity == "warning" for f in findings)
        if every and warnings:
            console.say(f"{warnings} warning(s) about these platforms: `streamdeploy check` explains them")
    if not blocked or force:
        return names
    if every and not everywhere:
        going = [n for n in names if n not in blocked]
        console.say(("skipped", "yellow"), f" {', '.join(blocked)}: this service cannot run there as described "
                    "(errors above); pass --force to render anyway")
        return going
    errors = sum(f.severity == "error" for f in findings)
    console.say(("stopped:", "bold red"), f" {errors} error{'s' if errors > 1 else ''} from `check`;"
                " fix them, or pass --force to go on anyway")
    return []


def run(
    file: Path | None,
    target: str = "all",
    out: Path | None = None,
    to_stdout: bool = False,
    check_only: bool = False,
    force: bool = False,
    as_json: bool = False,
) -> int:
    loaded = loader.load(file)
    names = resolve_targets(target, loaded.spec)
    if not check_only and not to_stdout:
        names = gate_on_check(loaded, names, force, as_json, every=target == "all")
        if not names:
            if as_json:  # a failure prints its JSON document too
                console.emit_json({"ok": False, "stopped": "check found errors (`streamdeploy check`)"})
            return exitcodes.FAILED
    elif (check_only or to_stdout) and target == "all" and not force:
        names = _not_skipped(loaded, names)  # the files `render --target all` writes, no more
    files, notes = collect(loaded, names, skip_refused=target == "all")
    source = loaded.path.name
    out_dir = (out or loaded.root).resolve()
    # Where files may land: the project (a build context may be a sibling folder), or --out.
    bound = out_dir if out is not None else paths.project_root(loaded.root)
    if to_stdout and as_json:
        console.emit_json({"ok": True, "files": [{"path": f.path, "content": writer.with_header(f, source)}
                                                 for f in files], "notes": [n.__dict__ for n in notes]})
        return exitcodes.OK
    if to_stdout:
        for f in files:
            sys.stdout.write(f"==> {f.path} <==\n{writer.with_header(f, source)}\n")
        _print_notes(notes, as_json=False)
        return exitcodes.OK
    if check_only:
        drifted = writer.drift(files, out_dir, source, bound=bound)
        if as_json:
            console.emit_json({"ok": not drifted, "drift": [{"path": p, "state": s} for p, s in drifted]})
        elif drifted:
            for path, state in drifted:
                console.err().print(f"[red]{state}[/red]: {console.escape(path)}")
            console.err().print("run `streamdeploy render` to bring them up to date")
        else:
            console.success(f"{len(files)} generated files are up to date")
        return exitcodes.FAILED if drifted else exitcodes.OK
    outcome = writer.write_all(files, out_dir, source, force=force, bound=bound)
    if outcome.conflicts:
        for path, diff in outcome.conflicts:
            console.err().print(f"[bold red]refusing to overwrite[/bold red] {console.escape(path)}: "
                                "it was edited by hand (or not written by streamdeploy)")
            console.err().print(console.escape(diff), markup=True)
        console.err().print("keep your edits by moving them into streamdeploy.yaml, or pass --force to overwrite")
        if as_json:
            console.emit_json({"ok": False, "conflicts": [p for p, _ in outcome.conflicts]})
        return exitcodes.FAILED
    _print_notes(notes, as_json)
    if as_json:
        console.emit_json({"ok": True, "written": outcome.written, "unchanged": outcome.unchanged,
                           "notes": [n.__dict__ for n in notes]})
    else:
        for path in outcome.written:
            console.success(f"wrote {_shown(out_dir / path)}")
        if outcome.unchanged:
            console.info(f"{len(outcome.unchanged)} file(s) already up to date")
    return exitcodes.OK


def _not_skipped(loaded: loader.Loaded, names: list[str]) -> list[str]:
    """The targets `render --target all` renders: those `check` finds no error for."""
    from streamdeploy import capabilities

    platforms = _platforms(names)
    findings = capabilities.check(loaded, platforms)
    if capabilities.ANY in capabilities.blocked(findings):
        return names
    runnable = capabilities.runnable(findings, platforms)
    return [n for n in names if n in runnable or n not in platforms]


def _print_notes(notes: list[Note], as_json: bool) -> None:
    if as_json:
        return
    for note in notes:
        where = f"{note.target}" + (f" ({note.key})" if note.key else "")
        if note.level == "warning":
            console.warning(note.message, where=where, fix=note.fix)
        else:
            console.info(f"{where}: {note.message}")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
