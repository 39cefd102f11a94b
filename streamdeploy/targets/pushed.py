"""Checks that what a platform builds from git is what is here: committed and pushed.

Render and App Platform build from the repository, never from this directory, so `up`
stops before deploying a commit that lacks the generated files, has uncommitted changes,
or was never pushed.
"""

from __future__ import annotations

from streamdeploy.targets.base import Step


def git_steps(files: list[str], branch: str | None, platform: str, *, shipped: list[str] | None = None,
              default_branch: bool = False, branch_key: str = "the target's `branch`") -> list[Step]:
    """``shipped``: the paths the build reads (an uncommitted change elsewhere never reaches the
    platform, so it does not stop `up`); None checks the whole tree. ``default_branch``: with no
    branch set the platform builds the repository's default branch (origin/HEAD, which a clone
    records), so HEAD must be on it, not merely pushed somewhere."""
    if branch:
        upstream, where = f"origin/{branch}", f"{branch} (origin/{branch}), the branch {platform} deploys"
        hint = f"push it to {branch} (`git push origin HEAD:{branch}`)"
    elif default_branch:
        upstream, where = "origin/HEAD", f"the default branch (origin/HEAD), the branch {platform} deploys"
        hint = (f"{platform} deploys the default branch: merge this commit into it and push, or set {branch_key} "
                "to the branch you push (if origin/HEAD is unknown here: `git remote set-head origin --auto`)")
    else:
        upstream, where, hint = "@{u}", "(@{u})", "push it: `git push`"
    paths = list(shipped) if shipped is not None else []
    return [
        Step(("git", "ls-files", "--error-unmatch", "--", *files),
             "Checking the generated files are committed",
             hint=f"{platform} builds from git: `git add {' '.join(files)}` and commit"),
        Step(("git", "diff", "--quiet", "HEAD", "--", *paths),
             "Checking what the deploy ships has no uncommitted changes" if paths else
             "Checking there are no uncommitted changes",
             hint=f"{platform} builds what is pushed, not this directory: commit your changes"
             + (f" to {', '.join(paths)}" if paths else "")),
        Step(("git", "merge-base", "--is-ancestor", "HEAD", upstream),
             f"Checking this commit is pushed to {where}" if upstream != "@{u}" else
             f"Checking this commit is pushed ({upstream})", hint=hint),
    ]
