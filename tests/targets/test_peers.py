"""Services that reference each other: `{service: NAME}` env values, the order they ship in, what
`check` says where a platform cannot reach a service the way the description asks, and the price
of a service that sleeps."""

from __future__ import annotations

import pytest

from conftest import load_description, load_example
from streamdeploy import capabilities, pricing
from streamdeploy.problems import ProblemsError
from streamdeploy.spec import ServiceRef
from streamdeploy.targets import local, peers
from streamdeploy.targets.base import Context

TWO = """version: 1
name: demo
services:
  ui:
    start: uvicorn ui:app --host 0.0.0.0 --port $PORT
    port: 3000
    env: {API: {service: api}, API_HOST: {service: api, property: host}, API_PORT: {service: api, property: port}}
  api:
    start: uvicorn api:app --host 0.0.0.0 --port $PORT
    port: 8000
    health: {path: /healthz}
"""


def test_literal_writes_each_property_and_leaves_default_ports_out():
    address = peers.Address("api", 8000)
    assert peers.literal(ServiceRef(service="api"), address) == "http://api:8000"
    assert peers.literal(ServiceRef(service="api", property="hostport"), address) == "api:8000"
    assert peers.literal(ServiceRef(service="api", property="host"), address) == "api"
    assert peers.literal(ServiceRef(service="api", property="port"), address) == "8000"
    public = peers.Address("demo.fly.dev", None, "https")
    assert peers.literal(ServiceRef(service="api"), public) == "https://demo.fly.dev"
    assert peers.literal(ServiceRef(service="api", property="hostport"), public) == "demo.fly.dev:443"


def test_a_referenced_service_ships_first_and_a_cycle_keeps_the_description_order(tmp_path):
    assert peers.deploy_order(load_description(tmp_path, TWO).spec) == ["api", "ui"]
    cycle = TWO.replace("    health: {path: /healthz}\n", "    env: {UI: {service: ui}}\n")
    assert peers.deploy_order(load_description(tmp_path, cycle).spec) == ["api", "ui"]
    assert peers.deploy_order(load_example("multi").spec) == ["api", "admin"]


def test_every_target_writes_the_reference_its_own_way(tmp_path):
    from streamdeploy.targets import compose, docker, fly, kubernetes, railway, render

    spec = load_description(tmp_path, TWO).spec
    ref = spec.services["ui"].env_refs["API"]
    assert docker.peer_value(spec, "ui", ref) == compose.peer_value(spec, "ui", ref) == "http://api:8000"
    assert kubernetes.peer_value(spec, "ui", ref) == "http://api:8000"
    assert railway.peer_value(spec, "ui", ref) == "http://${{api.RAILWAY_PRIVATE_DOMAIN}}:${{api.PORT}}"
    assert render.peer_value(spec, "ui", ref).entry == {"type": "web", "name": "demo-api", "property": "hostport"}
    assert fly.peer_value(spec, "ui", ref) == "https://demo-api.fly.dev"  # IPv4 listener, public


def test_local_points_at_the_port_the_run_gave_and_waits_for_the_api_first(tmp_path):
    loaded = load_description(tmp_path, TWO)
    (tmp_path / "requirements.txt").write_text("")
    plan = local.TARGET.plan(loaded.spec, Context(tmp_path, options=(("python", __import__("sys").executable),)))
    starts = [s for s in plan.steps if s.background]
    assert [dict(s.env)["STREAMDEPLOY_SERVICE"] for s in starts] == ["api", "ui"]
    api_port = dict(starts[0].env)["PORT"]
    ui_env = dict(starts[1].env)
    assert ui_env["API"] == f"http://127.0.0.1:{api_port}" and ui_env["API_PORT"] == api_port
    wait = plan.steps[plan.steps.index(starts[1]) - 1]
    assert wait.argv[-3:] == (f"http://127.0.0.1:{api_port}/healthz", "--timeout", "80")
    assert [service for service, _ in plan.urls] == ["ui", "api"] and plan.url.endswith(dict(starts[1].env)["PORT"])


@pytest.mark.parametrize("change,message", [
    ("{service: apo}", "did you mean `api`?"),
    ("{service: ui}", "refers to `ui` itself"),
])
def test_a_reference_to_nothing_is_bad_input(tmp_path, change, message):
    with pytest.raises(ProblemsError) as raised:
        load_description(tmp_path, TWO.replace("{service: api}", change, 1))
    [problem] = raised.value.problems
    assert message in f"{problem.message} {problem.fix}" and raised.value.exit_code == 2
    assert problem.key.startswith("services.ui.env.API") and problem.line == 7


def findings(loaded, target: str) -> dict[str, capabilities.Finding]:
    return {f.rule: f for f in capabilities.check(loaded, [target])}


@pytest.mark.parametrize("target,resolves", [("fly", False), ("railway", False), ("render", False),
                                             ("local", False), ("compose", True), ("kubernetes", True)])
def test_a_bare_service_name_is_an_error_where_it_does_not_resolve(tmp_path, target, resolves):
    loaded = load_description(tmp_path, TWO.replace("{service: api}", "http://api:8000/v1", 1))
    found = findings(loaded, target).get("peer-bare-name")
    if resolves:
        assert found is None
    else:
        assert found.severity == "error" and found.key == "services.ui.env.API"
        assert "{service: api}" in found.fix


def test_render_cannot_write_a_scheme_or_a_public_url(tmp_path):
    found = findings(load_description(tmp_path, TWO), "render")
    assert found["peer-url-without-scheme"].severity == "warning"
    public = load_description(tmp_path, TWO.replace("{service: api}", "{service: api, network: public}", 1))
    assert findings(public, "render")["peer-public-unsupported"].severity == "error"
    assert "peer-public-unsupported" not in findings(public, "railway")


def test_a_private_dashboard_is_published_where_people_have_no_way_in_and_says_what_protects_it():
    loaded = load_example("multi")
    for target in ("railway", "render"):
        warning = findings(loaded, target)["private-not-reachable"]
        assert warning.key == "services.admin.public" and "ADMIN_PASSWORD" in warning.message
    for target in ("fly", "kubernetes", "compose"):
        assert "private-not-reachable" not in findings(loaded, target)


def test_the_dashboard_is_priced_on_its_own_and_costs_nothing_asleep_where_it_sleeps():
    spec = load_example("multi").spec
    fly = {i.what: i for i in pricing.estimate(spec, capabilities.platform("fly")).items}
    assert fly["services.admin"].monthly > 0 and fly["services.admin"].idle_monthly == 0.0
    assert fly["services.api"].idle is None  # the API never sleeps
    render = {i.what: i for i in pricing.estimate(spec, capabilities.platform("render")).items}
    assert render["services.admin"].idle is None  # Render's paid instances never sleep
    assert "no-scale-to-zero" in findings(load_example("multi"), "render")
