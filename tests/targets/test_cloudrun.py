"""The cloudrun target: a Knative Service the published schema accepts, set up for streams,
secrets by Secret Manager reference, the store named by URL, and a plan gcloud accepts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import contracts
from conftest import load_description, load_example, platform_schema
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import cloudrun, get
from streamdeploy.targets.base import Context

SCALED_WITH_DASHBOARD = """\
version: 1
name: shop
stores:
  vectors: {engine: chroma, port: 8100}
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8080
    health: {path: /healthz, interval: 10s, timeout: 2s, grace: 40s}
    streaming: {paths: [/stream], max_duration: 45m}
    store: vectors
    env: {K_SERVICE: mine, MODE: "a \\"quoted\\" # value"}
    secrets: [API_KEY]
    resources: {cpu: 0.5, memory: 3GB}
  admin:
    start: streamlit run admin.py --server.port $PORT --server.address 0.0.0.0
    port: 8501
    resources: {cpu: 2, memory: 6GB}
targets:
  cloudrun: {project: shop-prod-1, region: us-east1, max_instances: 20, store_urls: {vectors: "http://10.1.2.3:8100"}}
"""


def services(loaded) -> dict[str, dict]:
    rendering = get("cloudrun").render(loaded.spec, Context(root=loaded.root))
    return {f.path: yaml.safe_load(f.content) for f in rendering.files if f.path.startswith("cloudrun/")}


def test_scaled_matches_the_published_cloud_run_schema():
    schema = platform_schema("cloud-run-v1.schema.json")
    for path, service in services(load_example("scaled")).items():
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(service))
        assert not errors, f"{path}: {errors[0].message} at {list(errors[0].path)}"


def test_a_described_service_validates_too(tmp_path):
    schema = platform_schema("cloud-run-v1.schema.json")
    for service in services(load_description(tmp_path, SCALED_WITH_DASHBOARD)).values():
        jsonschema.validate(service, schema)


def test_streams_get_their_timeout_warm_instances_open_slots_and_cpu_between_requests():
    [service] = services(load_example("scaled")).values()
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert template["spec"]["timeoutSeconds"] == 30 * 60 + cloudrun.TIMEOUT_MARGIN
    assert template["spec"]["containerConcurrency"] == 1000
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert annotations["autoscaling.knative.dev/minScale"] == "3"  # replicas: 3


def test_env_secrets_store_url_and_the_reserved_port(tmp_path):
    rendered = services(load_description(tmp_path, SCALED_WITH_DASHBOARD))
    container = rendered["cloudrun/api.yaml"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "PORT" not in env and "K_SERVICE" not in env  # Cloud Run sets these itself
    assert env["MODE"]["value"] == 'a "quoted" # value'
    assert env["CHROMA_HOST"]["value"] == "10.1.2.3" and env["CHROMA_PORT"]["value"] == "8100"
    assert "CHROMA_SSL" not in env
    assert env["API_KEY"] == {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "shop-API_KEY",
                                                                                  "key": "latest"}}}
    # 0.5 vCPU would mean one request per instance: given 1; 3 GB fits 1 vCPU; 6 GB needs 2.
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2862Mi"}
    admin = rendered["cloudrun/admin.yaml"]["spec"]["template"]
    assert admin["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2"
    assert admin["spec"]["containerConcurrency"] == 80 and admin["spec"]["timeoutSeconds"] == 300
    assert admin["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "20"


def test_the_embedded_example_and_a_store_without_url_are_refused(tmp_path):
    with pytest.raises(ProblemsError) as refused:
        services(load_example("app"))
    assert "store mode" in refused.value.problems[0].fix
    text = SCALED_WITH_DASHBOARD.replace(', store_urls: {vectors: "http://10.1.2.3:8100"}', "")
    with pytest.raises(ProblemsError) as refused:
        services(load_description(tmp_path, text))
    assert "targets.cloudrun.store_urls.vectors" in refused.value.problems[0].fix


def test_streams_longer_than_an_hour_are_refused(tmp_path):
    text = SCALED_WITH_DASHBOARD.replace("max_duration: 45m", "max_duration: 61m")
    with pytest.raises(ProblemsError) as refused:
        services(load_description(tmp_path, text))
    assert "60 minutes" in refused.value.problems[0].message


def test_the_plan_is_one_gcloud_accepts_and_sends_secrets_on_stdin():
    plan = get("cloudrun").plan(load_example("scaled").spec, Context(root=Path(".")))
    for step in plan.steps:
        for argv in (step.argv, step.skip_if.argv if step.skip_if else None):
            if argv and argv[0] == "gcloud":
                assert contracts.accepts("gcloud", argv), contracts.problem("gcloud", argv)
        if step.pipe_to:
            replace = step.pipe_to[step.pipe_to.index("--") + 1:]
            assert contracts.accepts("gcloud", replace), contracts.problem("gcloud", replace)
    adds = [s for s in plan.steps if s.argv[1:4] == ("secrets", "versions", "add")]
    assert [s.stdin.secrets for s in adds] == [("OPENAI_API_KEY",), ("API_KEY",)]
    assert all(s.stdin.format == "value" and "--data-file=-" in s.argv for s in adds)
    assert set(plan.secrets) == {"OPENAI_API_KEY", "API_KEY"}


def test_up_needs_the_project(tmp_path):
    text = SCALED_WITH_DASHBOARD.replace("project: shop-prod-1, ", "")
    loaded = load_description(tmp_path, text)
    rendered = services(loaded)  # renders with a placeholder, says so
    assert cloudrun.PROJECT_PLACEHOLDER in rendered["cloudrun/api.yaml"]["spec"]["template"]["spec"]["containers"][0][
        "image"]
    with pytest.raises(ProblemsError) as refused:
        get("cloudrun").plan(loaded.spec, Context(root=tmp_path))
    assert "project" in refused.value.problems[0].fix


def test_the_rollout_pins_the_digest_cloud_build_pushed(tmp_path, monkeypatch):
    [service] = services(load_example("scaled")).values()
    image = service["spec"]["template"]["spec"]["containers"][0]["image"]
    build = {"results": {"images": [{"name": image, "digest": "sha256:abc"}]}}
    pinned = cloudrun.pinned(json.loads(json.dumps(service)), build)
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"] == image.rsplit(":", 1)[0] + "@sha256:abc"
    with pytest.raises(LookupError):
        cloudrun.pinned(json.loads(json.dumps(service)), {"results": {"images": []}})
    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    assert cloudrun.main(["replace", str(tmp_path / "x.yaml"), "--", "gcloud"]) == 1


def test_a_service_reference_is_refused_with_how_to_set_it(tmp_path):
    text = SCALED_WITH_DASHBOARD.replace("    resources: {cpu: 2, memory: 6GB}\n",
                                         "    resources: {cpu: 2, memory: 6GB}\n    env: {API_URL: {service: api}}\n")
    with pytest.raises(ProblemsError) as caught:
        services(load_description(tmp_path, text))
    problem = caught.value.problems[0]
    assert problem.key == "services.admin.env" and "gcloud run services describe api" in problem.fix
