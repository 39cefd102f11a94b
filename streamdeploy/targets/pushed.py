"""Checks that what a platform builds from git is what is here: committed and pushed.

Render and App Platform build from the repository, never from this directory, so `up`
stops before deploying a commit that lacks the generated files, has uncommitted changes,
or was never pushed.
"""

from __future__ import annotations

from streamdeploy.targets.base import Step


def git_steps(files: list[str], branch: str | None, platform: str) -> list[Step]:
    upstream = f"origin/{branch}" if branch else "@{u}"
    return [
        Step(("git", "ls-files", "--error-unmatch", "--", *files),
             "Checking the generated files are committed",
             hint=f"{platform} builds from git: `git add {' '.join(files)}` and commit"),
        Step(("git", "diff", "--quiet", "HEAD", "--"),
             "Checking there are no uncommitted changes",
             hint=f"{platform} builds what is pushed, not this directory: commit your changes"),
        Step(("git", "merge-base", "--is-ancestor", "HEAD", upstream),
             f"Checking this commit is pushed ({upstream})",
             hint="push it: `git push`" if not branch else f"push it to {branch}"),
    ]
