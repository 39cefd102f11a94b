"""`streamdeploy rollback`: back to the release before the live one, by the platform's own means.

The target's ``rollback(spec, ctx)`` returns a plan like `up`'s and it ships the same
way (``up.ship``: secrets, readiness, the runner, then verify, which reads back the
marker the last `up` wrote: the data is still there). Nothing is rendered and `check` is
not asked: going back must work even while the description is being changed. No step
touches a volume, a claim or a StatefulSet. Which release is "previous" is one rule for
every target (``streamdeploy.releases``); what each platform reverts is in the README.
"""

from __future__ import annotations

from pathlib import Path

from streamdeploy import console, loader, targets
from streamdeploy.commands import up
from streamdeploy.problems import fail
from streamdeploy.targets.base import Plan

ROLLBACK = ("fly", "railway", "render", "kubernetes", "compose", "docker", "local")


def resolve_target(target: str) -> str:
    if target in ROLLBACK:
        return target
    if target in targets.DEPLOYABLE:
        raise fail(f"`rollback --target {target}` is not available yet: streamdeploy cannot go back there",
                   fix=f"use the platform's own console or CLI; `rollback` takes {', '.join(ROLLBACK)}")
    if target == "all" or target in targets.EXTRAS:
        raise fail(f"`rollback` goes back on one platform at a time; `{target}` is not one",
                   fix=f"pass --target with one of: {', '.join(ROLLBACK)}")
    raise targets.unknown(target, ROLLBACK)


def run(file: Path | None, target: str, dry_run: bool = False, env_file: Path | None = None,
        verify: bool = True, step_timeout: float = 900.0, as_json: bool = False) -> int:
    loaded = loader.load(file)
    name = resolve_target(target)
    env_file = up._env_file(loaded, name, env_file)
    plan = up.make_plan(loaded, name, action="rollback")

    def say_notes(plan: Plan) -> tuple[Plan, list[str]]:
        up._print_notes(list(plan.notes), as_json)
        if not as_json:
            console.info(f"{name}: rolling back; volumes and their data are not touched")
        return plan, []

    return up.ship(loaded, plan, env_file, dry_run=dry_run, verify=verify, step_timeout=step_timeout,
                   as_json=as_json, prepare=say_notes, command="rollback")
