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
from typing import Iterable, Sequence

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


# --- the programs the rollback plans pipe into -------------------------------------------
# `python -m streamdeploy.glue rollback PLATFORM [ARG...] -- COMMAND...`, the platform's JSON
# list on stdin: pick the release, then become the platform's command (its exit code is the
# step's), or stop with exit 1 when there is nothing earlier. They run as plan steps, so this
# module imports nothing heavy (no targets, no pydantic).

GLUE = (sys.executable, "-m", "streamdeploy.glue", "rollback")
REVISION = "deployment.kubernetes.io/revision"  # set by the Deployment controller on each ReplicaSet
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"  # the revisions a reused ReplicaSet had


def fly_previous(listed) -> tuple[str | None, str | None]:
    """(live image, image to go back to) from `fly releases --json` (fly-go Release: Version,
    Status, ImageRef): the releases that completed, and the newest even when it failed (its
    Machines may run it)."""
    rows = sorted((r for r in listed if isinstance(r, dict) and r.get("ImageRef")),
                  key=lambda r: int(r.get("Version") or 0)) if isinstance(listed, list) else []
    kept = [r for r in rows if r.get("Status") == "complete"]
    if rows and rows[-1].get("Status") == "failed":
        kept.append(rows[-1])
    return _live_and_previous([Release(f"v{r.get('Version')}", r["ImageRef"]) for r in kept])


def railway_previous(listed) -> tuple[dict | None, dict | None]:
    """(live deployment, the one to roll back to) from `railway deployment list --json`: the
    newest SUCCESS (or SLEEPING) one, and the newest REMOVED one created before it. The list
    says nothing of which deployment a rollback restored, so this is no stack."""
    rows = sorted((d for d in listed if isinstance(d, dict) and d.get("id")),
                  key=lambda d: str(d.get("createdAt") or "")) if isinstance(listed, list) else []
    live_rows = [d for d in rows if d.get("status") in ("SUCCESS", "SLEEPING")]
    live = live_rows[-1] if live_rows else None
    before = [d for d in rows if live is not None and d.get("status") == "REMOVED"
              and str(d.get("createdAt") or "") < str(live.get("createdAt") or "")]
    return live, (before[-1] if before else None)


