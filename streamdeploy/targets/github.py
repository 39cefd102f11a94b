"""GitHub Actions: a workflow that ships the service on every push to its branch.

`.github/workflows/deploy.yml`: one `check` job (the generated files match the description,
`render --check`; then the project's tests), then one job per `targets.github.deploy` entry,
each after the one before, that installs that platform's CLI at the version streamdeploy's
plans were checked against and runs `streamdeploy up --target T` (which verifies what it
shipped). Platform tokens and the service's secrets come from repository secrets by name.

Hardening, as GitHub's own guidance has it: every action pinned to a full commit SHA (a tag
can be moved), `permissions: contents: read` (the deploy needs nothing else from GitHub;
the Cloud Run and Fargate jobs alone add `id-token: write`, to sign in by OIDC with no
long-lived cloud key in the repository),
checkout without persisted credentials, one concurrency group so two pushes never deploy
at once (a running deploy finishes; the newest waiting push goes next), timeouts on jobs.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import yaml

from streamdeploy import __version__
from streamdeploy.problems import fail
from streamdeploy.description import Spec
from streamdeploy.targets.base import Context, Note, Plan, RenderedFile, Rendering

NAME = "github"
FILE = ".github/workflows/deploy.yml"
RUNNER = "ubuntu-latest"

# Actions by full commit SHA; the tag each SHA was read from (the actions' own repositories).
ACTIONS = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "setup-node": ("actions/setup-node", "249970729cb0ef3589644e2896645e5dc5ba9c38", "v6.5.0"),
    "setup-flyctl": ("superfly/flyctl-actions/setup-flyctl", "ed8efb33836e8b2096c7fd3ba1c8afe303ebbff1", "1.6"),
    "gcp-auth": ("google-github-actions/auth", "7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"),
    "setup-gcloud": ("google-github-actions/setup-gcloud", "aa5489c8933f4cc7a4f7d45035b3b1440c9c10db", "v3.0.1"),
    "setup-doctl": ("digitalocean/action-doctl", "135ac0aa0eed4437d547c6f12c364d3006b42824", "v2.5.1"),
    "aws-credentials": ("aws-actions/configure-aws-credentials", "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "setup-terraform": ("hashicorp/setup-terraform", "dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
}
# The platform CLIs at the versions whose flags the plans were checked against
# (shared/research/cli-contracts.md; tests/fakes/contracts.json).
FLYCTL_VERSION = "0.4.87"
RAILWAY_CLI = "@railway/cli@5.43.4"
RAILWAY_NODE = "22"  # the IaC file runs under `node --experimental-strip-types` (Node >= 22.6)
RENDER_CLI_VERSION = "2.24.0"
GCLOUD_VERSION = "578.0.0"
DOCTL_VERSION = "1.148.0"
TERRAFORM_VERSION = "1.14.0"
# Repository secrets a deploy job needs besides the service's own: what the platform CLI
# reads in CI (each is one of the CLI's auth variables in commands/doctor.py TOOLS).
PLATFORM_SECRETS = {
    "fly": ("FLY_API_TOKEN",),
    "railway": ("RAILWAY_API_TOKEN",),
    "render": ("RENDER_API_KEY", "RENDER_WORKSPACE"),
    "kubernetes": ("KUBECONFIG",),
    "cloudrun": (),  # OIDC: the auth action writes a credentials file and exports its path
    "digitalocean": ("DIGITALOCEAN_ACCESS_TOKEN",),
    "fargate": (),  # OIDC: the credentials action exports short-lived AWS_* keys
}
# Repository secrets the job's sign-in action reads (never passed to a script).
SIGN_IN_SECRETS = {
    "cloudrun": ("GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT"),
    "fargate": ("AWS_ROLE_ARN",),
}
TITLES = {"fly": "Fly.io", "railway": "Railway", "render": "Render", "kubernetes": "Kubernetes",
          "cloudrun": "Cloud Run", "digitalocean": "DigitalOcean App Platform", "fargate": "AWS Fargate"}


def _uses(action: str) -> str:
    repo, sha, _tag = ACTIONS[action]
    return f"{repo}@{sha}"


def _step(action: str, **with_: object) -> dict:
    step: dict[str, object] = {"uses": _uses(action)}
    if with_:
        step["with"] = with_
    return step


def git_root(start: Path) -> Path | None:
    """The repository holding `start` (a `.git` directory or worktree file), if any."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _has_tests(context: Path) -> bool:
    if (context / "tests").is_dir() or (context / "pytest.ini").is_file():
        return True
    if any(context.glob("test_*.py")):
        return True
    pyproject = context / "pyproject.toml"
    return pyproject.is_file() and "[tool.pytest" in pyproject.read_text(encoding="utf-8", errors="replace")


