"""The digitalocean target: an app spec the published schema accepts, the API with its health
check, a dashboard as a second service, SECRET envs without values, the store by URL, and a
plan doctl accepts that sends secret values only through the pipe into doctl."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import contracts
from conftest import load_description, load_example, platform_schema
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import digitalocean, get
from streamdeploy.targets.base import Context

WITH_DASHBOARD = """\
version: 1
name: shop
stores:
  vectors: {engine: chroma}
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8080
    health: {path: /healthz, interval: 10s, timeout: 2s, grace: 40s}
    streaming: {paths: [/stream], max_duration: 20m}
    store: vectors
    secrets: [API_KEY]
    replicas: 2
  admin:
    start: streamlit run admin.py --server.port $PORT --server.address 0.0.0.0
    port: 8501
    health: {path: /_stcore/health}
    secrets: [ADMIN_PASSWORD]
  worker:
    start: python -m app.worker
targets:
  digitalocean: {image: "ghcr.io/acme/shop-{service}:2.1", store_urls: {vectors: "https://vectors.acme.dev:8443"}}
"""


def app_spec(loaded) -> dict:
    rendering = get("digitalocean").render(loaded.spec, Context(root=loaded.root))
    [spec] = [yaml.safe_load(f.content) for f in rendering.files if f.path == digitalocean.FILE]
    return spec


@pytest.mark.parametrize("source", ["example", "described"])
def test_the_app_spec_matches_the_published_schema(source, tmp_path):
    schema = platform_schema("do-app-spec.schema.json")
    loaded = load_example("scaled") if source == "example" else load_description(tmp_path, WITH_DASHBOARD)
    jsonschema.validate(app_spec(loaded), schema)


def test_services_health_dashboard_worker_secrets_and_store(tmp_path):
    spec = app_spec(load_description(tmp_path, WITH_DASHBOARD))
    api, admin = spec["services"]
    assert api["health_check"]["http_path"] == "/healthz" and api["instance_count"] == 2
    assert api["image"] == {"registry_type": "GHCR", "registry": "acme", "repository": "shop-api", "tag": "2.1"}
    envs = {e["key"]: e for e in api["envs"]}
    assert envs["API_KEY"] == {"key": "API_KEY", "scope": "RUN_TIME", "type": "SECRET"}  # no value
    assert envs["CHROMA_HOST"]["value"] == "vectors.acme.dev" and envs["CHROMA_PORT"]["value"] == "8443"
    assert envs["CHROMA_SSL"]["value"] == "true"
    assert admin["name"] == "admin" and admin["health_check"]["http_path"] == "/_stcore/health"
    assert [r["component"]["name"] for r in spec["ingress"]["rules"]] == ["api", "admin"]
    assert spec["workers"][0]["name"] == "worker" and "http_port" not in spec["workers"][0]
    # Two instances: the shared-CPU sizes that allow one instance only are not picked.
    assert api["instance_size_slug"] == "apps-s-1vcpu-1gb"


def test_the_embedded_example_is_refused_with_the_store_mode(tmp_path):
    with pytest.raises(ProblemsError) as refused:
        app_spec(load_example("app"))
    assert "store mode" in refused.value.problems[0].fix


def test_the_plan_pipes_the_spec_with_values_into_doctl():
    plan = get("digitalocean").plan(load_example("scaled").spec, Context(root=Path(".")))
    for step in plan.steps:
        for argv in (step.argv, step.pipe_to):
            if argv and argv[0] == "doctl":
                assert contracts.accepts("doctl", argv), contracts.problem("doctl", argv)
    ship = plan.steps[-1]
    assert ship.pipe_to[:5] == ("doctl", "apps", "create", "--spec", "-") and "--upsert" in ship.pipe_to
    assert set(ship.pass_secrets) == {"OPENAI_API_KEY", "API_KEY"}
    assert [s.argv[1] for s in plan.steps if s.argv[0] == "git"] == ["ls-files", "diff", "merge-base"]


def test_the_glue_fills_secret_values_from_the_environment():
    spec = app_spec(load_example("scaled"))
    filled = digitalocean.with_values(json.loads(json.dumps(spec)), {"API_KEY": "k1", "OPENAI_API_KEY": "k2"})
    envs = {e["key"]: e for e in filled["services"][0]["envs"]}
    assert envs["API_KEY"]["value"] == "k1" and envs["API_KEY"]["type"] == "SECRET"
    with pytest.raises(KeyError):
        digitalocean.with_values(json.loads(json.dumps(spec)), {})


def test_an_unset_optional_secret_keeps_the_encrypted_value_the_app_holds_and_a_required_one_never_does():
    spec = {"name": "x", "services": [{"name": "api", "envs": [
        {"key": "API_KEY", "type": "SECRET"}, {"key": "SENTRY_DSN", "type": "SECRET"},
        {"key": "OTHER", "type": "SECRET"}]}]}
    held = {"api.SENTRY_DSN": "EV[1:abc]", "api.API_KEY": "EV[1:def]"}
    filled = digitalocean.with_values(json.loads(json.dumps(spec)), {"API_KEY": "k1"},
                                      frozenset({"SENTRY_DSN", "OTHER"}), held)
    assert filled["services"][0]["envs"] == [{"key": "API_KEY", "type": "SECRET", "value": "k1"},
                                             {"key": "SENTRY_DSN", "type": "SECRET", "value": "EV[1:abc]"}]
    with pytest.raises(KeyError):  # a required secret is never taken from the app: it must be set
        digitalocean.with_values(json.loads(json.dumps(spec)), {}, frozenset({"SENTRY_DSN"}), held)


def test_without_doctl_no_secret_is_held(tmp_path):
    assert digitalocean.held_secrets("x", doctl=str(tmp_path / "no-doctl")) == {}


@pytest.mark.parametrize("reference,source", [
    ("registry.digitalocean.com/acme/api:1.0", {"registry_type": "DOCR", "repository": "api", "tag": "1.0"}),
    ("acme/api", {"registry_type": "DOCKER_HUB", "registry": "acme", "repository": "api", "tag": "latest"}),
    ("docker.io/acme/api:3", {"registry_type": "DOCKER_HUB", "registry": "acme", "repository": "api", "tag": "3"}),
])
def test_image_sources(reference, source):
    assert digitalocean.image_source(reference) == source


def test_an_image_app_platform_cannot_pull_is_refused():
    with pytest.raises(ProblemsError):
        digitalocean.image_source("quay.io/acme/api:1")


def test_a_service_reference_is_the_components_private_name_or_its_bindable_public_url(tmp_path):
    text = WITH_DASHBOARD.replace("    secrets: [ADMIN_PASSWORD]\n", "    secrets: [ADMIN_PASSWORD]\n"
                                  "    env: {API_URL: {service: api}, API_PUBLIC: {service: api, network: public}}\n")
    spec = app_spec(load_description(tmp_path, text))
    envs = {e["key"]: e["value"] for e in spec["services"][1]["envs"] if "value" in e}
    assert envs["API_URL"] == "http://api:8080"  # the app's private network, by component name
    assert envs["API_PUBLIC"] == "${api.PUBLIC_URL}"
