"""The fargate target: a Terraform module in JSON syntax that the AWS provider's schema accepts,
Terraform's loading rules accept, with streams, the single-writer rule and secrets done right,
and a plan that shows the changes before applying exactly them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import contracts
from conftest import example_files, load_description, load_example
from fakes.platforms import terraform as fake_terraform
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import fargate, get
from streamdeploy.targets.base import Context

SCHEMA = json.loads((Path(__file__).parent / "terraform" / "aws_provider_schema.json").read_text())
EXAMPLES = [p.parent.name for p in example_files()]


def modules(loaded) -> dict[str, dict]:
    rendering = get("fargate").render(loaded.spec, Context(root=loaded.root))
    return {f.path: json.loads(f.content) for f in rendering.files if f.path.endswith(".tf.json")}


def check_block(body: dict, schema: dict, where: str) -> list[str]:
    problems = []
    for name, value in body.items():
        if name in ("//", "count", "depends_on", "lifecycle", "for_each", "provider"):
            continue
        if name not in schema:
            problems.append(f"{where}: the provider has no argument {name!r}")
            continue
        nested = schema[name].get("block")
        if nested is not None and not isinstance(value, str):
            for item in value if isinstance(value, list) else [value]:
                problems += check_block(item, nested, f"{where}.{name}")
    problems += [f"{where}: required {n!r} missing" for n, s in schema.items() if s["required"] and n not in body]
    return problems


ALTERNATIVES = ("secrets: [{any_of: [OPENAI_API_KEY, ANTHROPIC_API_KEY]}, API_KEY, "
                "{name: SENTRY_DSN, optional: true}]")


def described(example: str, tmp_path: Path):
    """The example, or (``scaled-alternatives``) scaled with optional secrets and alternatives."""
    if example != "scaled-alternatives":
        return load_example(example)
    text = load_example("scaled").path.read_text().replace("secrets: [OPENAI_API_KEY, API_KEY]", ALTERNATIVES)
    return load_description(tmp_path, text)


@pytest.mark.parametrize("example", [*EXAMPLES, "scaled-alternatives"])
def test_every_resource_and_block_is_one_the_aws_provider_defines(example, tmp_path):
    problems = []
    for path, module in modules(described(example, tmp_path)).items():
        for block in ("resource", "data"):
            for kind, named in module.get(block, {}).items():
                key = kind if block == "resource" else f"data.{kind}"
                assert key in SCHEMA, f"{path}: {key} is not in tests/targets/terraform/aws_provider_schema.json"
                for name, body in named.items():
                    problems += check_block(body, SCHEMA[key], f"{path}:{key}.{name}")
    assert problems == []


@pytest.mark.parametrize("example", [*EXAMPLES, "scaled-alternatives"])
def test_the_module_loads_by_terraforms_rules(example, tmp_path):
    out = tmp_path / "module"
    out.mkdir()
    for path, module in modules(described(example, tmp_path)).items():
        (out / Path(path).name).write_text(json.dumps(module))
        assert set(module) <= fake_terraform.BLOCKS, path
    config = fake_terraform._config(out)  # syntax, duplicates, every reference declared
    assert config["resource"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (not on Debian)")
def test_terraform_validate_when_terraform_is_here(tmp_path):
    for path, module in modules(load_example("scaled")).items():
        (tmp_path / Path(path).name).write_text(json.dumps(module))
    init = subprocess.run(["terraform", "init", "-backend=false", "-input=false"], cwd=tmp_path, capture_output=True,
                          text=True)
    if init.returncode != 0:
        pytest.skip(f"terraform init needs the provider from the registry: {init.stderr[-200:]}")
    result = subprocess.run(["terraform", "validate", "-no-color"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def resources(loaded) -> dict:
    out: dict = {}
    for module in modules(loaded).values():
        for kind, named in module.get("resource", {}).items():
            for name, body in named.items():
                out[f"{kind}.{name}"] = body
    return out


def test_the_alb_idle_timeout_is_above_the_longest_stream_and_4000s_is_refused(tmp_path):
    scaled = resources(load_example("scaled"))
    assert scaled["aws_lb.main"]["idle_timeout"] == 30 * 60 + fargate.IDLE_MARGIN
    long = load_description(tmp_path, "version: 1\nname: x\nservices:\n  api:\n    start: uvicorn m:a --host 0.0.0.0\n    port: 8000\n"
                                      "    streaming: {paths: [/s], max_duration: 3990s}\n")
    assert resources(long)["aws_lb.main"]["idle_timeout"] == 4000
    too_long = load_description(tmp_path, "version: 1\nname: x\nservices:\n  api:\n    start: uvicorn m:a --host 0.0.0.0\n"
                                          "    port: 8000\n    streaming: {paths: [/s], max_duration: 70m}\n")
    with pytest.raises(ProblemsError) as refused:
        get("fargate").render(too_long.spec, Context(root=tmp_path))
    assert "4000" in refused.value.problems[0].message


def test_a_volume_is_efs_with_one_writer_and_the_data_cannot_be_destroyed():
    app = resources(load_example("app"))
    assert app["aws_efs_file_system.data"]["lifecycle"] == {"prevent_destroy": True}
    assert app["aws_efs_file_system.data"]["encrypted"] is True
    service = app["aws_ecs_service.api"]
    assert service["desired_count"] == 1
    assert (service["deployment_minimum_healthy_percent"], service["deployment_maximum_percent"]) == (0, 100)
    [container] = json.loads(app["aws_ecs_task_definition.api"]["container_definitions"])
    assert container["mountPoints"] == [{"sourceVolume": "chroma_data", "containerPath": "/data/chroma",
                                         "readOnly": False}]
    assert app["aws_efs_access_point.api_chroma_data"]["posix_user"] == {"uid": 10001, "gid": 10001}


def test_the_store_is_one_task_on_efs_found_by_name_and_replicas_scale_the_api():
    scaled = resources(load_example("scaled"))
    assert scaled["aws_ecs_service.chroma"]["desired_count"] == 1
    assert scaled["aws_ecs_service.chroma"]["deployment_maximum_percent"] == 100
    assert scaled["aws_ecs_service.api"]["desired_count"] == 3
    assert scaled["aws_ecs_service.api"]["deployment_minimum_healthy_percent"] == 100
    [container] = json.loads(scaled["aws_ecs_task_definition.api"]["container_definitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["CHROMA_HOST"] == "chroma.stream-gen-ui.internal" and env["CHROMA_PORT"] == "8000"
    health = scaled["aws_lb_target_group.api"]["health_check"]
    assert health["path"] == "/health" and health["timeout"] < health["interval"]


def test_secrets_are_secrets_manager_arns_by_name_never_values():
    module = modules(load_example("scaled"))
    main = module["terraform/main.tf.json"]
    assert main["data"]["aws_secretsmanager_secret"]["api_key"] == {"name": "stream-gen-ui/API_KEY"}
    [container] = json.loads(resources(load_example("scaled"))["aws_ecs_task_definition.api"]["container_definitions"])
    assert {"name": "API_KEY", "valueFrom": "${data.aws_secretsmanager_secret.api_key.arn}"} in container["secrets"]


def test_an_optional_secret_is_looked_up_without_failing_and_granted_only_when_it_exists(tmp_path):
    text = load_example("scaled").path.read_text().replace("secrets: [OPENAI_API_KEY, API_KEY]",
                                                            "secrets: [{name: SENTRY_DSN, optional: true}]")
    loaded = load_description(tmp_path, text)
    main = modules(loaded)["terraform/main.tf.json"]
    assert "aws_secretsmanager_secret" not in main["data"]
    assert main["data"]["aws_secretsmanager_secrets"]["sentry_dsn"] == {
        "filter": [{"name": "name", "values": ["stream-gen-ui/SENTRY_DSN"]}]}
    # the name filter matches prefixes: the local keeps the secret of exactly this name
    assert ':secret:stream-gen-ui/SENTRY_DSN-[A-Za-z0-9]{6}$' in main["locals"]["secret_sentry_dsn"]
    policy = main["resource"]["aws_iam_role_policy"]["secrets"]
    assert policy["count"] == "${length(local.secret_sentry_dsn) > 0 ? 1 : 0}"  # IAM refuses an empty Resource
    assert '"Resource": ${jsonencode(local.secret_sentry_dsn)}' in policy["policy"]
    task = resources(loaded)["aws_ecs_task_definition.api"]
    assert '"secrets": ${jsonencode([for arn in local.secret_sentry_dsn : {name = "SENTRY_DSN", valueFrom = arn}])}' \
        in task["container_definitions"]
    assert "lifecycle" not in task  # nothing is needed


def test_the_plan_shows_the_changes_then_applies_exactly_them():
    plan = get("fargate").plan(load_example("scaled").spec, Context(root=Path(".")))
    words = [step.argv[2] for step in plan.steps]
    assert words == ["init", "plan", "show", "apply"]
    assert plan.steps[3].argv[-1] == fargate.PLAN_FILE and "-auto-approve" not in plan.steps[3].argv
    for step in plan.steps:
        assert contracts.accepts("terraform", step.argv), contracts.problem("terraform", step.argv)
    assert plan.secrets == ()  # values never pass through here: tasks read them from Secrets Manager


def test_up_needs_an_image_and_says_so():
    with pytest.raises(ProblemsError) as refused:
        get("fargate").plan(load_example("app").spec, Context(root=Path(".")))
    assert refused.value.problems[0].key == "targets.fargate.image"


def test_the_guard_refuses_a_plan_that_deletes_the_file_system():
    plan = {"resource_changes": [{"address": "aws_efs_file_system.data", "type": "aws_efs_file_system",
                                  "change": {"actions": ["delete"]}},
                                 {"address": "aws_ecs_task_definition.api", "type": "aws_ecs_task_definition",
                                  "change": {"actions": ["delete", "create"]}}]}
    assert fargate.destroyed_data(json.dumps(plan)) == ["aws_efs_file_system.data"]
    plan["resource_changes"].pop(0)
    assert fargate.destroyed_data(json.dumps(plan)) == []


def test_names_aws_limits_to_32_characters():
    assert fargate.aws_name("a" * 30, "dashboard") != fargate.aws_name("a" * 30, "dashboard2")
    assert len(fargate.aws_name("a" * 30, "dashboard")) == 32
    assert fargate.task_size(0.5, 512_000_000) == (512, 1024)
    assert fargate.task_size(1, 1_000_000_000) == (1024, 2048)


def test_a_service_reference_goes_through_the_load_balancer():
    admin = resources(load_example("multi"))["aws_ecs_task_definition.admin"]
    [container] = json.loads(admin["container_definitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["API_URL"] == "http://${aws_lb.main.dns_name}"  # api is the balancer's default route