def _test_steps(spec: Spec, ctx: Context, description: str) -> list[dict]:
    command = spec.targets.github.test
    if command is None:
        return []
    svc = spec.services[spec.first_service]
    context = posixpath.normpath(svc.build.context)
    if command == "auto":
        if not _has_tests(ctx.root / context):
            return []
        command = "python -m pytest"
    install = posixpath.normpath(posixpath.join(context, svc.build.install))
    deps = (f"python -m pip install -r {install}" if not install.endswith("pyproject.toml")
            else f"python -m pip install {posixpath.dirname(install) or '.'}")
    steps = [{"name": "Install the app's dependencies", "run": f"{deps} pytest"}]
    run = command if context == "." else f"cd {context} && {command}"
    steps.append({"name": "Tests", "run": run})
    return steps


def _secret(name: str) -> str:
    return f"${{{{ secrets.{name} }}}}"


def _install_cli(spec: Spec, target: str) -> list[dict]:
    if target == "cloudrun":
        # Workload Identity Federation: no key in the repository; the token GitHub signs for
        # this job (id-token: write) is exchanged for the service account's credentials.
        return [{"name": "Sign in to Google Cloud (workload identity federation)", **_step(
                    "gcp-auth", workload_identity_provider=_secret("GCP_WORKLOAD_IDENTITY_PROVIDER"),
                    service_account=_secret("GCP_SERVICE_ACCOUNT"))},
                {"name": "Install gcloud", **_step("setup-gcloud", version=GCLOUD_VERSION)}]
    if target == "digitalocean":
        # doctl reads DIGITALOCEAN_ACCESS_TOKEN itself: the action only installs it.
        return [{"name": "Install doctl", **_step("setup-doctl", version=DOCTL_VERSION, no_auth=True)}]
    if target == "fargate":
        return [{"name": "Sign in to AWS (OIDC, short-lived keys)", **_step(
                    "aws-credentials", **{"role-to-assume": _secret("AWS_ROLE_ARN"),
                                          "aws-region": spec.targets.fargate.region})},
                {"name": "Install Terraform", **_step("setup-terraform", terraform_version=TERRAFORM_VERSION,
                                                      terraform_wrapper=False)}]
    if target == "fly":
        return [{"name": "Install flyctl", **_step("setup-flyctl", version=FLYCTL_VERSION)}]
    if target == "railway":
        return [{"name": "Node for Railway's IaC file", **_step("setup-node", **{"node-version": RAILWAY_NODE})},
                {"name": "Install the Railway CLI", "run": f"npm install --global {RAILWAY_CLI}"}]
    if target == "render":
        archive = f"cli_{RENDER_CLI_VERSION}_linux_amd64.zip"
        url = f"https://github.com/render-oss/cli/releases/download/v{RENDER_CLI_VERSION}/{archive}"
        return [{"name": "Install the Render CLI", "run": "\n".join([
            f'curl -fsSL --retry 3 -o "$RUNNER_TEMP/render.zip" {url}',
            'unzip -q -o "$RUNNER_TEMP/render.zip" -d "$RUNNER_TEMP/render"',
            'install -D -m 0755 "$RUNNER_TEMP"/render/cli_v* "$HOME/.local/bin/render"',
            'echo "$HOME/.local/bin" >> "$GITHUB_PATH"',
            '"$HOME/.local/bin/render" --version',
        ])}]
    # kubectl is on GitHub's Ubuntu runners; the cluster comes from the KUBECONFIG secret.
    return [{"name": "Cluster credentials", "env": {"KUBECONFIG_CONTENT": "${{ secrets.KUBECONFIG }}"},
             "run": 'umask 077 && printf \'%s\\n\' "$KUBECONFIG_CONTENT" > "$RUNNER_TEMP/kubeconfig"'}]


