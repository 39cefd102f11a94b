"""`up` of the two-service example (the API and its dashboard) against the strict fake CLIs.

For fly, railway, render, kubernetes and compose: both services ship, the API first; each
gets its own size and its own secrets; the dashboard's API_URL is the platform's own way
of reaching the API (and the fakes resolve it as the platform would); a second `up` creates
nothing twice; and after a change to the dashboard, the change is what runs.
"""

from __future__ import annotations

import pytest
import yaml

from fakes import fake_clis  # noqa: F401  (fixture)
from fakes.platforms import digest
from fakes.platforms.fly import parse_secrets as fly_reads
from test_up_fakes import (
    SECRETS,
    cluster,
    assert_every_call_parsed,
    assert_plan_order,
    assert_secrets_stayed_hidden,
    git,
    plan_for,
    project_from,
    render_api,  # noqa: F401  (fixture)
    render_repository,
    ship,
    ship_render,
)

ADMIN_SECRETS = {"ADMIN_PASSWORD", "API_KEY"}
API_SECRETS = {"OPENAI_API_KEY", "API_KEY"}


def change_the_dashboard(root) -> None:
    """A redeploy that matters: more memory and a new setting for the dashboard."""
    path = root / "streamdeploy.yaml"
    text = path.read_text()
    text = text.replace("resources: {cpu: 0.5, memory: 512MB}", "resources: {cpu: 0.5, memory: 1GB}")
    text = text.replace('LEADING: "  two spaces"', 'LEADING: "  two spaces"\n      THEME: dark')
    path.write_text(text)


