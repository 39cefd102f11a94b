"""`streamdeploy doctor`: is this machine ready to ship? And the same checks for `up`.

For each platform CLI: installed (where), its version, and whether it can act — logged
in through an env token or a saved login (its own whoami), the docker daemon answering,
a Kubernetes cluster that lets us create deployments. Then git: which branch, what is
uncommitted, what is not pushed (Render builds from the pushed repository).

``TOOLS`` is the one table of install and login instructions: `up` uses it to stop before
step 1 when a plan's CLI is missing (exit 3) or cannot act.

`doctor` exits 0 whatever it finds; `doctor --target T` also says whether `up --target T`
could start here — the CLIs it drives (``TARGET_TOOLS``, plus the plan's own tools when a
description is found) installed and able to act — and exits 3 when not.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from streamdeploy import console, exitcodes
from streamdeploy.problems import Problem


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    binaries: tuple[str, ...]
    version: tuple[str, ...]  # arguments that print the version
    install: str
    auth_env: tuple[str, ...] = ()
    access: tuple[str, ...] | None = None  # arguments of a read-only command that needs login/daemon
    access_label: str = "logged in"
    login: str = ""  # how to get access
    not_ready: str = ""  # what `up` says when the access check fails
    minimum: tuple[int, ...] | None = None  # oldest version that works
    upgrade: str = ""  # what to do about an older one, and why it matters


# Commands and variables from research/cli-contracts.md; install lines from each CLI's docs.
TOOLS: dict[str, Tool] = {
    "fly": Tool(
        "fly", "Fly.io (flyctl)", ("fly", "flyctl"), ("version",),
        install="curl -L https://fly.io/install.sh | sh   (macOS: brew install flyctl)",
        auth_env=("FLY_ACCESS_TOKEN", "FLY_API_TOKEN"),
        access=("auth", "whoami", "--json"),
        # A deploy token manages one existing app: it cannot run `fly apps create` (flyctl
        # internal/command/tokens/create.go). An org token can.
        login="set FLY_API_TOKEN to an org token (`fly tokens create org`; a deploy token cannot create apps), "
              "or run `fly auth login`",
        not_ready="not logged in to Fly.io",
    ),
    "railway": Tool(
        "railway", "Railway", ("railway",), ("--version",),
        install="npm install -g @railway/cli   (macOS: brew install railway)",
        auth_env=("RAILWAY_API_TOKEN", "RAILWAY_TOKEN"),
        access=("whoami", "--json"),
        login="set RAILWAY_API_TOKEN (an account or workspace token), or run `railway login`",
        not_ready="not logged in to Railway",
    ),
    "render": Tool(
        "render", "Render", ("render",), ("--version",),
        install="brew install render   (or a release binary from https://github.com/render-oss/cli/releases)",
        auth_env=("RENDER_API_KEY",),
        access=("whoami",),
        login="set RENDER_API_KEY (Account Settings > API Keys) and RENDER_WORKSPACE, or run `render login`",
        not_ready="not logged in to Render",
    ),
    "docker": Tool(
        "docker", "Docker", ("docker",), ("--version",),
        install="https://docs.docker.com/get-docker/ (Docker Desktop, or docker-ce on Linux)",
        access=("info", "--format", "{{.ServerVersion}}"),
        access_label="daemon running",
        login="start Docker Desktop, or `sudo systemctl start docker`; check DOCKER_HOST / `docker context ls`",
        not_ready="the Docker daemon is not answering",
    ),
    "kubectl": Tool(
        "kubectl", "Kubernetes (kubectl)", ("kubectl",), ("version", "--client", "-o", "json"),
        install="https://kubernetes.io/docs/tasks/tools/#kubectl   (macOS: brew install kubectl)",
        auth_env=("KUBECONFIG",),
        access=("auth", "can-i", "create", "deployments", "--quiet"),
        access_label="cluster access",
        login="point KUBECONFIG (or `kubectl config use-context`) at a cluster where you may create deployments",
        not_ready="kubectl cannot create deployments in the current cluster",
    ),
    "gcloud": Tool(
        "gcloud", "Google Cloud (gcloud)", ("gcloud",), ("--version",),
        install="https://cloud.google.com/sdk/docs/install",
        auth_env=("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS"),
        login="run `gcloud auth login` (or set CLOUDSDK_AUTH_ACCESS_TOKEN_FILE in CI)",
    ),
    "doctl": Tool(
        "doctl", "DigitalOcean (doctl)", ("doctl",), ("version",),
        install="https://docs.digitalocean.com/reference/doctl/how-to/install/   (macOS: brew install doctl)",
        auth_env=("DIGITALOCEAN_ACCESS_TOKEN",),
        access=("account", "get", "--output", "json"),
        login="set DIGITALOCEAN_ACCESS_TOKEN (API > Tokens), or run `doctl auth init`",
        not_ready="not logged in to DigitalOcean",
    ),
    "terraform": Tool(
        "terraform", "Terraform", ("terraform",), ("version",),
        install="https://developer.hashicorp.com/terraform/install   (or OpenTofu's `tofu`, not driven here)",
        auth_env=("AWS_PROFILE", "AWS_ACCESS_KEY_ID"),
        login="AWS credentials for the provider: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    ),
    "git": Tool("git", "git", ("git",), ("--version",), install="https://git-scm.com/downloads"),
    # `railway config plan|apply` run node --experimental-strip-types (railwayapp/cli
    # src/iac/eval.rs), which Node learned in 22.6; older ones exit "bad option" (Debian 12: 18).
    "node": Tool("node", "Node.js", ("node",), ("--version",),
                 install="Node 22.6 or newer: https://nodejs.org (or `nvm install 22`)", minimum=(22, 6),
                 upgrade="install Node 22.6 or newer (https://nodejs.org, or `nvm install 22`): `railway config "
                         "apply` runs .railway/railway.ts with node --experimental-strip-types, which older Node "
                         "rejects"),
}
PLATFORM_TOOLS = ("fly", "railway", "render", "docker", "kubectl", "gcloud", "doctl", "terraform")
# What `up --target T` drives, whatever the description says (its plan may add more).
TARGET_TOOLS: dict[str, tuple[str, ...]] = {
    "fly": ("fly",), "railway": ("railway",), "render": ("render", "git"), "docker": ("docker",),
    "compose": ("docker",), "kubernetes": ("kubectl",), "local": (),
    "cloudrun": ("gcloud",), "digitalocean": ("doctl",), "fargate": ("terraform",),
}
# Compose v2 (the `docker compose` plugin): Debian 12's docker.io has none, and its
# docker-compose 1.29 rejects compose.yaml's top-level `name:` (research/fidelity-2026-12.md C1).
COMPOSE_INSTALL = ("https://docs.docker.com/compose/install/ (Docker Desktop includes it; on Debian or Ubuntu, "
                   "docker-compose-plugin from Docker's apt repository: the distribution's docker-compose 1.x "
                   "cannot read compose.yaml)")
_VERSION = re.compile(r"v?(\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.]+)?)")


@dataclass
class Status:
    name: str
    title: str
    installed: bool
    path: str | None = None
    version: str | None = None
    ready: bool | None = None  # None: nothing to check
    how: str = ""  # "FLY_API_TOKEN (fake@example.com)", "daemon 29.7.2"
    fix: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class GitState:
    installed: bool
    repository: bool = False
    branch: str | None = None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    changes: int = 0  # uncommitted (staged, unstaged, untracked)
    where: str = "."

    @property
    def summary(self) -> str:
        if not self.installed:
            return "git is not installed"
        if not self.repository:
            return "not a git repository (Render builds from a pushed repository)"
        parts = [f"on {self.branch or '(detached)'}"]
        parts.append(f"{self.changes} uncommitted change{'s' if self.changes != 1 else ''}" if self.changes
                     else "clean")
        if self.upstream is None:
            parts.append("no upstream (not pushed anywhere)")
        elif self.ahead or self.behind:
            parts.append(f"{self.ahead} commit{'s' if self.ahead != 1 else ''} not pushed to {self.upstream}"
                         + (f", {self.behind} behind" if self.behind else ""))
        else:
            parts.append(f"in sync with {self.upstream}")
        return ", ".join(parts)


# --- checks -------------------------------------------------------------------------------


def tool_for(name: str) -> Tool:
    return TOOLS.get(name) or Tool(name, name, (name,), ("--version",), install=f"install `{name}` and put it on PATH")


def locate(tool: Tool, env: Mapping[str, str] | None = None) -> str | None:
    import os
    import shutil

    path = (env if env is not None else os.environ).get("PATH")
    for binary in tool.binaries:
        found = shutil.which(binary, path=path)
        if found:
            return found
    return None


def check_tool(tool: Tool, env: Mapping[str, str] | None = None, access: bool = True,
               version: bool = True) -> Status:
    """Installed? Which version? Able to act (logged in / daemon / cluster)?"""
    import os

    from streamdeploy import runner

    env = dict(os.environ if env is None else env)
    path = locate(tool, env)
    if path is None:
        return Status(tool.name, tool.title, False, fix=f"install it: {tool.install}")
    status = Status(tool.name, tool.title, True, path)
    if version:
        answer = runner.capture((path, *tool.version), timeout=15, env=env)
        if answer.ok:
            status.version = parse_version(tool.name, answer.stdout + "\n" + answer.stderr)
    if not access or tool.access is None:
        return status
    token = next((name for name in tool.auth_env if env.get(name)), None)
    probe = tool.access
    if tool.name == "railway" and token == "RAILWAY_TOKEN" and not env.get("RAILWAY_API_TOKEN"):
        probe = ("status", "--json")  # a project token cannot run whoami (research/cli-contracts.md)
    answer = runner.capture((path, *probe), timeout=30, env=env)
    status.ready = answer.ok
    if answer.ok:
        status.how = _how(tool, token, answer.stdout, env)
    else:
        from streamdeploy.secrets import Masker, platform_tokens

        # A CLI refusing a token may quote it back: never show it.
        reason = answer.error or Masker(platform_tokens(env))(_error_line(answer.stderr or answer.stdout)) or \
            f"`{runner.show((tool.binaries[0], *probe))}` exited {answer.exit_code}"
        status.how = f"{token} is set but was refused: {reason}" if token and tool.name != "kubectl" else reason
        status.fix = tool.login
    if tool.name == "kubectl" and status.ready:
        _check_cluster_version(path, env, status)
    if tool.name == "render" and status.ready:
        workspace = env.get("RENDER_WORKSPACE")
        if not workspace:
            current = runner.capture((path, "workspace", "current"), timeout=15, env=env)
            workspace = _first_line(current.stdout) if current.ok else None
        status.extra["workspace"] = workspace
        if not workspace:
            status.ready = False
            status.how += "; no workspace selected"
            status.fix = "set RENDER_WORKSPACE to your workspace id (tea-...), or `render workspace set`"
    return status


def _check_cluster_version(path: str, env: Mapping[str, str], status: Status) -> None:
    """The cluster must run what the manifests use (preStop.sleep: 1.30, K3)."""
    from streamdeploy import runner
    from streamdeploy.targets.kubernetes import MIN_SERVER_VERSION

    answer = runner.capture((path, "version", "-o", "json"), timeout=30, env=env)
    version = server_version(answer.stdout) if answer.ok else None
    if version is None:
        return
    status.extra["server"] = ".".join(map(str, version))
    status.how += f"; cluster {status.extra['server']}"
    if version < MIN_SERVER_VERSION:
        wanted = ".".join(map(str, MIN_SERVER_VERSION))
        status.ready = False
        status.how = (f"the cluster runs Kubernetes {status.extra['server']}; the manifests need {wanted} or newer "
                      "(lifecycle.preStop.sleep)")
        status.fix = f"upgrade the cluster to {wanted} or newer, or point kubectl at another one"


def server_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of `kubectl version -o json`'s serverVersion; minor may read "30+" (EKS, GKE)."""
    try:
        server = json.loads(text)["serverVersion"]
        return int(server["major"]), int(re.sub(r"\D.*", "", server["minor"]))
    except (ValueError, KeyError, TypeError):
        return None