def kubernetes_previous(replica_sets: list, service: str) -> tuple[str | None, str | None]:
    """(live image, image to go back to) of one Deployment, from its ReplicaSets: each revision
    number a ReplicaSet held (revision-history, then revision), in order, is one release of
    its image."""
    events = []
    for replica_set in replica_sets if isinstance(replica_sets, list) else []:
        metadata = (replica_set.get("metadata") if isinstance(replica_set, dict) else None) or {}
        if not any(o.get("kind") == "Deployment" and o.get("name") == service
                   for o in metadata.get("ownerReferences") or []):
            continue
        containers = (((replica_set.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        image = next((c.get("image") for c in containers if c.get("name") == service), None)
        annotations = metadata.get("annotations") or {}
        numbers = [*annotations.get(REVISION_HISTORY, "").split(","), annotations.get(REVISION, "")]
        events += [(int(n), image) for n in numbers if n.strip().isdigit() and image]
    return _live_and_previous([Release(str(number), image) for number, image in sorted(events)])


RENDER_WENT_LIVE = ("live", "deactivated")  # a deactivated deploy was live until a newer one replaced it
RENDER_FAILED = ("build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated")


def render_code(deploy: dict) -> str:
    """What a Render deploy ran: its commit (git-backed), else its image's digest, else itself."""
    commit = deploy.get("commit") if isinstance(deploy.get("commit"), dict) else {}
    image = deploy.get("image") if isinstance(deploy.get("image"), dict) else {}
    return str(commit.get("id") or image.get("sha") or image.get("ref") or deploy.get("id"))


def render_previous(deploys) -> tuple[dict | None, dict | None]:
    """(live deploy, the deploy to roll back to) from ListDeploys: the deploys that went live,
    oldest first, each known by its commit; a rollback (trigger "rollback") repeats a commit."""
    rows = sorted((d for d in deploys if isinstance(d, dict) and d.get("id") and d.get("status") in RENDER_WENT_LIVE),
                  key=lambda d: str(d.get("createdAt") or "")) if isinstance(deploys, list) else []
    by_id = {d["id"]: d for d in rows}
    history = [Release(d["id"], render_code(d)) for d in rows]
    stack = lineage(history)
    before = previous(history)
    return (by_id[stack[-1].id] if stack else None), (by_id[before.id] if before else None)


def _live_and_previous(history: list[Release]) -> tuple[str | None, str | None]:
    stack = lineage(history)
    before = previous(history)
    return (stack[-1].code if stack else None), (before.code if before else None)


def fly_rollback(args: list[str], command: list[str], listed) -> int:
    """`fly deploy ...` of the previous release's image (`--image`, no build)."""
    app = command[command.index("--app") + 1] if "--app" in command else "the app"
    live, before = fly_previous(listed)
    if before is None:
        return stop(nothing_before(app, live, "`fly releases` lists the last 25 releases; each deploy of new code "
                                             "is one."))
    return run_with([*command, "--image", before], f"rolling back {app}: {live} -> {before}")


def railway_rollback(args: list[str], command: list[str], listed) -> int:
    """`railway api <deploymentRollback>` of the deployment before the live one."""
    live, before = railway_previous(listed)
    if before is None:
        return stop(nothing_before("this service", f"deployment {live['id']}" if live else None,
                                   "Railway keeps the deployments your plan's retention allows; each `up` is one."))
    return run_with([*command, "--raw-var", f"id={before['id']}"],
                    f"rolling back: deployment {live['id']} -> {before['id']} (created {before.get('createdAt')})")


def kubernetes_rollback(args: list[str], command: list[str], listed) -> int:
    """``SERVICE=FILE...``: `kubectl apply -f -` of each service's Deployment from FILE with the
    image it ran before, on its stdin (services with no earlier image are left out)."""
    import yaml

    replica_sets = (listed.get("items") if isinstance(listed, dict) else None) or []
    documents, said, live_images = [], [], []
    for service, path in (pair.split("=", 1) for pair in args):
        live, before = kubernetes_previous(replica_sets, service)
        live_images.append(f"{service} {live}" if live else f"{service} (not deployed)")
        if before is None:
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                found = [d for d in yaml.safe_load_all(handle) if isinstance(d, dict) and d.get("kind") == "Deployment"]
        except (OSError, yaml.YAMLError) as error:
            return stop(f"cannot read {path}: {error}; run `streamdeploy render --target kubernetes`")
        for deployment in found:
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                if container.get("name") == service:
                    container["image"] = before
            documents.append(deployment)
        said.append(f"{service}: {live} -> {before}")
    if not documents:
        return stop(nothing_before("any Deployment", "; ".join(live_images), "The cluster keeps the ReplicaSets of "
                                   "a Deployment's last revisions: each `up` of new code is one."))
    return run_with(command, "rolling back " + "; ".join(said),
                    stdin=yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))


def render_rollback(args: list[str], command: list[str], listed, wait: float = 3600.0, poll: float = 5.0) -> int:
    """``NAME``: Render's API rolls the service named NAME (found in `render services -o json`)
    back to the deploy before the live one, then waits until that deploy is live."""
    import time

    from streamdeploy.glue import find_service_id
    from streamdeploy.render_api import APIError, RenderAPI

    name = args[0] if args else ""
    try:
        service_id = find_service_id(json.dumps(listed), name)
        api = RenderAPI.from_env()
        live, before = render_previous(api.deploys(service_id))
        if before is None:
            return stop(nothing_before(name, f"deploy {live['id']} ({render_code(live)[:12]})" if live else None,
                                       "Render keeps each deploy; every `up` of a new commit is one."))
        print(f"rolling back {name}: deploy {live['id']} ({render_code(live)[:12]}) -> {before['id']} "
              f"({render_code(before)[:12]})", flush=True)
        deploy = api.rollback(service_id, before["id"])
        deadline = time.monotonic() + wait
        while deploy.get("status") != "live":
            if deploy.get("status") in RENDER_FAILED:
                return stop(f"the rollback deploy {deploy.get('id')} ended {deploy.get('status')}: "
                            f"`render logs -r {service_id} --limit 200` shows why")
            if time.monotonic() > deadline:
                return stop(f"the rollback deploy {deploy.get('id')} is not live after {wait:g} s "
                            f"({deploy.get('status')})")
            time.sleep(poll)
            deploy = api.deploy(service_id, str(deploy.get("id")))
    except (LookupError, APIError) as error:
        return stop(str(error))
    print(f"{name}: deploy {deploy.get('id')} is live", flush=True)
    return exitcodes.OK


PROGRAMS = {  # platform: (what it reads on stdin, what it picks and runs)
    "fly": ("fly releases", fly_rollback),
    "railway": ("railway deployment list", railway_rollback),
    "kubernetes": ("kubectl get replicasets", kubernetes_rollback),
    "render": ("render services", render_rollback),
}


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


def stop(message: str) -> int:
    print(message, file=sys.stderr, flush=True)
    return exitcodes.FAILED


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    program = PROGRAMS.get(args[0]) if args else None
    if program is None or args[-1:] == ["--"]:
        print(f"usage: python -m streamdeploy.glue rollback {'|'.join(PROGRAMS)} [ARG...] [-- COMMAND...]",
              file=sys.stderr)
        return exitcodes.BAD_INPUT
    what, choose = program
    split = args.index("--") if "--" in args else len(args)
    try:
        listed = json.loads(sys.stdin.read())
    except ValueError:
        return stop(f"`{what}` did not answer with JSON")
    return choose(args[1:split], args[split + 1:], listed)
