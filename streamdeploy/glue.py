"""The small programs the plans' pipes run: each reads a platform CLI's JSON on stdin and
judges it or acts on it, since the runner passes no output from one step to the next.

    python -m streamdeploy.glue render-validated FILE     < render blueprints validate -o json
    python -m streamdeploy.glue render-deploy NAME        < render services -o json
    python -m streamdeploy.glue render-secrets NAME SECRET...   (values from the environment)
    python -m streamdeploy.glue railway-changes FILE      < railway config plan --json
    python -m streamdeploy.glue fly-machines APP          < fly status --json
    python -m streamdeploy.glue rollback PLATFORM [ARG...] -- COMMAND...   < its list of releases

Each runs once per step of a deploy, so this module imports nothing heavy (no targets, no
pydantic): the standard library, and httpx for Render's API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# --- render ----------------------------------------------------------------------------------



def _excerpt(text: str, size: int = 500) -> str:
    """The start of a CLI's answer, in whole lines: the runner masks what this prints, and a
    secret cut in half would not be recognised."""
    shown, total = [], 0
    for line in text.strip().splitlines():
        if shown and total + len(line) > size:
            shown.append("…")
            break
        shown.append(line)
        total += len(line)
    return "\n".join(shown)

def validation_errors(text: str, file: str) -> list[str]:
    """`render blueprints validate -o json` exits 0 even when invalid: read its `valid`."""
    try:
        result = json.loads(text)
    except ValueError:
        return [f"{file}: Render's validator did not answer with JSON: {_excerpt(text)}"]
    if not isinstance(result, dict):
        return [f"{file}: unexpected answer from Render's validator: {_excerpt(text)}"]
    if result.get("valid") is True:
        return []
    errors = []
    for error in result.get("errors") or []:
        if not isinstance(error, dict):
            continue
        where = ":".join(str(p) for p in (file, error.get("line"), error.get("column")) if p)
        path = f" ({error['path']})" if error.get("path") else ""
        errors.append(f"{where}: {error.get('error', 'invalid')}{path}")
    return errors or [f"{file}: Render says the Blueprint is not valid"]


def find_service_id(text: str, name: str) -> str:
    """The id of the one service called `name` in `render services -o json`."""
    try:
        listed = json.loads(text)
    except ValueError as err:
        raise LookupError(f"`render services -o json` did not print JSON: {_excerpt(text)}") from err
    ids = []
    for item in listed if isinstance(listed, list) else []:
        service = item.get("service", item) if isinstance(item, dict) else {}
        if isinstance(service, dict) and service.get("name") == name and service.get("id"):
            ids.append(str(service["id"]))
    if not ids:
        raise LookupError(
            f"no Render service is named {name}: create the Blueprint once in the Render Dashboard "
            "(New > Blueprint, pick this repository), then run `streamdeploy up` again")
    if len(ids) > 1:
        raise LookupError(f"{len(ids)} Render services are named {name} ({', '.join(ids)}): rename or delete "
                          "the extra ones, so the deploy goes to the right one")
    return ids[0]




def deploy_argv(service_id: str, commit: str) -> tuple[str, ...]:
    # --commit: without it Render deploys the head of the Blueprint's branch, which may not be the
    # commit `up` checked (render-oss/cli cmd/deploycreate.go). --confirm: without it the CLI asks
    # y/n on stdin; --wait: exit 1 unless the deploy goes live.
    return ("render", "deploys", "create", service_id, "--commit", commit, "--wait", "--confirm", "-o", "json")


def set_secrets(render_name: str, names: list[str], env=None) -> tuple[list[str], list[str]]:
    """Set each named secret that has a value here on the service, by the API; (lines to show,
    needs met neither here nor on Render). A name is required; `NAME?` is optional; `A,B` is
    a group of alternatives, one of which is enough."""
    from streamdeploy.render_api import RenderAPI

    env = os.environ if env is None else env
    api = RenderAPI.from_env(env)
    service_id = api.service_id(render_name)
    lines, missing = [], []
    present: set | None = None

    def held(name: str) -> bool:
        nonlocal present
        present = set(api.env_keys(service_id)) if present is None else present
        return name in present

    for need in names:
        group = [n.rstrip("?") for n in need.split(",")]
        given = [n for n in group if env.get(n)]
        for name in given:
            api.set_env(service_id, name, env[name])
            lines.append(f"{name}: set on {render_name}")
        if given:
            continue
        kept = [n for n in group if held(n)]
        if kept:
            lines.extend(f"{n}: not given here; kept as it is on Render" for n in kept)
        elif need.endswith("?"):
            lines.append(f"{group[0]}: optional, not set")
        else:
            missing.append(group[0] if len(group) == 1 else f"one of {' or '.join(group)}")
    return lines, missing


# --- railway ---------------------------------------------------------------------------------


def _redeploys(change: dict) -> bool:
    """change_set.rs deployEffect, from what `config plan --json` keeps of a change (kind, summary,
    details): creating or deleting a service and any variable change redeploy; an update does
    unless it is of `config` (a volume's size or region) or `groupId`."""
    kind, summary = change.get("kind") or "", change.get("summary") or ""
    if kind in ("resource.create", "resource.delete"):
        return summary.split(" ")[1:2] in (["service"], ["database"])
    if kind.startswith("variable."):
        return True
    details = change.get("details") or []
    field_path = details[0].split(" (")[0] if details else summary.rsplit(" ", 1)[-1]
    return not summary.startswith("Resize volume") and field_path.split(".")[0] not in ("config", "groupId")


def describe_changes(text: str, file: str) -> tuple[list[str], list[str]]:
    """(lines to show, destructive changes) of `railway config plan --json`."""
    try:
        data = json.loads(text)
        changes = (data.get("changeSet") or {}).get("changes") or []
    except (ValueError, AttributeError):
        return [], [f"`railway config plan` did not answer with JSON: {_excerpt(text)}"]
    problems = [f"{d.get('path')}: {d.get('message')}" for d in data.get("diagnostics") or []
                if isinstance(d, dict) and d.get("severity") == "error"]
    if not changes:
        return [f"Railway already matches {file}: the apply changes nothing and deploys nothing"], problems
    lines = [f"applying {file} changes {len(changes)} thing{'s' if len(changes) != 1 else ''} on Railway:"]
    destructive = []
    for change in changes:
        summary = change.get("summary") or change.get("kind") or "a change"
        if change.get("severity") == "destructive":
            destructive.append(summary)
        lines.append(f"  {summary}" + ("  (redeploys)" if _redeploys(change) else ""))
    if any(_redeploys(c) for c in changes):
        lines.append("a change marked (redeploys) deploys the service once now; `railway up` deploys it again")
    return lines, problems + [f"destructive: {d}" for d in destructive]


# --- fly -------------------------------------------------------------------------------------


def extra_machines(text: str) -> list[str]:
    """The Machines of `fly status --json` beyond the one a volume allows (raises ValueError on
    output that is not the status)."""
    data = json.loads(text)
    machines = data.get("Machines") if isinstance(data, dict) else None
    if not isinstance(machines, list):
        raise ValueError("no Machines in `fly status --json`")
    ids = [str(m.get("id")) for m in machines if isinstance(m, dict)]
    return ids[1:]


# --- the programs ----------------------------------------------------------------------------


STREAMDEPLOY_NEVER = ("streamdeploy never applies a change that deletes, shrinks or moves what Railway holds: change "
                      "the description (sizes, region, env, secrets) to match, or run `railway config apply "
                      "--confirm-destructive` yourself if the loss is intended")


def render_validated(args: list[str]) -> int:
    errors = validation_errors(sys.stdin.read(), args[0])
    for line in errors:
        print(line, file=sys.stderr)
    if not errors:
        print(f"{args[0]} is a valid Blueprint")
    return 1 if errors else 0


def render_deploy(args: list[str]) -> int:
    try:
        service_id = find_service_id(sys.stdin.read(), args[0])
    except LookupError as err:
        print(err, file=sys.stderr)
        return 1
    head = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        print(f"cannot name the commit to deploy: {head.stderr.strip()}", file=sys.stderr)
        return 1
    command = deploy_argv(service_id, head.stdout.strip())
    print(f"deploying {args[0]} ({service_id}) at {head.stdout.strip()[:12]}", flush=True)
    os.execvp(command[0], command)  # the deploy's own exit code is the step's


def render_secrets(args: list[str]) -> int:
    from streamdeploy.render_api import APIError

    try:
        lines, missing = set_secrets(args[0], args[1:])
    except APIError as err:
        print(err, file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    if missing:
        print(f"not set on Render and not given here: {', '.join(missing)}. The service would run without "
              f"{'them' if len(missing) > 1 else 'it'} (a secret added to the Blueprint after it was created is "
              "never asked for): export each, or pass --env-file, and run `up` again", file=sys.stderr)
        return 1
    return 0


def railway_changes(args: list[str]) -> int:
    lines, problems = describe_changes(sys.stdin.read(), args[0])
    for line in lines:
        print(line)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(STREAMDEPLOY_NEVER, file=sys.stderr)
    return 1 if problems else 0


def fly_machines(args: list[str]) -> int:
    try:
        extra = extra_machines(sys.stdin.read())
    except ValueError as error:
        print(f"could not read `fly status --json`: {error}", file=sys.stderr)
        return 1
    if extra:
        print(f"{args[0]} runs {len(extra) + 1} Machines, and each Fly Machine has its own volume: that is "
              f"{len(extra) + 1} separate databases behind one address (`fly scale count` makes a new, empty "
              "volume for every Machine it adds). The description says one; `up` deploys nothing until one is "
              "left", file=sys.stderr)
        return 1
    print(f"{args[0]}: one Machine (or none yet) for its volume")
    return 0


def rollback(args: list[str]) -> int:
    """The release before the live one, then the platform's command (streamdeploy.releases)."""
    from streamdeploy import releases

    return releases.main(args)


PROGRAMS = {  # name: (function, fewest arguments)
    "render-validated": (render_validated, 1), "render-deploy": (render_deploy, 1),
    "render-secrets": (render_secrets, 2), "railway-changes": (railway_changes, 1),
    "fly-machines": (fly_machines, 1), "rollback": (rollback, 2),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    program = PROGRAMS.get(args[0]) if args else None
    if program is None or len(args) - 1 < program[1]:
        print(f"usage: python -m streamdeploy.glue {' | '.join(PROGRAMS)} ARGS", file=sys.stderr)
        return 2
    return program[0](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