def _how(tool: Tool, token: str | None, stdout: str, env: Mapping[str, str]) -> str:
    if tool.name == "docker":
        return f"daemon {_first_line(stdout)}".strip()
    if tool.name == "kubectl":
        return f"can create deployments ({'KUBECONFIG' if env.get('KUBECONFIG') else '~/.kube/config'})"
    who = None
    try:
        data = json.loads(stdout)
        who = data.get("email") or data.get("name") if isinstance(data, dict) else None
    except ValueError:
        match = re.search(r"Email:\s*(\S+)", stdout)
        who = match.group(1) if match else None
    if tool.name == "railway" and token == "RAILWAY_TOKEN" and who:
        return f"RAILWAY_TOKEN (a project token for {who})"  # what `railway status` names
    source = token or "saved login"
    return f"{source}" + (f" ({who})" if who else "")


def parse_version(name: str, text: str) -> str | None:
    if name == "kubectl":
        try:
            return json.loads(text.strip().split("\n\n")[0])["clientVersion"]["gitVersion"].lstrip("v")
        except (ValueError, KeyError, TypeError):
            pass
    match = _VERSION.search(text)
    return match.group(1) if match else None


def check_git(where: Path, env: Mapping[str, str] | None = None) -> GitState:
    from streamdeploy import runner

    tool = TOOLS["git"]
    if locate(tool, env) is None:
        return GitState(False, where=str(where))
    state = GitState(True, where=str(where))
    status = runner.capture(("git", "status", "--porcelain=v2", "--branch"), timeout=15, env=env, cwd=where)
    if not status.ok:
        return state
    state.repository = True
    for line in status.stdout.splitlines():
        if line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            state.branch = None if head == "(detached)" else head
        elif line.startswith("# branch.upstream "):
            state.upstream = line.split(" ", 2)[2]
        elif line.startswith("# branch.ab "):
            ahead, behind = line.split()[2:4]
            state.ahead, state.behind = int(ahead), abs(int(behind))
        elif line and not line.startswith("#"):
            state.changes += 1
    return state