def test_fly_ships_the_api_then_the_private_dashboard_wired_by_its_private_name(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    first = ship(fake_clis, root, "fly")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "fly"))
    fly = fake_clis.state()["fly"]
    assert fly["deploy_order"] == ["stream-gen-ui", "stream-gen-ui-admin"]
    api, admin = fly["apps"]["stream-gen-ui"], fly["apps"]["stream-gen-ui-admin"]
    assert set(api["secrets"]) == API_SECRETS and set(admin["secrets"]) == ADMIN_SECRETS
    imports = {c.argv[c.argv.index("--app") + 1]: fly_reads(c.stdin) for c in fake_clis.calls("fly")
               if c.command == ["secrets", "import"]}
    assert imports["stream-gen-ui-admin"] == {k: SECRETS[k] for k in ADMIN_SECRETS}
    assert api["vm"] == [{"size": "shared-cpu-1x", "memory": "1024mb"}]
    assert admin["vm"] == [{"size": "shared-cpu-1x", "memory": "512mb"}]
    # the API listens on `::`, so the dashboard reaches it on the private network; the fake checks it answers
    assert admin["env"]["API_URL"] == "http://stream-gen-ui.internal:8000" and admin["unreachable"] == []
    assert [ip["type"] for ip in admin["ips"]] == ["private_v6"]  # private: Flycast only, no public IP
    assert {ip["type"] for ip in api["ips"]} == {"v6", "shared_v4"}

    fake_clis.clear_calls()
    second = ship(fake_clis, root, "fly")
    assert second.returncode == 0, second.stderr
    names = [" ".join(c.command) for c in fake_clis.calls("fly")]
    assert "apps create" not in names and "volumes create" not in names
    assert len(fake_clis.state()["fly"]["apps"]["stream-gen-ui"]["volumes"]) == 1

    change_the_dashboard(root)
    third = ship(fake_clis, root, "fly")
    assert third.returncode == 0, third.stderr
    admin = fake_clis.state()["fly"]["apps"]["stream-gen-ui-admin"]
    assert admin["env"]["THEME"] == "dark" and admin["vm"] == [{"size": "shared-cpu-1x", "memory": "1024mb"}]
    assert fake_clis.state()["fly"]["deploy_order"][-2:] == ["stream-gen-ui", "stream-gen-ui-admin"]
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_railway_ships_both_and_the_reference_variable_resolves_to_the_api(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    first = ship(fake_clis, root, "railway")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "railway"))
    rail = fake_clis.state()["railway"]
    assert rail["deploy_order"] == ["api", "admin"]
    [project] = rail["projects"].values()
    services = {s["name"]: s for s in project["services"].values()}
    assert services["admin"]["resolved"]["API_URL"] == "http://api.railway.internal:8000"
    assert services["admin"]["unresolved"] == []
    secrets = {name: {k for k, v in s["variables"].items() if str(v).startswith("sha256:")}
               for name, s in services.items()}
    assert secrets == {"api": API_SECRETS, "admin": ADMIN_SECRETS}
    # private, but Railway has no way in for people: the dashboard gets a domain (its password protects it)
    assert services["admin"]["domain"] and services["api"]["domain"]
    ts = (root / ".railway" / "railway.ts").read_text()
    admin_block = ts[ts.index('service("admin"'):]
    assert "memoryBytes: 512000000" in admin_block and "sleepApplication: true" in admin_block

    second = ship(fake_clis, root, "railway")
    assert second.returncode == 0, second.stderr
    [project] = fake_clis.state()["railway"]["projects"].values()
    assert len(project["services"]) == 2
    assert sum(1 for c in fake_clis.calls("railway") if c.command == ["init"]) == 1

    change_the_dashboard(root)
    third = ship(fake_clis, root, "railway")
    assert third.returncode == 0, third.stderr
    [project] = fake_clis.state()["railway"]["projects"].values()
    admin = next(s for s in project["services"].values() if s["name"] == "admin")
    assert admin["resolved"]["THEME"] == "dark" and admin["resolved"]["API_URL"].endswith(".railway.internal:8000")
    assert "memoryBytes: 1000000000" in (root / ".railway" / "railway.ts").read_text()
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_render_validates_the_fromservice_wiring_and_deploys_the_api_first(fake_clis, render_api, tmp_path):
    root = project_from("multi", tmp_path)
    # Render builds from the repository: here it holds both directories (multi builds ../app)
    env = render_repository(fake_clis, root, repo=root.parent, services={
        "srv-api0000000000000000": "stream-gen-ui-api", "srv-admin00000000000000": "stream-gen-ui-admin"})
    first = ship_render(fake_clis, root, render_api)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_every_call_parsed(fake_clis)
    assert fake_clis.state()["render"]["deploy_order"] == ["stream-gen-ui-api", "stream-gen-ui-admin"]
    blueprint = yaml.safe_load((root / "render.yaml").read_text())
    admin = next(s for s in blueprint["services"] if s["name"] == "stream-gen-ui-admin")
    assert {"key": "API_URL", "fromService": {"type": "web", "name": "stream-gen-ui-api",
                                              "property": "hostport"}} in admin["envVars"]
    secrets = {s["name"]: {v["key"] for v in s["envVars"] if v.get("sync") is False} for s in blueprint["services"]}
    assert secrets == {"stream-gen-ui-api": API_SECRETS, "stream-gen-ui-admin": ADMIN_SECRETS}

    second = ship_render(fake_clis, root, render_api)
    assert second.returncode == 0, second.stderr

    # a Blueprint whose fromService names no such service is refused before anything deploys
    broken = (root / "render.yaml").read_text().replace("name: stream-gen-ui-api\n      property",
                                                        "name: stream-gen-ui-apii\n      property")
    (root / "render.yaml").write_text(broken)
    git(root.parent, "commit", "-qam", "typo", env=env)
    git(root.parent, "push", "-q", env=env)
    fake_clis.clear_calls()
    refused = fake_clis.run("up", "--target", "render", "--no-verify", "--force", "--env-file", "/dev/null",
                            cwd=root, env={**SECRETS, "RENDER_HOST": render_api.url})
    assert refused.returncode != 0
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_kubernetes_rolls_out_the_api_before_the_dashboard_each_with_its_secret(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    cluster(fake_clis)  # with the Gateway the API's HTTPRoute joins
    first = ship(fake_clis, root, "kubernetes")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "kubernetes"))
    rollouts = [c.argv[2] for c in fake_clis.calls("kubectl") if c.command == ["rollout", "status"]]
    assert rollouts == ["deployment/api", "deployment/admin"]
    objects = fake_clis.state()["kubectl"]["objects"]
    assert set(objects["Secret/default/admin-secrets"]["dataDigests"]) == ADMIN_SECRETS
    assert objects["Secret/default/admin-secrets"]["dataDigests"]["ADMIN_PASSWORD"] == digest(SECRETS["ADMIN_PASSWORD"])
    admin = yaml.safe_load_all((root / "k8s" / "admin.yaml").read_text())
    by_kind = {d["kind"]: d for d in admin}
    assert by_kind["ConfigMap"]["data"]["API_URL"] == "http://api:8000"
    assert "Ingress" not in by_kind and "HTTPRoute" not in by_kind  # private: kubectl port-forward reaches it
    limits = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "512M"}

    second = ship(fake_clis, root, "kubernetes")
    assert second.returncode == 0, second.stderr
    change_the_dashboard(root)
    third = ship(fake_clis, root, "kubernetes")
    assert third.returncode == 0, third.stderr
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects["ConfigMap/default/admin-env"]["data"]["THEME"] == "dark"
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_compose_starts_the_api_first_and_the_dashboard_reaches_it_by_name(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    first = ship(fake_clis, root, "compose")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert project["start_order"] == ["api", "admin"]
    containers = {c["service"]: c for c in project["containers"].values()}
    assert containers["admin"]["Env"]["API_URL"] == "http://api:8000"
    assert containers["admin"]["Limits"] == {"cpus": "0.5", "memory": "489m"}
    assert containers["api"]["Limits"] == {"cpus": "1", "memory": "954m"}
    assert set(containers["admin"]["EnvFromCaller"]) == ADMIN_SECRETS

    change_the_dashboard(root)
    second = ship(fake_clis, root, "compose")
    assert second.returncode == 0, second.stderr
    [project] = fake_clis.state()["docker"]["projects"].values()
    containers = {c["service"]: c for c in project["containers"].values()}
    assert containers["admin"]["Env"]["THEME"] == "dark" and containers["admin"]["Limits"]["memory"] == "954m"
    assert not project.get("volumes_deleted")
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


@pytest.mark.parametrize("target", ["fly", "railway", "kubernetes", "compose"])
def test_a_bare_service_name_is_caught_before_anything_ships(fake_clis, tmp_path, target):
    root = project_from("multi", tmp_path)
    path = root / "streamdeploy.yaml"
    path.write_text(path.read_text().replace("API_URL: {service: api}", "API_URL: http://api:8000"))
    if target == "kubernetes":
        cluster(fake_clis)
    result = fake_clis.run("up", "--target", target, "--no-verify", cwd=root, env=SECRETS)
    if target in ("kubernetes", "compose"):
        assert result.returncode == 0, result.stderr  # there the service name resolves
    else:
        assert result.returncode == 1 and "bare name" in result.stderr
        assert not fake_clis.calls(target)