def _setup(spec: Spec, fetch_history: bool = False) -> list[dict]:
    checkout = {"persist-credentials": False}
    if fetch_history:
        checkout["fetch-depth"] = 0  # Render: `up` checks the deployed commit is on the branch
    python = spec.services[spec.first_service].build.python
    return [
        _step("checkout", **checkout),
        _step("setup-python", **{"python-version": python}),
        {"name": "Install streamdeploy", "run": f'python -m pip install "streamdeploy=={__version__}"'},
    ]


def _secret_names(spec: Spec) -> list[str]:
    names: list[str] = []
    for svc in spec.services.values():
        names.extend(n for n in svc.secrets if n not in names)
    return names


def _verify_steps(spec: Spec, target: str, description: str) -> list[dict]:
    """`up` verifies where its plan knows the URL; where the platform names it only once the
    service exists, a last step asks the platform's CLI for it and runs `verify`."""
    if target == "cloudrun" and spec.targets.cloudrun.public:  # a private service needs an identity token
        from streamdeploy.targets.cloudrun import service_name

        run = spec.targets.cloudrun
        ask = (f"gcloud run services describe {service_name(spec, spec.first_service)} --region={run.region} "
               f"--project={run.project} --format='value(status.url)'")
    elif target == "digitalocean" and not spec.targets.digitalocean.domain:
        pick = ("import json, sys; print(next(a['default_ingress'] for a in json.load(sys.stdin) "
                f"if a['spec']['name'] == '{spec.name}'))")
        ask = f'doctl apps list --output json | python -c "{pick}"'
    elif target == "fargate":
        from streamdeploy.targets.fargate import DIR

        ask = f"terraform -chdir={DIR} output -raw url"
    else:
        return []
    return [{"name": "Verify the running service", "run": f'url="$({ask})"\nstreamdeploy verify "$url" -f {description}',
             **({"env": {n: _secret(n) for n in PLATFORM_SECRETS[target]}} if PLATFORM_SECRETS[target] else {})}]


# Targets whose service reads its secrets from the platform's own store, not from `up`.
SECRETS_IN_THE_CLOUD = ("fargate",)  # Secrets Manager, by name


def _service_secrets(spec: Spec, target: str) -> list[str]:
    return [] if target in SECRETS_IN_THE_CLOUD else _secret_names(spec)


def _deploy_job(spec: Spec, target: str, description: str, needs: str) -> dict:
    env = {name: _secret(name) for name in (*PLATFORM_SECRETS[target], *_service_secrets(spec, target))}
    if target == "kubernetes":
        env["KUBECONFIG"] = "${{ runner.temp }}/kubeconfig"
    job: dict[str, object] = {
        "name": f"Deploy to {TITLES[target]}",
        "needs": needs,
        "runs-on": RUNNER,
        "timeout-minutes": 60,
    }
    if target in SIGN_IN_SECRETS:  # OIDC: this job alone may ask GitHub for an identity token
        job["permissions"] = {"contents": "read", "id-token": "write"}
    if spec.targets.github.environment:
        job["environment"] = spec.targets.github.environment
    # Render and App Platform build what is pushed: `up` checks HEAD is on origin/<branch>.
    from_git = target == "render" or (target == "digitalocean" and not spec.targets.digitalocean.image)
    job["steps"] = [
        *_setup(spec, fetch_history=from_git),
        *_install_cli(spec, target),
        {"name": f"Ship to {TITLES[target]}, then verify it",
         "run": f"streamdeploy up --target {target} -f {description}", **({"env": env} if env else {})},
        *_verify_steps(spec, target, description),
    ]
    return job