def readiness_problems(tool_names, env: Mapping[str, str] | None = None, target: str = "",
                       known: Mapping[str, Status] | None = None) -> list[Problem]:
    """What stops `up` before step 1: a missing CLI, or one that cannot act (not logged in).

    ``known``: statuses already checked (by `doctor`), not asked again."""
    problems: list[Problem] = []
    names = list(dict.fromkeys(tool_names))

    def check(name: str) -> Status:
        tool = tool_for(name)
        if known and name in known:
            return known[name]
        if name in PLATFORM_TOOLS:
            return check_tool(tool, env, version=False)
        if tool.minimum is not None:
            return check_tool(tool, env, access=False)
        return Status(name, tool.title, locate(tool, env) is not None)

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        statuses = list(pool.map(check, names))
    for status in statuses:
        tool = tool_for(status.name)
        if not status.installed:
            problems.append(Problem(
                f"`{tool.binaries[0]}` is not installed (not found on PATH); `up --target {target}` runs it",
                fix=f"install it: {tool.install}",
            ))
        elif status.ready is False:
            problems.append(Problem(f"{tool.not_ready or tool.title + ' is not ready'}: {status.how}",
                                    fix=status.fix))
        elif too_old(tool, status.version):
            problems.append(Problem(
                f"{tool.title} {status.version} at {status.path} is older than "
                f"{'.'.join(map(str, tool.minimum))}; `up --target {target}` needs it", fix=tool.upgrade))
    return problems


