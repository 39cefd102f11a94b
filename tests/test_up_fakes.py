"""`streamdeploy up` for every platform target, against the fake CLIs.

Each target's real plan runs through the real runner and the fakes, which parse argv
like the real CLIs and keep state. For each: every command line is one the CLI accepts,
the plan's commands run in the plan's order, secrets travel only on stdin or by name
(distinctive values are grepped for in every argv, every output and every file written),
and a second `up` creates nothing twice.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_no_traceback
from fakes import fake_clis  # noqa: F401  (fixture)
from fakes.platforms import digest
from fakes.platforms.fly import parse_secrets as fly_reads
from streamdeploy import loader
from streamdeploy.commands.up import make_plan

SECRETS = {
    "OPENAI_API_KEY": "sk-live-Q7vX2mN9-openai",
    "API_KEY": "apikey-Z9y8X7w6-shared",
    "ADMIN_PASSWORD": 'adm-"P4ss" #w0rd',
}


def project_from(example: str, tmp_path: Path) -> Path:
    """A copy of examples/<example>; the two-service example with examples/app beside it (it builds
    the API from ../app)."""
    ignore = shutil.ignore_patterns("tests", ".streamdeploy", "__pycache__", ".venv")
    root = tmp_path / ("multi" if example == "multi" else "project")
    shutil.copytree(EXAMPLES / example, root, ignore=ignore)
    if example == "multi":
        shutil.copytree(EXAMPLES / "app", tmp_path / "app", ignore=ignore)
    return root


def git(root: Path, *args: str, env: dict) -> str:
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def ship(fakes, root: Path, target: str, *extra: str, env: dict | None = None):
    result = fakes.run("up", "--target", target, "--no-verify", *extra, cwd=root, env={**SECRETS, **(env or {})})
    assert_no_traceback(result)
    return result


def plan_for(root: Path, target: str):
    return make_plan(loader.load(root / "streamdeploy.yaml"), target)


def assert_secrets_stayed_hidden(fakes, root: Path, *results) -> None:
    values = list(SECRETS.values())
    for call in fakes.calls():
        for value in values:
            assert all(value not in arg for arg in call.argv), f"secret value on argv: {call.line}"
    for result in results:
        for value in values:
            assert value not in result.stdout and value not in result.stderr
    for path in root.rglob("*"):
        if path.is_file() and "node_modules" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(v in text for v in values), f"secret value written to {path}"


def assert_every_call_parsed(fakes) -> None:
    rejected = [(c.line, c.usage_error) for c in fakes.calls() if c.usage_error]
    assert not rejected, rejected


def assert_plan_order(fakes, plan) -> None:
    """The plan's commands ran in the plan's order (probes and readiness checks interleave)."""
    calls = [(c.binary, *c.argv) for c in fakes.calls()]
    position = 0
    unmatched = []
    for step in plan.steps:
        wanted = tuple(step.argv)
        later = [i for i in range(position, len(calls)) if calls[i] == wanted]
        if later:
            position = later[0] + 1
        elif wanted in calls:
            unmatched.append(wanted)  # it ran, but before a step that comes earlier in the plan
    assert not unmatched, f"out of plan order: {unmatched}"


# --- fly -----------------------------------------------------------------------------------


def test_fly_up_creates_the_app_and_volume_imports_secrets_on_stdin_and_deploys(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    first = ship(fake_clis, root, "fly")
    assert first.returncode == 0, first.stderr
    plan = plan_for(root, "fly")
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan)
    by_command = {" ".join(c.command): c for c in fake_clis.calls("fly")}
    assert fly_reads(by_command["secrets import"].stdin) == {k: SECRETS[k] for k in ("OPENAI_API_KEY", "API_KEY")}
    deploy = by_command["deploy"]
    assert deploy.exit == 0 and deploy.env["FLY_API_TOKEN"] and "--config" in deploy.argv
    app = fake_clis.state()["fly"]["apps"]["stream-gen-ui"]
    assert app["deployed"] and [v["name"] for v in app["volumes"]] == ["chroma_data"]
    assert {k: v["digest"] for k, v in app["secrets"].items()} == {
        "OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"]), "API_KEY": digest(SECRETS["API_KEY"])}
    assert "[3/5] Creating volume chroma_data (1 GB, iad)" in first.stderr

    fake_clis.clear_calls()
    second = ship(fake_clis, root, "fly")
    assert second.returncode == 0, second.stderr
    names = [" ".join(c.command) for c in fake_clis.calls("fly")]
    assert "apps create" not in names and "volumes create" not in names
    assert second.stderr.count("already exists, skipping") == 2
    app = fake_clis.state()["fly"]["apps"]["stream-gen-ui"]
    assert len(app["volumes"]) == 1 and app["releases"] == 2
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


# --- railway ---------------------------------------------------------------------------------


def test_railway_iac_up_applies_the_config_sets_secrets_on_stdin_and_waits(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    first = ship(fake_clis, root, "railway")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    plan = plan_for(root, "railway")
    assert_plan_order(fake_clis, plan)
    sets = [c for c in fake_clis.calls("railway") if c.command == ["variable", "set"] and "--stdin" in c.argv]
    assert {c.argv[2]: c.stdin for c in sets} == SECRETS  # one secret per call, the value on stdin
    ups = [c for c in fake_clis.calls("railway") if c.command == ["up"]]
    assert ups and all("--ci" in c.argv or c.env["CI"] for c in ups)  # waits for the deploy's verdict
    [project] = fake_clis.state()["railway"]["projects"].values()
    services = {s["name"]: s for s in project["services"].values()}
    assert set(services) == {"api", "admin"}
    assert [v["mountPath"] for v in services["api"]["volumes"]] == ["/data/chroma"]
    assert services["api"]["variables"]["OPENAI_API_KEY"] == f"sha256:{digest(SECRETS['OPENAI_API_KEY'])}"

    second = ship(fake_clis, root, "railway")
    assert second.returncode == 0, second.stderr
    [project] = fake_clis.state()["railway"]["projects"].values()  # still one project
    services = {s["name"]: s for s in project["services"].values()}
    assert set(services) == {"api", "admin"} and len(services["api"]["volumes"]) == 1
    assert sum(1 for c in fake_clis.calls("railway") if c.command == ["init"]) == 1
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


# Railway read railway.toml until 2026-12-01; the legacy path is judged on a day before that.
BEFORE_RAILWAY_CUTOFF = {"STREAMDEPLOY_TODAY": "2026-11-30"}


def test_railway_toml_up_adds_the_volume_once(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("format: iac", "format: toml"))
    # The legacy path links an existing project and service (made in the dashboard or by `railway add`).
    fake_clis.seed("railway", {"projects": {"p-1": {"id": "p-1", "name": "stream-gen-ui",
                                                    "environments": {"production": "env-1"}, "applied": None,
                                                    "services": {"s-1": {"id": "s-1", "name": "api", "variables": {},
                                                                         "volumes": [], "deployments": [],
                                                                         "domain": None, "redeploys": 0}}}}})
    first = ship(fake_clis, root, "railway", env=BEFORE_RAILWAY_CUTOFF)
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    second = ship(fake_clis, root, "railway", env=BEFORE_RAILWAY_CUTOFF)
    assert second.returncode == 0, second.stderr
    adds = [c for c in fake_clis.calls("railway") if c.command == ["volume", "add"]]
    assert len(adds) == 1
    service = fake_clis.state()["railway"]["projects"]["p-1"]["services"]["s-1"]
    assert len(service["volumes"]) == 1 and len(service["deployments"]) == 2
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_railway_toml_up_is_refused_after_the_cutoff(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("format: iac", "format: toml"))
    result = ship(fake_clis, root, "railway", env={"STREAMDEPLOY_TODAY": "2026-12-01"})
    assert result.returncode == 1
    assert "stopped reading railway.toml on 2026-12-01" in result.stderr
    assert "format: iac" in result.stderr
    assert not fake_clis.calls("railway"), "nothing may ship once Railway no longer reads the file"


# --- render ----------------------------------------------------------------------------------


def pushed_repository(fakes, root: Path, target: str, repo: Path | None = None) -> dict:
    """A git repository (``repo``, default the project itself) holding the files rendered for
    `target`, pushed to a local remote."""
    env = fakes.env()
    repo = repo or root
    rendered = fakes.run("render", "--target", target, cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "--bare", "-q", str(remote), env=env)
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "streamdeploy render", env=env)
    git(repo, "remote", "add", "origin", str(remote), env=env)
    git(repo, "push", "-q", "-u", "origin", "main", env=env)
    return env


def render_repository(fakes, root: Path, repo: Path | None = None, services: dict | None = None) -> dict:
    """A pushed git repository holding the rendered files, and the services the Blueprint made
    (id -> name)."""
    env = pushed_repository(fakes, root, "render", repo)
    # What the one-time Dashboard step (New > Blueprint) creates.
    services = services or {"srv-d2abc3def4ghi5jkl6mn": "stream-gen-ui-api"}
    fakes.seed("render", {"services": {sid: {"name": name, "type": "web_service"} for sid, name in services.items()}})
    return env


def test_render_up_validates_checks_git_and_deploys_the_blueprint_service(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    render_repository(fake_clis, root)
    first = ship(fake_clis, root, "render")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    calls = [" ".join(c.command) for c in fake_clis.calls("render")]
    assert calls.index("blueprints validate") < calls.index("deploys create")
    [deploy] = [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]
    assert deploy.argv[:3] == ["deploys", "create", "srv-d2abc3def4ghi5jkl6mn"]
    assert "--confirm" in deploy.argv and "--wait" in deploy.argv

    second = ship(fake_clis, root, "render")
    assert second.returncode == 0, second.stderr
    deploys = fake_clis.state()["render"]["services"]["srv-d2abc3def4ghi5jkl6mn"]["deploys"]
    assert [d["status"] for d in deploys] == ["live", "live"]
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_render_up_stops_when_the_work_is_not_pushed(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    env = render_repository(fake_clis, root)
    (root / "README.md").write_text("a change\n")
    git(root, "add", "README.md", env=env)
    git(root, "commit", "-q", "-m", "not pushed", env=env)
    result = ship(fake_clis, root, "render")
    assert result.returncode == 1
    assert "pushed" in result.stderr
    assert not [c for c in fake_clis.calls("render") if c.command == ["deploys", "create"]]


# --- docker and compose ------------------------------------------------------------------------


def test_docker_up_builds_and_runs_with_secrets_by_name_and_replaces_the_container(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    first = ship(fake_clis, root, "docker")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "docker"))
    [container] = fake_clis.state()["docker"]["containers"].values()
    assert container["EnvFromCaller"] == {"OPENAI_API_KEY": True, "API_KEY": True}  # `-e NAME`, value from env
    second = ship(fake_clis, root, "docker")
    assert second.returncode == 0, second.stderr
    docker = fake_clis.state()["docker"]
    assert len(docker["containers"]) == 1 and len(docker["networks"]) == 1
    assert list(docker["volumes"]) == ["stream-gen-ui_chroma_data"]
    assert sum(1 for c in fake_clis.calls("docker") if c.command == ["network", "create"]) == 1
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_compose_up_passes_secrets_by_name_and_rolls_new_code_keeping_the_volume(fake_clis, tmp_path):
    root = project_from("app", tmp_path)  # a fresh project: up writes the Dockerfiles compose builds
    first = ship(fake_clis, root, "compose")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [project] = fake_clis.state()["docker"]["projects"].values()
    [container] = project["containers"].values()
    assert container["EnvFromCaller"] == {"OPENAI_API_KEY": True, "API_KEY": True}
    built = container["ImageId"]
    second = ship(fake_clis, root, "compose")
    assert second.returncode == 0
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert project["containers"]["stream-gen-ui-api-1"]["ImageId"] == built and project["ups"] == 2
    change_code(root)
    third = ship(fake_clis, root, "compose")
    assert third.returncode == 0, third.stderr
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert project["containers"]["stream-gen-ui-api-1"]["ImageId"] != built  # the new code runs
    assert project["volumes"] == ["stream-gen-ui_chroma_data"] and not project.get("volumes_deleted")
    assert "stream-gen-ui_chroma_data" in fake_clis.state()["docker"]["volumes"]
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_compose_up_of_two_services_with_caddy_in_front(fake_clis, tmp_path):
    root = project_from("multi", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("targets:\n", "targets:\n  compose: {domain: app.example.com}\n"))
    first = ship(fake_clis, root, "compose")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    [project] = fake_clis.state()["docker"]["projects"].values()
    callers = {c["service"]: c["EnvFromCaller"] for c in project["containers"].values()}
    assert callers == {"api": {"OPENAI_API_KEY": True, "API_KEY": True},
                       "admin": {"ADMIN_PASSWORD": True, "API_KEY": True}, "caddy": {}}
    assert (root / "Caddyfile").is_file()
    assert plan_for(root, "compose").url == "https://app.example.com"
    second = ship(fake_clis, root, "compose")
    assert second.returncode == 0
    [project] = fake_clis.state()["docker"]["projects"].values()
    assert len(project["containers"]) == 3 and project["ups"] == 2
    assert {"stream-gen-ui_caddy_data", "stream-gen-ui_chroma_data"} <= set(project["volumes"])
    assert not project.get("volumes_deleted")
    assert_secrets_stayed_hidden(fake_clis, root, first, second)


def test_a_plain_docker_compose_up_without_the_secrets_stops(fake_clis, tmp_path):
    """C3: the file itself requires them, so `docker compose up` run by hand fails fast."""
    root = project_from("app", tmp_path)
    assert fake_clis.run("render", "--target", "compose", cwd=root).returncode == 0
    bare = fake_clis.cli("docker", "compose", "-f", "compose.yaml", "up", "--detach", cwd=root,
                         env={"API_KEY": SECRETS["API_KEY"]})
    assert bare.returncode == 1 and "OPENAI_API_KEY" in bare.stderr
    assert not fake_clis.state().get("docker", {}).get("projects")


# --- kubernetes ------------------------------------------------------------------------------


def cluster(fakes, *, gateway: str = "default/gateway", pull_secret: str | None = None,
            registry: str | None = None) -> None:
    """A cluster with a Gateway (what the platform team runs), and a registry login here."""
    namespace, name = gateway.split("/")
    objects = {f"Gateway/{namespace}/{name}": {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                               "metadata": {"name": name, "namespace": namespace}}}
    if pull_secret:
        ns, secret = pull_secret.split("/")
        objects[f"Secret/{ns}/{secret}"] = {"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"name": secret, "namespace": ns}}
    fakes.seed("kubectl", {"objects": objects, "namespaces": ["default", "kube-system", "kube-public", namespace]})
    if registry:
        fakes.seed("docker", {"logins": {registry: {"username": "ci"}}})


def deployment(fakes, namespace: str, name: str = "api") -> dict:
    return fakes.state()["kubectl"]["objects"][f"Deployment/{namespace}/{name}"]


def rollout(fakes, namespace: str, kind: str = "Deployment", name: str = "api") -> dict:
    return fakes.state()["kubectl"]["rollouts"][f"{kind}/{namespace}/{name}"]


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def change_code(root: Path) -> None:
    app = root / "app" / "main.py"
    app.parent.mkdir(exist_ok=True)
    app.write_text((app.read_text() if app.exists() else "") + "\n# a code change\n")


def assert_nothing_deleted(fakes) -> None:
    assert not [c.line for c in fakes.calls("kubectl") if c.command and c.command[0] == "delete"]


def test_kubernetes_up_builds_pushes_and_rolls_out_new_code_only(fake_clis, tmp_path):
    """K2, K14: registry + content tag; the second up rolls nothing, a code change rolls a new image."""
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull", registry="ghcr.io")
    first = ship(fake_clis, root, "kubernetes")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "kubernetes"))
    ns = "stream-gen-ui"
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects[f"Secret/{ns}/api-secrets"]["dataDigests"] == {
        "API_KEY": digest(SECRETS["API_KEY"]), "OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"])}
    live = image_of(deployment(fake_clis, ns))
    assert live.startswith("ghcr.io/example/stream-gen-ui-api:")
    assert fake_clis.state()["docker"]["registry"].keys() == {live}  # what runs is what was pushed
    assert rollout(fake_clis, ns)["images"] == [[live]]
    claim_template = objects[f"StatefulSet/{ns}/chroma"]["spec"]["volumeClaimTemplates"]

    second = ship(fake_clis, root, "kubernetes")
    assert second.returncode == 0, second.stderr
    assert image_of(deployment(fake_clis, ns)) == live
    assert rollout(fake_clis, ns)["revision"] == 1 and rollout(fake_clis, ns)["images"] == [[live]]  # nothing rolled

    change_code(root)
    # The committed manifests name no tag: new code is no drift for CI's and pre-commit's check.
    check = fake_clis.run("render", "--check", "--target", "kubernetes", cwd=root)
    assert check.returncode == 0, check.stderr
    third = ship(fake_clis, root, "kubernetes")
    assert third.returncode == 0, third.stderr
    new = image_of(deployment(fake_clis, ns))
    assert new != live and new in fake_clis.state()["docker"]["registry"]
    assert rollout(fake_clis, ns)["revision"] == 2 and rollout(fake_clis, ns)["images"][-1] == [new]
    assert "differs" not in third.stderr and "-k .streamdeploy/kubernetes" in " ".join(
        c.line for c in fake_clis.calls("kubectl"))
    fourth = ship(fake_clis, root, "kubernetes")
    assert fourth.returncode == 0 and rollout(fake_clis, ns)["revision"] == 2  # unchanged: nothing rolls
    objects = fake_clis.state()["kubectl"]["objects"]
    assert objects[f"StatefulSet/{ns}/chroma"]["spec"]["volumeClaimTemplates"] == claim_template  # data kept
    assert rollout(fake_clis, ns, "StatefulSet", "chroma")["revision"] == 1  # the store was not restarted
    assert_nothing_deleted(fake_clis)
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_kubernetes_up_without_a_registry_builds_for_a_local_cluster_and_keeps_the_claim(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    first = ship(fake_clis, root, "kubernetes")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert not [c for c in fake_clis.calls("docker") if c.command == ["push"]]
    live = image_of(deployment(fake_clis, "default"))
    assert live.startswith("stream-gen-ui-api:") and not live.endswith(":latest")
    claim = fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOncePod"]
    second = ship(fake_clis, root, "kubernetes")
    assert second.returncode == 0, second.stderr
    assert rollout(fake_clis, "default")["revision"] == 1
    (root / "app" / "main.py").write_text((root / "app" / "main.py").read_text() + "\n# new code\n")
    third = ship(fake_clis, root, "kubernetes")
    assert third.returncode == 0, third.stderr
    assert image_of(deployment(fake_clis, "default")) != live
    assert rollout(fake_clis, "default")["revision"] == 2
    assert fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"] == claim
    assert_nothing_deleted(fake_clis)
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_kubernetes_push_without_a_registry_login_stops_before_the_cluster(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull")  # no `docker login`
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "docker login ghcr.io" in result.stderr
    assert not [c for c in fake_clis.calls("kubectl") if c.command == ["apply"]]


def test_kubernetes_up_stops_when_the_gateway_is_missing(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    cluster(fake_clis, gateway="default/other")
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "targets.kubernetes.gateway" in result.stderr and "kubectl get gateways -A" in result.stderr
    assert not [c for c in fake_clis.calls("kubectl") if c.command == ["apply"] and "-k" in c.argv]
    no_api = ship(fake_clis, root, "kubernetes", env={"FAKE_KUBE_NO_GATEWAY_API": "1"})
    assert no_api.returncode == 1 and "ingress_class" in no_api.stderr


@pytest.mark.parametrize("cluster_env,words", [
    ({"FAKE_KUBE_REMOTE": "1"}, ("ImagePullBackOff", "cannot pull the image")),  # K2: no registry, remote nodes
    ({"FAKE_KUBE_NO_DEFAULT_STORAGECLASS": "1"}, ("targets.kubernetes.storage_class", "kubectl get storageclass")),  # K5
])
def test_kubernetes_a_stalled_rollout_says_why_and_what_to_set(fake_clis, tmp_path, cluster_env, words):
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    result = ship(fake_clis, root, "kubernetes", env=cluster_env)
    assert result.returncode == 1
    assert all(word in result.stderr for word in words)


def test_kubernetes_up_does_not_fight_an_autoscaler(fake_clis, tmp_path):
    """K8: replicas an HPA owns are never taken back silently; with `autoscale` they are left to it."""
    root = project_from("scaled", tmp_path)
    cluster(fake_clis, gateway="infra/public", pull_secret="stream-gen-ui/ghcr-pull", registry="ghcr.io")
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    hpa = {".spec.replicas": {"value": 7, "manager": "kube-controller-manager"}}
    fake_clis.seed("kubectl", {"objects": {"Deployment/stream-gen-ui/api": {"_overrides": hpa}}})
    fought = ship(fake_clis, root, "kubernetes")
    assert fought.returncode == 1
    assert 'conflict with "kube-controller-manager"' in fought.stderr and ".spec.replicas" in fought.stderr
    assert "targets.kubernetes.autoscale" in fought.stderr
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace("image_pull_secret: ghcr-pull}",
                                                         "image_pull_secret: ghcr-pull, autoscale: {max: 10}}"))
    settled = ship(fake_clis, root, "kubernetes")
    assert settled.returncode == 0, settled.stderr
    live = deployment(fake_clis, "stream-gen-ui")
    assert "replicas" not in live["spec"] and live["_overrides"] == hpa  # the HPA keeps its 7
    assert "HorizontalPodAutoscaler/stream-gen-ui/api" in fake_clis.state()["kubectl"]["objects"]


def test_kubernetes_changing_a_claims_access_mode_is_refused_and_explained(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text + "  kubernetes: {volume_access: ReadWriteOnce}\n")
    cluster(fake_clis)
    assert ship(fake_clis, root, "kubernetes").returncode == 0
    (root / "streamdeploy.yaml").write_text(text)  # back to the default ReadWriteOncePod
    result = ship(fake_clis, root, "kubernetes")
    assert result.returncode == 1
    assert "spec is immutable after creation" in result.stderr and "volume_access" in result.stderr
    claim = fake_clis.state()["kubectl"]["objects"]["PersistentVolumeClaim/default/api-chroma-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # the claim, and its data, untouched


def test_kubernetes_up_refuses_a_cluster_older_than_the_manifests_need(fake_clis, tmp_path):
    """K3: preStop.sleep needs 1.30; `up` stops before step 1 (exit 3), `doctor` says the same."""
    root = project_from("app", tmp_path)
    cluster(fake_clis)
    old = {"FAKE_KUBE_SERVER_VERSION": "1.29.6"}
    result = ship(fake_clis, root, "kubernetes", env=old)
    assert result.returncode == 3
    assert "Kubernetes 1.29" in result.stderr and "1.30 or newer" in result.stderr
    assert not [c for c in fake_clis.calls("docker") if c.command == ["build"]]
    doctor = fake_clis.run("doctor", "--target", "kubernetes", cwd=root, env=old)
    assert doctor.returncode == 3 and "1.30 or newer" in doctor.stdout + doctor.stderr
    fine = fake_clis.run("doctor", "--target", "kubernetes", cwd=root)
    assert "cluster 1.35" in fine.stdout


# --- cloud run ---------------------------------------------------------------------------------


def change_env(root: Path, value: str) -> None:
    path = root / "streamdeploy.yaml"
    text = path.read_text(encoding="utf-8")
    assert "ENVIRONMENT: production" in text
    path.write_text(text.replace("ENVIRONMENT: production", f"ENVIRONMENT: {value}"), encoding="utf-8")


def test_cloudrun_up_pushes_secrets_on_stdin_builds_and_rolls_out_the_built_digest(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    first = ship(fake_clis, root, "cloudrun")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "cloudrun"))
    project = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]
    assert list(project["repositories"]) == ["europe-west1/streamdeploy"]
    assert {k: v["versions"] for k, v in project["secrets"].items()} == {
        "stream-gen-ui-OPENAI_API_KEY": [digest(SECRETS["OPENAI_API_KEY"])],
        "stream-gen-ui-API_KEY": [digest(SECRETS["API_KEY"])]}
    service = project["services"]["europe-west1/stream-gen-ui-api"]
    image = service["template"]["spec"]["containers"][0]["image"]
    built = project["images"]["europe-west1-docker.pkg.dev/stream-gen-ui-demo/streamdeploy/stream-gen-ui-api"]
    assert image.endswith("@" + built)  # the digest Cloud Build pushed, not the mutable tag
    assert service["revisions"] == ["stream-gen-ui-api-00001"]
    assert service["iam"] == [{"members": ["allUsers"], "role": "roles/run.invoker"}]
    replace = next(c for c in fake_clis.calls("gcloud") if c.command == ["run", "services", "replace"])
    assert replace.argv[3] == "-" and "--region=europe-west1" in replace.argv

    # Second up, nothing changed: no new repository or secret, no new revision (same template).
    fake_clis.clear_calls()
    second = ship(fake_clis, root, "cloudrun")
    assert second.returncode == 0, second.stderr
    names = [" ".join(c.command) for c in fake_clis.calls("gcloud")]
    assert "artifacts repositories create" not in names and "secrets create" not in names
    service = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]["services"][
        "europe-west1/stream-gen-ui-api"]
    assert service["revisions"] == ["stream-gen-ui-api-00001"]

    # New code: the image digest changes, so the template does, so a new revision serves.
    (root / "main.py").write_text("print('v2')\n")  # examples/scaled ships only its description
    third = ship(fake_clis, root, "cloudrun")
    assert third.returncode == 0, third.stderr
    # A changed description: rendered again, rolled out again.
    change_env(root, "staging")
    fourth = ship(fake_clis, root, "cloudrun")
    assert fourth.returncode == 0, fourth.stderr
    service = fake_clis.state()["gcloud"]["projects"]["stream-gen-ui-demo"]["services"][
        "europe-west1/stream-gen-ui-api"]
    assert service["revisions"] == [f"stream-gen-ui-api-0000{n}" for n in (1, 2, 3)]
    env = {e["name"]: e.get("value") for e in service["template"]["spec"]["containers"][0]["env"]}
    assert env["ENVIRONMENT"] == "staging" and env["CHROMA_HOST"] == "chroma.example.com"
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third, fourth)


def test_cloudrun_up_refuses_the_embedded_example_before_any_call(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    result = ship(fake_clis, root, "cloudrun")
    assert result.returncode == 2
    assert "store mode" in result.stderr and "targets.cloudrun.store_urls" in result.stderr
    assert not fake_clis.calls("gcloud")


# --- digitalocean ------------------------------------------------------------------------------


def test_digitalocean_up_creates_then_updates_the_app_with_secrets_only_in_the_request(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    env = pushed_repository(fake_clis, root, "digitalocean")
    first = ship(fake_clis, root, "digitalocean")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    create = next(c for c in fake_clis.calls("doctl") if c.command == ["apps", "create"])
    assert "--upsert" in create.argv and "--spec" in create.argv and create.argv[create.argv.index("--spec") + 1] == "-"
    [app] = fake_clis.state()["doctl"]["apps"].values()
    assert app["secrets"] == {"api.OPENAI_API_KEY": digest(SECRETS["OPENAI_API_KEY"]),
                              "api.API_KEY": digest(SECRETS["API_KEY"])}
    assert app["spec"]["services"][0]["instance_count"] == 3 and app["spec"]["disable_edge_cache"] is True
    assert len(app["deployments"]) == 1

    second = ship(fake_clis, root, "digitalocean")
    assert second.returncode == 0, second.stderr
    apps = fake_clis.state()["doctl"]["apps"]
    assert len(apps) == 1  # updated, not created twice
    [app] = apps.values()
    assert len(app["deployments"]) == 2 and app["deployments"][-1]["cause"] == "sources"  # --update-sources

    change_env(root, "staging")
    rendered = fake_clis.run("render", "--target", "digitalocean", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    git(root, "commit", "-q", "-am", "staging", env=env)
    git(root, "push", "-q", env=env)
    third = ship(fake_clis, root, "digitalocean")
    assert third.returncode == 0, third.stderr
    [app] = fake_clis.state()["doctl"]["apps"].values()
    envs = {e["key"]: e.get("value") for e in app["spec"]["services"][0]["envs"]}
    assert envs["ENVIRONMENT"] == "staging" and app["deployments"][-1]["cause"] == "spec"
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_digitalocean_fake_refuses_an_unknown_key_like_doctl(fake_clis, tmp_path):
    spec = tmp_path / "app.yaml"
    spec.write_text("name: x\nregion: nyc\nservices:\n- name: api\n  volumes: []\n", encoding="utf-8")
    result = fake_clis.cli("doctl", "apps", "create", "--spec", str(spec))
    if "unknown field" not in result.stderr:
        pytest.skip("the published app spec schema is not present")
    assert result.returncode == 1 and 'unknown field "volumes"' in result.stderr


def test_digitalocean_up_refuses_the_embedded_example(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    result = ship(fake_clis, root, "digitalocean")
    assert result.returncode == 2 and "store mode" in result.stderr
    assert not fake_clis.calls("doctl")


# --- fargate -----------------------------------------------------------------------------------


def seed_aws_secrets(fakes) -> None:
    fakes.seed("terraform", {"secrets": ["stream-gen-ui/OPENAI_API_KEY", "stream-gen-ui/API_KEY"]})


def terraform_changes(fakes) -> list[dict]:
    return fakes.state()["terraform"]["applies"][-1]["changes"]


def changed(changes: list[dict], *actions: str) -> set[str]:
    return {c["address"] for c in changes if c["change"]["actions"] == list(actions)}


@pytest.mark.parametrize("example", ["app", "scaled"])
def test_fargate_up_plans_then_applies_that_plan_and_keeps_the_file_system(fake_clis, tmp_path, example):
    root = project_from(example, tmp_path)
    if example == "app":  # the embedded example names no image: say where it was pushed
        path = root / "streamdeploy.yaml"
        path.write_text(path.read_text() + '  fargate: {image: "ghcr.io/example/stream-gen-ui:1.0.0"}\n')
    seed_aws_secrets(fake_clis)
    first = ship(fake_clis, root, "fargate")
    assert first.returncode == 0, first.stderr
    assert_every_call_parsed(fake_clis)
    assert_plan_order(fake_clis, plan_for(root, "fargate"))
    commands = [c.command[0] for c in fake_clis.calls("terraform")]
    assert commands == ["init", "plan", "show", "apply"]
    assert "Plan: " in first.stdout + first.stderr  # the plan is shown before it is applied
    created = changed(terraform_changes(fake_clis), "create")
    assert {"aws_efs_file_system.data", "aws_ecs_service.api", "aws_lb.main"} <= created

    second = ship(fake_clis, root, "fargate")
    assert second.returncode == 0, second.stderr
    assert changed(terraform_changes(fake_clis), "create") == set()
    assert "No changes." in second.stdout + second.stderr

    change_env(root, "staging")
    third = ship(fake_clis, root, "fargate")
    assert third.returncode == 0, third.stderr
    changes = terraform_changes(fake_clis)
    # A new task definition revision, the service updated to it; the data stays where it is.
    assert changed(changes, "delete", "create") == {"aws_ecs_task_definition.api"}
    assert "aws_ecs_service.api" in changed(changes, "update")
    assert "aws_efs_file_system.data" not in {c["address"] for c in changes if "delete" in c["change"]["actions"]}
    assert_secrets_stayed_hidden(fake_clis, root, first, second, third)


def test_fargate_up_refuses_a_plan_that_destroys_the_file_system(fake_clis, tmp_path):
    root = project_from("app", tmp_path)
    path = root / "streamdeploy.yaml"
    path.write_text(path.read_text() + '  fargate: {image: "ghcr.io/example/stream-gen-ui:1.0.0"}\n')
    seed_aws_secrets(fake_clis)
    assert ship(fake_clis, root, "fargate").returncode == 0
    # The volume removed from the description: the EFS block goes, and with it its prevent_destroy.
    text = path.read_text()
    path.write_text(text.replace("    volumes:\n      - {name: chroma_data, mount: /data/chroma, size: 1GB, env: "
                                 "CHROMA_DB_PATH}\n", ""))
    assert "volumes:" not in path.read_text().split("targets:")[0]
    fake_clis.clear_calls()
    result = ship(fake_clis, root, "fargate", "--force")
    assert result.returncode == 1
    assert "refusing to apply" in result.stderr and "aws_efs_file_system.data" in result.stderr
    assert "apply" not in [c.command[0] for c in fake_clis.calls("terraform")]


def test_fargate_up_without_a_secret_in_secrets_manager_stops_at_the_plan(fake_clis, tmp_path):
    root = project_from("scaled", tmp_path)
    result = ship(fake_clis, root, "fargate")
    assert result.returncode == 1
    assert "couldn't find resource" in result.stderr + result.stdout and "create-secret" in result.stderr
    assert "apply" not in [c.command[0] for c in fake_clis.calls("terraform")]
# --- optional secrets and alternatives, on every target that sends secrets ---------------------------

ALTERNATIVES = ("secrets: [{any_of: [OPENAI_API_KEY, ANTHROPIC_API_KEY]}, API_KEY, "
                "{name: SENTRY_DSN, optional: true}]")


def with_alternatives(tmp_path: Path) -> Path:
    root = project_from("app", tmp_path)
    path = root / "streamdeploy.yaml"
    text = path.read_text()
    assert "secrets: [OPENAI_API_KEY, API_KEY]" in text
    path.write_text(text.replace("secrets: [OPENAI_API_KEY, API_KEY]", ALTERNATIVES))
    return root


@pytest.mark.parametrize("target", ["fly", "railway", "kubernetes", "docker", "compose"])
def test_up_needs_one_of_the_alternatives_and_none_of_the_optional_secrets(fake_clis, tmp_path, target):
    root = with_alternatives(tmp_path)
    if target == "kubernetes":
        cluster(fake_clis)
    # SECRETS has OPENAI_API_KEY and API_KEY: no ANTHROPIC_API_KEY, no SENTRY_DSN, and that is fine
    done = ship(fake_clis, root, target)
    assert done.returncode == 0, done.stderr
    assert "ANTHROPIC_API_KEY is not set" not in done.stderr  # one of the alternatives is enough
    if target == "fly":
        (imported,) = [c for c in fake_clis.calls("fly") if c.command == ["secrets", "import"]]
        assert set(fly_reads(imported.stdin)) == {"OPENAI_API_KEY", "API_KEY"}
    if target == "railway":
        sets = [c.argv[2] for c in fake_clis.calls("railway") if c.command == ["variable", "set"]]
        assert sorted(sets) == ["API_KEY", "OPENAI_API_KEY"]  # the unset optional ones are skipped
    assert_secrets_stayed_hidden(fake_clis, root, done)


@pytest.mark.parametrize("target", ["fly", "kubernetes", "docker"])
def test_up_stops_when_none_of_the_alternatives_is_set(fake_clis, tmp_path, target):
    root = with_alternatives(tmp_path)
    done = fake_clis.run("up", "--target", target, "--no-verify", cwd=root, env={"API_KEY": SECRETS["API_KEY"]})
    assert done.returncode == 3, done.stderr
    assert "none of the secrets OPENAI_API_KEY, ANTHROPIC_API_KEY is set" in done.stderr
    assert "SENTRY_DSN" not in done.stderr
    assert not fake_clis.calls()  # nothing ran