def workflow(spec: Spec, ctx: Context) -> tuple[dict, list[Note]]:
    settings = spec.targets.github
    if not settings.deploy:
        raise fail("`render --target github` needs the targets to ship on push", key="targets.github.deploy",
                   fix="add `targets: {github: {deploy: [fly]}}` (any of fly, railway, render, kubernetes, "
                       "cloudrun, digitalocean, fargate)")
    if "cloudrun" in settings.deploy and not spec.targets.cloudrun.project:
        from streamdeploy.targets.cloudrun import project_problem

        raise project_problem()
    if "fargate" in settings.deploy and not spec.targets.fargate.state_bucket:
        # A runner starts empty: with local state every push would plan the whole stack anew.
        raise fail("a deploy from GitHub Actions needs Terraform's state kept outside the runner",
                   key="targets.fargate.state_bucket",
                   fix="set targets.fargate.state_bucket to an S3 bucket you own (and migrate local state once: "
                       "`terraform -chdir=terraform init -migrate-state`)")
    notes: list[Note] = []
    description = ctx.description
    check_steps = [
        *_setup(spec),
        {"name": "Generated files match streamdeploy.yaml", "run": f"streamdeploy render --check -f {description}"},
        *_test_steps(spec, ctx, description),
    ]
    jobs: dict[str, dict] = {"check": {"name": "render --check and tests", "runs-on": RUNNER,
                                       "timeout-minutes": 30, "steps": check_steps}}
    previous = "check"
    for target in dict.fromkeys(settings.deploy):
        job_id = f"deploy-{target}"
        jobs[job_id] = _deploy_job(spec, target, description, previous)
        previous = job_id
    document: dict[str, object] = {
        "name": f"deploy {spec.name}",
        "on": {"push": {"branches": [settings.branch]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": f"streamdeploy-deploy-{spec.name}", "cancel-in-progress": False},
    }
    root = git_root(ctx.root)
    if root is not None and root != ctx.root:
        where = Path(os.path.relpath(ctx.root, root)).as_posix()
        document["defaults"] = {"run": {"working-directory": where}}
        notes.append(Note(NAME, f"GitHub reads workflows only from the repository root; this description is in "
                                f"{where}/", key="targets.github",
                          fix=f"move {FILE} to the repository root's .github/workflows/ (its steps already run "
                              f"in {where}/)"))
    document["jobs"] = jobs
    secrets = sorted({s for t in settings.deploy
                      for s in (*PLATFORM_SECRETS[t], *SIGN_IN_SECRETS.get(t, ()), *_service_secrets(spec, t))})
    if "fargate" in settings.deploy:
        notes.append(Note(NAME, "the Fargate job applies the Terraform module with the image in "
                          "targets.fargate.image: push a new tag for new code (an earlier job or workflow)",
                          key="targets.fargate.image", level="info"))
    notes.append(Note(NAME, "add these repository secrets (Settings > Secrets and variables > Actions): "
                      + ", ".join(secrets), key="targets.github", level="info"))
    return document, notes


class _Dumper(yaml.SafeDumper):
    """Multi-line scripts as literal blocks, the way people write workflow steps."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(document: dict) -> str:
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True,
                     default_flow_style=False)
    # `on` stays a string key: YAML 1.1 readers (PyYAML among them) read a bare `on` as true.
    text = text.replace("\non:\n", "\n'on':\n", 1)
    # The tag each pinned SHA was read from, as a comment, for people and update bots.
    for repo, sha, tag in ACTIONS.values():
        text = text.replace(f"uses: {repo}@{sha}\n", f"uses: {repo}@{sha}  # {tag}\n")
    return text


class GithubTarget:
    name = NAME
    title = "GitHub Actions"

    def render(self, spec: Spec, ctx: Context) -> Rendering:
        document, notes = workflow(spec, ctx)
        return Rendering((RenderedFile(FILE, _dump(document)),), tuple(notes))

    def plan(self, spec: Spec, ctx: Context) -> Plan:
        raise fail("GitHub Actions is not a place to ship to: it runs `up` for the targets it names",
                   fix="`streamdeploy render --target github`, commit the workflow, then push")


TARGET = GithubTarget()