def too_old(tool: Tool, version: str | None) -> bool:
    if tool.minimum is None or version is None:
        return False
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:len(tool.minimum)])
    return numbers < tool.minimum


# --- the command --------------------------------------------------------------------------


def run(as_json: bool = False, target: str | None = None) -> int:
    import os

    from streamdeploy import loader
    from streamdeploy.problems import ProblemsError, fail

    if target is not None and target not in TARGET_TOOLS:
        raise fail(f"unknown target `{target}`", fix=f"use one of: {', '.join(TARGET_TOOLS)}")
    try:
        description = loader.find_description()
        where = description.parent
    except ProblemsError:
        description, where = None, Path.cwd()
    env = dict(os.environ)
    with ThreadPoolExecutor(max_workers=len(TOOLS)) as pool:
        futures = [pool.submit(check_tool, TOOLS[name], env) for name in PLATFORM_TOOLS]
        compose = pool.submit(_compose_version, env)
        git = pool.submit(check_git, where, env)
        statuses = [f.result() for f in futures]
    docker = next(s for s in statuses if s.name == "docker")
    if docker.installed:
        docker.extra["compose"] = compose.result()
    git_state = git.result()
    problems = target_problems(target, description, env, statuses, compose.result()) if target else []
    code = exitcodes.NOT_READY if problems else exitcodes.OK
    if as_json:
        data = {"tools": [asdict(s) for s in statuses], "git": {**asdict(git_state), "summary": git_state.summary}}
        if target:
            data["target"] = {"name": target, "ready": not problems, "problems": [p.as_dict() for p in problems]}
        console.emit_json(data)
        return code
    _print_table(statuses, git_state)
    if problems:
        console.problems(problems)
    elif target:
        console.success(f"ready for `streamdeploy up --target {target}`")
    return code


