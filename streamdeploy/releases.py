"""Which release is live, and which one `rollback` returns to: one rule for every target.

A release is what one deploy made live, known by its code: the image reference Fly
records, a Deployment revision's image, a Render deploy's commit, the content tags
`up` gave compose's and docker's images. Going back is a stack: each deploy of new code
goes on top; a deploy of code that was live before (a rollback, or an `up` of the same
code) takes the history back to that point. So the previous release is the one that was
live before the current one first went live: a second rollback goes one further back,
never to the release the first one left (`up` deploys that again, on purpose).

Targets whose platform keeps the history read it from the platform, from any machine
(a plan step pipes the platform's list into ``python -m streamdeploy.targets.<t>
rollback``, which picks the release here and runs the platform's own command). Compose
and docker have no platform: `up` records what it made live in
``.streamdeploy/releases.json`` on this machine.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from streamdeploy import exitcodes

HISTORY = Path(".streamdeploy") / "releases.json"
KEEP = 50  # releases kept per target in the local history


@dataclass(frozen=True)
class Release:
    id: str  # the platform's name for it: Fly's version, a revision, a deployment id
    code: str  # what identifies its code: an image reference, a commit, content tags


def lineage(releases: Iterable[Release]) -> list[Release]:
    """Releases oldest first -> the stack of distinct code, the live one last (newest release
    of each code)."""
    stack: list[Release] = []
    for release in releases:
        same = next((i for i, r in enumerate(stack) if r.code == release.code), None)
        if same is None:
            stack.append(release)
        else:
            del stack[same:]
            stack.append(release)
    return stack


def previous(releases: Iterable[Release]) -> Release | None:
    """The release to go back to, or None when the live one is the first."""
    stack = lineage(releases)
    return stack[-2] if len(stack) > 1 else None


def nothing_before(what: str, live: str | None, fix: str) -> str:
    """The message when there is no earlier release (exit code 1)."""
    now = f"; live now: {live}" if live else ""
    return f"no earlier release of {what} to roll back to{now}. {fix}"


# --- compose and docker: the history is this machine's ------------------------------------


def read(root: Path, target: str) -> list[dict[str, str]]:
    """What `up` and `rollback` made live on this machine for ``target``, oldest first:
    [{service: image reference}]."""
    try:
        data = json.loads((root / HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("targets", {}).get(target, []) if isinstance(data, dict) else []
    return [e["images"] for e in entries if isinstance(e, dict) and isinstance(e.get("images"), dict)]


def record(root: Path, target: str, images: dict[str, str]) -> None:
    """Append what is live now (the one writer writes it; .streamdeploy/ stays out of git)."""
    from streamdeploy import clock, writer
    from streamdeploy.targets.base import RenderedFile

    try:
        data = json.loads((root / HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        data = {"version": 1, "targets": {}}
    entries = [e for e in data["targets"].get(target, []) if isinstance(e, dict)]
    entries.append({"images": dict(sorted(images.items())), "at": clock.now().isoformat(timespec="seconds")})
    data["targets"][target] = entries[-KEEP:]
    writer.write_state([RenderedFile(HISTORY.as_posix(), json.dumps(data, indent=2) + "\n")], root)


def local_previous(root: Path, target: str) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(live, previous) image sets from this machine's history (None: unknown / none)."""
    events = read(root, target)
    history = [Release(str(i), json.dumps(images, sort_keys=True)) for i, images in enumerate(events)]
    stack = lineage(history)
    live = json.loads(stack[-1].code) if stack else None
    before = previous(history)
    return live, json.loads(before.code) if before else None


def none_here(target: str, live: dict[str, str] | None):
    """The error (exit 1) when this machine's history has no release before the live one."""
    from streamdeploy.problems import fail

    if live is None:
        message = (f"nothing to roll back to: `streamdeploy up --target {target}` has recorded no release on this "
                   f"machine ({HISTORY})")
    else:
        message = nothing_before("this project on this machine", ", ".join(live.values()),
                                 f"`rollback --target {target}` returns to what an earlier `up` ran here.")
    return fail(message, fix=f"to run older code, check it out (`git checkout <commit>`) and run `streamdeploy up "
                             f"--target {target}`", exit_code=exitcodes.FAILED)


# --- glue: run the platform's own command once the release is known --------------------


def run_with(argv: Sequence[str], message: str, stdin: str | None = None) -> int:
    """Say which release, then become the platform's command: its exit code is the step's.
    ``stdin``: what the command reads on its standard input (no file is left behind)."""
    import tempfile

    print(message, flush=True)
    if stdin is not None:
        handle = tempfile.TemporaryFile()  # unlinked at once: only this process and the command see it
        handle.write(stdin.encode("utf-8"))
        handle.flush()
        handle.seek(0)
        os.dup2(handle.fileno(), 0)
    os.execvp(argv[0], list(argv))
    return exitcodes.FAILED  # not reached


def glue(argv: list[str] | None, module: str, usage: str, what: str,
         choose: Callable[[list[str], list[str], object], int]) -> int:
    """``python -m <module> rollback [ARG...] -- COMMAND...`` with the platform's JSON list (the
    output of ``what``) on stdin: ``choose(args, command, listed)`` picks the release and
    returns ``run_with(...)`` or ``stop(...)``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["rollback"] or "--" not in args or args.index("--") == len(args) - 1:
        print(f"usage: python -m {module} rollback {usage}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    split = args.index("--")
    try:
        listed = read_json(sys.stdin.read(), what)
    except LookupError as error:
        return stop(str(error))
    return choose(args[1:split], args[split + 1:], listed)


def stop(message: str) -> int:
    print(message, file=sys.stderr, flush=True)
    return exitcodes.FAILED


def read_json(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError:
        raise LookupError(f"{what} did not answer with JSON: {text.strip()[:300]}") from None