def target_problems(target: str, description: Path | None, env: Mapping[str, str], statuses: list[Status],
                    compose: str | None) -> list[Problem]:
    """What would stop `up --target T` before step 1 on this machine (the same checks `up` makes)."""
    tools = list(TARGET_TOOLS[target])
    if description is not None:
        from streamdeploy import loader
        from streamdeploy.commands.up import make_plan

        tools += make_plan(loader.load(description), target).tools
    known = {s.name: s for s in statuses}
    problems = readiness_problems(tools, env, target, known=known)
    docker = known["docker"]
    if target == "compose" and docker.installed and docker.ready and compose is None:
        problems.append(Problem("`docker compose` is not available (the Compose plugin is missing); "
                                "`up --target compose` runs it", fix=f"install it: {COMPOSE_INSTALL}"))
    return problems


def _compose_version(env: Mapping[str, str]) -> str | None:
    from streamdeploy import runner

    path = locate(TOOLS["docker"], env)
    if path is None:
        return None
    answer = runner.capture((path, "compose", "version", "--short"), timeout=15, env=env)
    return answer.stdout.strip().lstrip("v") or None if answer.ok else None


def _print_table(statuses: list[Status], git: GitState) -> None:
    rows = []
    for s in statuses:
        tool = TOOLS[s.name]
        if not s.installed:
            rows.append([s.name, "[red]no[/red]", "", "", console.escape(s.fix or "")])
            continue
        version = s.version or "?"
        if s.name == "docker" and s.extra.get("compose"):
            version += f" (compose {s.extra['compose']})"
        if s.ready is None:
            ready = ""
        elif s.ready:
            ready = f"[green]yes[/green] [dim]({tool.access_label})[/dim]"
        else:
            ready = f"[red]no[/red] [dim]({console.escape(tool.not_ready)})[/dim]"
        detail = s.how if s.ready else f"{s.how}\n→ {s.fix}" if s.fix else s.how
        if s.name == "render" and s.extra.get("workspace"):
            detail += f"; workspace {s.extra['workspace']}"
        rows.append([s.name, f"[green]yes[/green] [dim]{console.escape(s.path or '')}[/dim]",
                     console.escape(version), ready, console.escape(detail)])
    console.table("streamdeploy doctor", [("CLI", {}), ("installed", {}), ("version", {}), ("ready", {}),
                                          ("how / what to do", {"overflow": "fold"})], rows)
    mark = "[green]✓[/green]" if git.repository and not git.changes and git.upstream and not git.ahead \
        else "[yellow]![/yellow]"
    console.out().print(f"{mark} git ({console.escape(git.where)}): {console.escape(git.summary)}")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _error_line(text: str) -> str:
    """The line of a CLI's complaint worth showing: its `Error: ...`, else its last words."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if line.lower().startswith("error")), lines[-1] if lines else "")
