"""The kubernetes target: valid manifests that fit together, safe volumes, SSE through the
ingress, secrets that never reach a file or argv, and a plan kubectl accepts."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

import contracts
from conftest import EXAMPLES, load_description as load_text, platform_schema
from streamdeploy import loader, writer
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import docker, get, kubernetes
from streamdeploy.targets.base import Context

K8S_VERSION = "1.37"
EXAMPLE_NAMES = ("app", "multi", "scaled")
GATEWAY_KINDS = {"HTTPRoute"}  # not in kubernetes-validate: checked against the Gateway API CRD's schema
HTTPROUTE_SCHEMA = "gateway-api-v1.6.1-httproute-v1.schema.json"
SCHEMA_FILES = {
    "Deployment": "k8s-v1.37-deployment-apps-v1.schema.json",
    "StatefulSet": "k8s-v1.37-statefulset-apps-v1.schema.json",
    "Service": "k8s-v1.37-service-v1.schema.json",
    "PersistentVolumeClaim": "k8s-v1.37-persistentvolumeclaim-v1.schema.json",
    "Secret": "k8s-v1.37-secret-v1.schema.json",
}

SERVER = """\
version: 1
name: shop
stores:
  vectors: {engine: chroma, version: "1.5.9", port: 8100, size: 5GiB}
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT --timeout-graceful-shutdown 12
    port: 8080
    health: {path: /healthz, interval: 10s, timeout: 2s, grace: 40s}
    streaming: {paths: [/stream], max_duration: 45m}
    store: vectors
    secrets: [API_KEY]
    replicas: 4
  worker:
    start: python -m app.worker
    store: vectors
targets:
  kubernetes: {namespace: shop, host: shop.example.org, ingress_class: nginx, storage_class: fast-ssd,
               image: "registry.example.org/shop-{service}:2.0"}
"""

EMBEDDED_SCALED = """\
version: 1
name: solo
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
    health: {path: /health}
    streaming: {paths: [/events]}
    volumes: [{name: chroma_data, mount: /data/chroma, size: 2GB, env: CHROMA_DB_PATH}]
    replicas: 3
"""



def load_example(name: str) -> loader.Loaded:
    return loader.load(EXAMPLES / name / "streamdeploy.yaml")


def render(loaded: loader.Loaded):
    return get("kubernetes").render(loaded.spec, Context(root=loaded.root))


def plan(loaded: loader.Loaded):
    return get("kubernetes").plan(loaded.spec, Context(root=loaded.root))


def documents(rendering) -> list[dict]:
    out = []
    for file in rendering.files:
        if file.path.startswith("k8s/") and file.path.endswith(".yaml") and not file.path.endswith("kustomization.yaml"):
            out.extend(d for d in yaml.safe_load_all(file.content) if d is not None)
    return out


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def all_renderings():
    yield from ((name, render(load_example(name))) for name in EXAMPLE_NAMES)


@pytest.fixture
def server(tmp_path):
    return load_text(tmp_path, SERVER)


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_manifest_passes_kubernetes_validate_strict(example):
    docs = documents(render(load_example(example)))
    assert docs
    for doc in docs:
        if doc["kind"] not in GATEWAY_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_validate_really_rejects_a_wrong_field(server):
    deployment = dict(by_kind(documents(render(server)), "Deployment")["api"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_manifests_match_the_published_schemas(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    checked = set()
    for doc in documents(render(loaded)):
        name = SCHEMA_FILES.get(doc["kind"])
        if name is None:
            continue
        jsonschema.validate(doc, platform_schema(name))
        checked.add(doc["kind"])
    assert checked >= {"Deployment"}


def test_the_server_example_covers_every_saved_kind(server):
    kinds = {d["kind"] for d in documents(render(server))}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "Ingress", "StatefulSet", "NetworkPolicy"} <= kinds


def test_kustomization_lists_exactly_the_manifests():
    for _, rendering in all_renderings():
        files = {f.path: f.content for f in rendering.files}
        kustomization = yaml.safe_load(files["k8s/kustomization.yaml"])
        assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
        listed = {f"k8s/{r}" for r in kustomization["resources"]}
        manifests = {p for p in files if p.startswith("k8s/") and p.endswith(".yaml") and p != "k8s/kustomization.yaml"}
        assert listed == manifests
        # Besides k8s/: the image files `up` builds from (none when the image is built elsewhere).
        image_files = {"Dockerfile", ".dockerignore", "docker-entrypoint.sh"}
        # (the two-service example builds the API in ../app and the dashboard in dashboard/)
        assert {p.rsplit("/", 1)[-1] for p in files if not p.startswith("k8s/")} <= image_files


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_real_kubectl_builds_the_kustomization(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    rendering = render(loaded)
    out = tmp_path / "out"
    # The manifests only: multi's Dockerfile for ../app would land outside out/ (refused).
    writer.write_all([f for f in rendering.files if f.path.startswith("k8s/")], out, "streamdeploy.yaml")
    built = subprocess.run(["kubectl", "kustomize", str(out / "k8s")], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    expected = sorted((d["kind"], d["metadata"]["name"]) for d in documents(rendering))
    assert sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built.stdout)) == expected


# ---------------------------------------------------------------- consistency


@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_labels_selectors_and_references_fit_together(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    docs = documents(render(loaded))
    workloads = {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}
    claims = by_kind(docs, "PersistentVolumeClaim")
    config_maps = by_kind(docs, "ConfigMap")
    services = by_kind(docs, "Service")
    namespace = loaded.spec.targets.kubernetes.namespace
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, doc["metadata"]["name"]
    for name, workload in workloads.items():
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        # No other workload's pods match this selector.
        for other_name, other in workloads.items():
            if other_name != name:
                assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
        pod = workload["spec"]["template"]["spec"]
        container = pod["containers"][0]
        volume_names = {v["name"] for v in pod.get("volumes", [])}
        template_names = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volume_names | template_names
        for volume in pod.get("volumes", []):
            assert set(volume) & {"persistentVolumeClaim", "emptyDir"}
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps
        port_names = {p["name"] for p in container.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                handler = container[probe].get("httpGet") or container[probe]["tcpSocket"]
                assert handler["port"] in port_names
    for name, service in services.items():
        selected = [w for w in workloads.values()
                    if service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} workloads"
        container = selected[0]["spec"]["template"]["spec"]["containers"][0]
        port_names = {p["name"] for p in container["ports"]}
        assert all(p["targetPort"] in port_names for p in service["spec"]["ports"])
    for name, stateful_set in by_kind(docs, "StatefulSet").items():
        assert services[stateful_set["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
    for ingress in by_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
    for route in by_kind(docs, "HTTPRoute").values():
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                assert ref["port"] in {p["port"] for p in services[ref["name"]]["spec"]["ports"]}
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for name, policy in by_kind(docs, kind).items():
            selector = (policy["spec"].get("selector") or policy["spec"]["podSelector"])["matchLabels"]
            assert selector == workloads[name]["spec"]["selector"]["matchLabels"]


def test_network_policy_admits_exactly_the_services_that_use_the_store(server):
    docs = documents(render(server))
    policy = by_kind(docs, "NetworkPolicy")["vectors"]
    workloads = {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}
    assert policy["spec"]["podSelector"]["matchLabels"] == workloads["vectors"]["spec"]["selector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]

    def admitted(labels: dict) -> bool:
        return all(labels.get(e["key"]) in e["values"] for e in peer["podSelector"]["matchExpressions"])

    assert {n for n, w in workloads.items() if admitted(w["spec"]["template"]["metadata"]["labels"])} == {"api", "worker"}


# ---------------------------------------------------------------- embedded and server mode


def test_embedded_volume_means_one_replica_recreate_and_a_claim(tmp_path):
    loaded = load_text(tmp_path, EMBEDDED_SCALED)
    rendering = render(loaded)
    docs = documents(rendering)
    deployment = by_kind(docs, "Deployment")["api"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = by_kind(docs, "PersistentVolumeClaim")["api-chroma-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOncePod"]  # K15: never a second pod, even on one node
    assert claim["spec"]["resources"]["requests"]["storage"] == "2G"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {"name": "chroma-data", "persistentVolumeClaim": {"claimName": "api-chroma-data"}}
    assert pod["containers"][0]["volumeMounts"][0] == {"name": "chroma-data", "mountPath": "/data/chroma"}
    assert "topologySpreadConstraints" not in pod and not by_kind(docs, "PodDisruptionBudget")  # one pod
    assert by_kind(docs, "ConfigMap")["api-env"]["data"]["CHROMA_DB_PATH"] == "/data/chroma"
    assert pod["securityContext"]["fsGroup"] == kubernetes.APP_UID  # the volume is writable for the app user
    (note,) = [n for n in rendering.notes if n.key == "services.api.replicas"]
    assert "1 instance, not 3" in note.message and "store" in note.fix
    assert not by_kind(docs, "StatefulSet")


def test_example_app_is_embedded():
    docs = documents(render(load_example("app")))
    deployment = by_kind(docs, "Deployment")["api"]
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"]) == (1, "Recreate")
    assert "api-chroma-data" in by_kind(docs, "PersistentVolumeClaim")


def test_server_mode_is_a_statefulset_behind_a_headless_service_with_replicas(server):
    docs = documents(render(server))
    stateful_set = by_kind(docs, "StatefulSet")["vectors"]
    assert stateful_set["spec"]["replicas"] == 1
    assert stateful_set["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (template,) = stateful_set["spec"]["volumeClaimTemplates"]
    assert template["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert template["spec"]["storageClassName"] == "fast-ssd"
    container = stateful_set["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "chromadb/chroma:1.5.9"
    assert container["args"] == ["run", "--path", "/data", "--host", "0.0.0.0", "--port", "8100"]
    assert container["volumeMounts"][0] == {"name": "data", "mountPath": "/data"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/api/v2/heartbeat"
    headless = by_kind(docs, "Service")["vectors"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["ports"][0]["port"] == 8100
    api = by_kind(docs, "Deployment")["api"]
    assert api["spec"]["replicas"] == 4
    assert api["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert not [v for v in api["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    env = by_kind(docs, "ConfigMap")["api-env"]["data"]
    assert (env["CHROMA_HOST"], env["CHROMA_PORT"]) == ("vectors", "8100")
    assert by_kind(docs, "ConfigMap")["worker-env"]["data"]["CHROMA_HOST"] == "vectors"
    assert not by_kind(docs, "PersistentVolumeClaim")  # the store's claim comes from its template


def test_the_heartbeat_path_is_the_one_the_installed_chroma_client_calls():
    from chromadb.config import APIVersion

    assert kubernetes.CHROMA_HEARTBEAT == f"{APIVersion.V2.value}/heartbeat"


def test_probes_come_from_the_health_check(server):
    container = by_kind(documents(render(server)), "Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10,
                                           "timeoutSeconds": 2, "failureThreshold": 3}
    # Liveness never depends on the store: a restarting Chroma must not restart every replica.
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 40  # grace
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": kubernetes.PRE_STOP_SECONDS}}}


def test_pods_run_unprivileged_and_see_no_cluster_internals(server):
    docs = documents(render(server))
    for workload in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "StatefulSet").values()]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False  # else CHROMA_PORT=tcp://... could shadow ours
        for container in pod["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                                    "capabilities": {"drop": ["ALL"]},
                                                    "readOnlyRootFilesystem": True}


def test_termination_grace_covers_prestop_and_the_servers_own_drain(server):
    docs = documents(render(server))
    pod = by_kind(docs, "Deployment")["api"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > kubernetes.PRE_STOP_SECONDS + 12  # --timeout-graceful-shutdown 12
    assert pod["terminationGracePeriodSeconds"] == kubernetes.PRE_STOP_SECONDS + docker.drain_seconds(
        server.spec.services["api"])  # the drain every target gives the server
    worker = by_kind(docs, "Deployment")["worker"]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == docker.DEFAULT_DRAIN  # no preStop without a port
    assert "lifecycle" not in worker["containers"][0] and "ports" not in worker["containers"][0]


def test_resources_are_exact_and_guaranteed(server):
    docs = documents(render(server))
    api = by_kind(docs, "Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["resources"] == {"requests": {"cpu": "500m", "memory": "512M"}, "limits": {"cpu": "500m", "memory": "512M"}}
    chroma = by_kind(docs, "StatefulSet")["vectors"]["spec"]["template"]["spec"]["containers"][0]
    assert chroma["resources"]["limits"] == {"cpu": "1000m", "memory": "1G"}


@pytest.mark.parametrize("n_bytes,expected", [
    (1_000_000_000, "1G"), (512_000_000, "512M"), (2 * 1024**3, "2Gi"), (1536 * 1024**2, "1536Mi"),
    (1_500_000, "1500k"), (1023, "1023"), (20 * 1000**4, "20T"),
])
def test_quantity_is_exact(n_bytes, expected):
    assert kubernetes.quantity(n_bytes) == expected


def test_an_image_built_elsewhere_is_used_as_given(server):
    docs = documents(render(server))
    images = {n: d["spec"]["template"]["spec"]["containers"][0] for n, d in by_kind(docs, "Deployment").items()}
    assert images["api"]["image"] == "registry.example.org/shop-api:2.0"
    assert images["worker"]["image"] == "registry.example.org/shop-worker:2.0"
    assert "imagePullPolicy" not in images["api"]
    assert not [s for s in plan(server).steps if s.argv[0] == "docker"]  # nothing to build


def test_built_images_carry_a_tag_derived_from_their_sources(tmp_path):
    """K2: no `:latest`; each service's image names the hash of what it is built from. The
    committed manifests name the image without it; the overlay `up` applies sets it."""
    loaded = load_example("multi")
    rendering = render(loaded)
    containers = {n: d["spec"]["template"]["spec"]["containers"][0]
                  for n, d in by_kind(documents(rendering), "Deployment").items()}
    [overlay] = plan(loaded).writes
    assert overlay.path == ".streamdeploy/kubernetes/kustomization.yaml"
    images = {i["name"]: i for i in yaml.safe_load(overlay.content)["images"]}
    for name, container in containers.items():
        assert container["image"] == f"stream-gen-ui-{name}"  # no tag: stable under code changes
        assert container["imagePullPolicy"] == "IfNotPresent"
        entry = images[container["image"]]
        assert entry["newName"] == f"stream-gen-ui-{name}" and len(entry["newTag"]) == 12
        assert f"{entry['newName']}:{entry['newTag']}" == kubernetes.image_for(loaded.spec, name, Context(loaded.root))
    (note,) = [n for n in rendering.notes if n.key == "targets.kubernetes.registry"]
    assert note.level == "warning" and "kind load docker-image" in note.message


def test_the_overlay_sets_the_built_tags_over_the_committed_manifests(tmp_path):
    """What `up` applies, built by the real kustomize: k8s/ as committed, the release's images."""
    root = _copy_app(tmp_path)
    loaded = loader.load(root / "streamdeploy.yaml")
    writer.write_all(list(render(loaded).files), root, "streamdeploy.yaml")
    the_plan = plan(loaded)
    writer.write_state(list(the_plan.writes), root)
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    built = subprocess.run(["kubectl", "kustomize", str(root / kubernetes.OVERLAY)], capture_output=True, text=True,
                           timeout=60)
    assert built.returncode == 0, built.stderr
    deployment = by_kind(list(yaml.safe_load_all(built.stdout)), "Deployment")["api"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == kubernetes.image_for(loaded.spec, "api", Context(root)) and image.count(":") == 1
    assert any(s.argv[-2:] == ("-k", kubernetes.OVERLAY) for s in the_plan.steps)
    assert (root / ".streamdeploy" / ".gitignore").read_text().startswith("*\n")  # never committed


def test_a_code_change_leaves_the_committed_manifests_as_they_are(tmp_path):
    """The defect `render --check` (CI, pre-commit) found: new code must not be drift."""
    root = _copy_app(tmp_path)
    loaded = loader.load(root / "streamdeploy.yaml")
    files = list(render(loaded).files)
    writer.write_all(files, root, "streamdeploy.yaml")
    before = kubernetes.image_for(loaded.spec, "api", Context(root))
    (root / "app" / "main.py").write_text((root / "app" / "main.py").read_text() + "\n# new code\n")
    assert writer.drift(list(render(loaded).files), root, "streamdeploy.yaml") == []
    assert kubernetes.image_for(loaded.spec, "api", Context(root)) != before  # `up` still rolls it out


def _tag_for(root):
    loaded = loader.load(root / "streamdeploy.yaml")
    return kubernetes.image_for(loaded.spec, "api", Context(root=root)).rsplit(":", 1)[1]


def _copy_app(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "app", root, ignore=shutil.ignore_patterns(".streamdeploy", "__pycache__", ".venv"))
    return root


def test_the_content_tag_follows_what_docker_build_would_ship(tmp_path):
    root = _copy_app(tmp_path)
    first = _tag_for(root)
    assert _tag_for(root) == first  # deterministic
    (root / ".env").write_text("API_KEY=local\n")  # .dockerignore keeps it out of the image
    (root / "app" / "__pycache__").mkdir(exist_ok=True)
    (root / "app" / "__pycache__" / "main.cpython-312.pyc").write_bytes(b"\0")
    (root / "k8s").mkdir()
    (root / "k8s" / "api.yaml").write_text("written by render: never part of the tag\n")
    assert _tag_for(root) == first
    (root / "app" / "main.py").write_text((root / "app" / "main.py").read_text() + "\n# changed\n")
    second = _tag_for(root)
    assert second != first  # new code: a new tag, a new pod template, a rollout
    (root / "requirements.txt").write_text((root / "requirements.txt").read_text() + "httpx\n")
    assert _tag_for(root) not in (first, second)
    text = (root / "streamdeploy.yaml").read_text()
    (root / "streamdeploy.yaml").write_text(text.replace('python: "3.12"', 'python: "3.13"'))
    assert _tag_for(root) not in (first, second)  # the Dockerfile changed


def test_the_content_tag_is_the_same_before_and_after_up_writes_the_files(tmp_path):
    root = _copy_app(tmp_path)
    before = _tag_for(root)
    loaded = loader.load(root / "streamdeploy.yaml")
    writer.write_all(list(get("kubernetes").render(loaded.spec, Context(root=root)).files), root, "streamdeploy.yaml")
    assert _tag_for(root) == before


@pytest.mark.parametrize("pattern,path,excluded", [
    ("**/__pycache__", "app/__pycache__/x.pyc", True), ("**/*.py[cod]", "a/b/c.pyc", True),
    (".env.*", ".env.prod", True), ("/data", "data/x", True), ("data", "app/data", False),
    ("*.md", "README.md", True), ("*.md", "docs/README.md", False), ("node_modules", "node_modules/a/b", True),
])
def test_dockerignore_patterns_match_like_moby(pattern, path, excluded):
    from streamdeploy.targets import image_tag

    assert image_tag.parse_dockerignore(pattern).excluded(path) is excluded


def test_an_exception_pattern_brings_a_file_back():
    from streamdeploy.targets import image_tag

    rules = image_tag.parse_dockerignore(".env\n.env.*\n!.env.example\n")
    assert rules.excluded(".env.prod") and not rules.excluded(".env.example") and rules.excluded(".env")


def test_a_private_registry_gets_image_pull_secrets():
    """K14"""
    docs = documents(render(load_example("scaled")))
    pod = by_kind(docs, "Deployment")["api"]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert pod["containers"][0]["image"] == "ghcr.io/example/stream-gen-ui-api"  # the overlay adds the tag
    steps = [s.argv for s in plan(load_example("scaled")).steps]
    assert ("kubectl", "get", "secrets", "ghcr-pull", "-n", "stream-gen-ui", "-o", "name") in steps


def test_image_and_registry_together_are_refused(tmp_path):
    with pytest.raises(ProblemsError) as caught:
        load_text(tmp_path, EMBEDDED_SCALED + "targets:\n  kubernetes: {registry: ghcr.io/you, image: x/y:1}\n")
    assert any("both" in p.message for p in caught.value.problems)


# ---------------------------------------------------------------- replicas: budgets, spreading, autoscaling


def test_replicas_get_a_disruption_budget_and_spread_over_nodes_and_zones(server):
    """K10, K11"""
    docs = documents(render(server))
    budget = by_kind(docs, "PodDisruptionBudget")["api"]
    assert budget["spec"]["maxUnavailable"] == 1
    pod = by_kind(docs, "Deployment")["api"]["spec"]["template"]["spec"]
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert all(c["whenUnsatisfiable"] == "ScheduleAnyway" for c in pod["topologySpreadConstraints"])
    assert "worker" not in by_kind(docs, "PodDisruptionBudget")  # one worker: a budget would block drains


def test_autoscale_renders_an_hpa_and_leaves_replicas_to_it(tmp_path):
    """K12, K8: the Deployment has no spec.replicas for server-side apply to take back."""
    loaded = load_text(tmp_path, SERVER.replace("storage_class: fast-ssd,", "storage_class: fast-ssd, "
                                                "autoscale: {max: 12, cpu: 60},"))
    docs = documents(render(loaded))
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["api"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 12)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert "replicas" not in by_kind(docs, "Deployment")["api"]["spec"]
    for doc in docs:
        if doc["kind"] not in GATEWAY_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_apply_never_forces_conflicts_but_the_secret_does(server):
    steps = plan(server).steps
    apply = next(s for s in steps if s.argv[-2:] == ("-k", kubernetes.OVERLAY))
    assert "--force-conflicts" not in apply.argv and "autoscale" in apply.hint
    secret = next(s for s in steps if s.pass_secrets)
    assert "--force-conflicts" in secret.pipe_to


# ---------------------------------------------------------------- security: read-only root, network policies


def test_containers_have_a_read_only_root_and_writable_scratch(tmp_path):
    """K13: the app writes only to its volume, /tmp and ~/.cache; Chroma to /data and its tmp dirs."""
    docs = documents(render(load_example("app")))
    pod = by_kind(docs, "Deployment")["api"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/data/chroma", "/tmp", f"{kubernetes.APP_HOME}/.cache"}
    assert {v["name"] for v in pod["volumes"] if "emptyDir" in v} == {"tmp", "cache"}
    assert f"HOME={kubernetes.APP_HOME}" in docker.image_files(load_example("app").spec).files[0].content
    chroma = by_kind(documents(render(load_example("scaled"))), "StatefulSet")["chroma"]["spec"]["template"]["spec"]
    assert {m["mountPath"] for m in chroma["containers"][0]["volumeMounts"]} == {"/data", "/tmp", "/var/tmp"}
    off = load_text(tmp_path, EMBEDDED_SCALED + "targets:\n  kubernetes: {read_only_root: false}\n")
    container = by_kind(documents(render(off)), "Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    assert "readOnlyRootFilesystem" not in container["securityContext"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/data/chroma"}


def test_every_service_has_a_network_policy(server):
    """K16: the routed service on its port from anywhere; others from the project only; a worker from nobody."""
    loaded = load_example("multi")
    policies = by_kind(documents(render(loaded)), "NetworkPolicy")
    assert set(policies) == {"api", "admin"}
    (api_rule,) = policies["api"]["spec"]["ingress"]
    assert "from" not in api_rule and api_rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    (admin_rule,) = policies["admin"]["spec"]["ingress"]
    assert admin_rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "stream-gen-ui"}}}]
    worker = by_kind(documents(render(server)), "NetworkPolicy")["worker"]
    assert worker["spec"]["ingress"] == [] and worker["spec"]["policyTypes"] == ["Ingress"]


# ---------------------------------------------------------------- the way in: HTTPRoute or Ingress


def httproute_schema() -> dict:
    """The HTTPRoute CRD's schema, strict like `kubernetes-validate --strict` (no unknown fields)."""
    schema = platform_schema(HTTPROUTE_SCHEMA)

    def close(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def routes(loaded) -> dict[str, dict]:
    return by_kind(documents(render(loaded)), "HTTPRoute")


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_the_default_way_in_is_an_httproute_that_passes_the_gateway_api_schema(example):
    """K1, K9: Gateway API v1 with timeouts, validated against the published CRD (v1.6.1)."""
    schema = httproute_schema()
    (route,) = routes(load_example(example)).values()
    jsonschema.validate(route, schema)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert not by_kind(documents(render(load_example(example))), "Ingress")
    bad = json.loads(json.dumps(route))
    bad["spec"]["rules"][0]["timeouts"]["request"] = "10 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad["spec"]["rules"][0]["timeouts"] = {"request": "1s", "idle": "1s"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("example,minutes", [("app", 10), ("scaled", 30)])
def test_route_timeouts_keep_a_stream_open_past_max_duration(example, minutes):
    (route,) = routes(load_example(example)).values()
    (rule,) = route["spec"]["rules"]
    seconds = {k: int(v.removesuffix("s")) for k, v in rule["timeouts"].items()}
    assert seconds["request"] > minutes * 60
    # The CRD's CEL rule: backendRequest may not be longer than request.
    assert seconds["backendRequest"] <= seconds["request"]


def test_the_route_joins_the_named_gateway():
    (route,) = routes(load_example("scaled")).values()
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "infra"}]
    assert route["spec"]["hostnames"] == ["api.example.com"]
    (default,) = routes(load_example("app")).values()
    assert default["spec"]["parentRefs"] == [{"name": "gateway"}]
    steps = [s.argv for s in plan(load_example("scaled")).steps]
    assert ("kubectl", "get", "gateways.gateway.networking.k8s.io", "public", "-n", "infra", "-o", "name") in steps
    notes = render(load_example("app")).notes
    assert any(n.key == "targets.kubernetes.gateway" and n.level == "warning" for n in notes)


def test_nothing_assumes_ingress_nginx():
    """K1, K7: no example renders an nginx annotation, an IngressClass or a word of ingress-nginx."""
    for _, rendering in all_renderings():
        for file in rendering.files:
            assert "nginx" not in file.content, file.path


def test_an_nginx_ingress_is_an_option_with_both_controllers_sse_settings(server):
    ingress = by_kind(documents(render(server)), "Ingress")["api"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.org/proxy-buffering"] == "False"
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) > 45 * 60
        assert int(annotations[f"nginx.org/{key}"].removesuffix("s")) > 45 * 60
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "shop.example.org"
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.org"], "secretName": "api-tls"}]
    assert not by_kind(documents(render(server)), "HTTPRoute")
    (retired,) = [n for n in render(server).notes if "retired" in n.message]
    assert retired.level == "warning" and "gateway" in retired.fix
    assert not any(s.argv[:3] == ("kubectl", "get", "gateways.gateway.networking.k8s.io") for s in plan(server).steps)


@pytest.mark.parametrize("ingress_class,level,words", [
    ("traefik", "info", "needs nothing more"),
    ("gce", "warning", "BackendConfig with timeoutSec: 2760"),
    ("haproxy", "warning", "turn response buffering off"),
])
def test_other_ingress_classes_get_advice_not_foreign_annotations(tmp_path, ingress_class, level, words):
    """K7"""
    loaded = load_text(tmp_path, SERVER.replace("ingress_class: nginx", f"ingress_class: {ingress_class}"))
    rendering = render(loaded)
    ingress = by_kind(documents(rendering), "Ingress")["api"]
    assert "annotations" not in ingress["metadata"]
    assert ingress["spec"]["ingressClassName"] == ingress_class
    (note,) = [n for n in rendering.notes if n.key == "targets.kubernetes.ingress_class"]
    assert note.level == level and words in note.message


def test_only_the_first_web_service_is_exposed():
    rendering = render(load_example("multi"))
    assert list(by_kind(documents(rendering), "HTTPRoute")) == ["api"]
    assert any(n.key == "services.admin" and "http://admin:8501" in n.message for n in rendering.notes)


# ---------------------------------------------------------------- env and secrets


def test_no_secret_object_and_no_secret_value_in_any_file(monkeypatch):
    marker = "s3cr3t-value-that-must-not-leak"
    for name in ("OPENAI_API_KEY", "API_KEY", "ADMIN_PASSWORD"):
        monkeypatch.setenv(name, marker)
    for example in EXAMPLE_NAMES:
        loaded = load_example(example)
        rendering = render(loaded)
        assert all(marker not in f.content for f in rendering.files)
        docs = documents(rendering)
        assert not [d for d in docs if d["kind"] == "Secret"]
        for name, service in loaded.spec.services.items():
            container = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])}
            assert refs == {s: {"name": f"{name}-secrets", "key": s} for s in service.secrets}
            assert not set(service.secrets) & set(by_kind(docs, "ConfigMap")[f"{name}-env"]["data"])
        for step in plan(loaded).steps:
            assert all(marker not in arg for arg in (*step.argv, *(step.pipe_to or ())))


def test_secret_names_file_holds_names_only():
    rendering = render(load_example("multi"))
    files = {f.path: f.content for f in rendering.files}
    lines = [line for line in files["k8s/api.secret-names.env"].splitlines() if line and not line.startswith("#")]
    assert lines == ["OPENAI_API_KEY", "API_KEY"]
    assert "=" not in "".join(lines)


def test_the_manual_secret_recipe_never_stores_an_empty_value(tmp_path):
    """K4: kubectl stores "" for an unset name; the recipe the note and the names file give stops first."""
    loaded = load_example("app")
    recipe = kubernetes.secret_recipe(loaded.spec, "api")
    files = {f.path: f.content for f in render(loaded).files}
    assert recipe in files["k8s/api.secret-names.env"]
    assert any(recipe in n.message for n in render(loaded).notes if n.key == "services.api.secrets")
    stub = tmp_path / "bin"
    stub.mkdir()
    log = tmp_path / "kubectl.log"
    (stub / "kubectl").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (stub / "kubectl").chmod(0o755)
    env = {"PATH": f"{stub}:/usr/bin:/bin", "OPENAI_API_KEY": "sk-1"}
    unset = subprocess.run(["sh", "-c", recipe], env=env, capture_output=True, text=True, timeout=30)
    assert unset.returncode != 0 and "API_KEY" in unset.stderr
    assert not log.exists()  # kubectl never ran
    empty = subprocess.run(["sh", "-c", recipe], env={**env, "API_KEY": ""}, capture_output=True, text=True, timeout=30)
    assert empty.returncode != 0 and not log.exists()
    both = subprocess.run(["sh", "-c", recipe], env={**env, "API_KEY": "k-2"}, capture_output=True, text=True,
                          timeout=30)
    assert both.returncode == 0, both.stderr
    assert "create secret generic api-secrets" in log.read_text() and "sk-1" not in log.read_text()


def test_the_minimum_cluster_version_is_stated_once():
    """K3: preStop.sleep needs 1.30; the platform facts say the same."""
    from streamdeploy import capabilities

    fact = capabilities.platform("kubernetes").fact("min_version")
    assert fact.value == ".".join(map(str, kubernetes.MIN_SERVER_VERSION)) == "1.30"
    assert any("1.30" in n.message for n in render(load_example("app")).notes)


def test_env_values_round_trip_through_the_config_map():
    loaded = load_example("multi")
    docs = documents(render(loaded))
    for name, service in loaded.spec.services.items():
        data = by_kind(docs, "ConfigMap")[f"{name}-env"]["data"]
        assert all(isinstance(v, str) for v in data.values())
        for key, value in service.plain_env.items():
            assert data[key] == value
        assert data["PORT"] == str(service.port)
    # {service: api} is the API's Service, by name, in the same namespace
    assert by_kind(docs, "ConfigMap")["admin-env"]["data"]["API_URL"] == "http://api:8000"
    assert by_kind(docs, "ConfigMap")["admin-env"]["data"]["MULTILINE"] == "line one\nline two"


def test_a_changed_env_value_rolls_the_pods(tmp_path):
    first = by_kind(documents(render(load_text(tmp_path, EMBEDDED_SCALED))), "Deployment")["api"]
    changed = EMBEDDED_SCALED.replace("replicas: 3", "replicas: 3\n    env: {MODE: b}")
    second = by_kind(documents(render(load_text(tmp_path, changed))), "Deployment")["api"]
    key = "streamdeploy/config-sha256"
    assert first["spec"]["template"]["metadata"]["annotations"][key] != \
        second["spec"]["template"]["metadata"]["annotations"][key]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_real_kubectl_reads_secret_values_from_the_environment_not_argv(tmp_path):
    """The plan's secret step, run for real up to the pipe: values come from the environment."""
    loaded = load_example("app")
    rendering = render(loaded)
    writer.write_all(list(rendering.files), tmp_path, "streamdeploy.yaml")
    step = next(s for s in plan(loaded).steps if s.pass_secrets)
    values = {"OPENAI_API_KEY": 'sk-1\nsecond line "quoted" $HOME', "API_KEY": "a=b=c # not a comment"}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **values}
    result = subprocess.run(list(step.argv), cwd=tmp_path / step.cwd, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    secret = yaml.safe_load(result.stdout)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "api-secrets"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == values
    assert not any(v in " ".join(step.argv) for v in values.values())


# ---------------------------------------------------------------- plan


def test_plan_argv_is_exact(server):
    p = plan(server)
    apply = ("kubectl", "apply", "--server-side", "--field-manager=streamdeploy")
    assert [(s.argv, s.pipe_to) for s in p.steps] == [
        ((*apply, "-f", "k8s/00-namespace.yaml"), None),
        (("kubectl", "create", "secret", "generic", "api-secrets", "--from-env-file=k8s/api.secret-names.env",
          "--dry-run=client", "-o", "yaml", "-n", "shop"), (*apply, "--force-conflicts", "-f", "-", "-n", "shop")),
        ((*apply, "-k", ".streamdeploy/kubernetes"), None),
        (("kubectl", "rollout", "status", "statefulset/vectors", "-n", "shop", "--timeout=300s"), None),
        (("kubectl", "rollout", "status", "deployment/api", "-n", "shop", "--timeout=368s"), None),
        (("kubectl", "rollout", "status", "deployment/worker", "-n", "shop", "--timeout=300s"), None),
    ]
    secret_step = p.steps[1]
    assert secret_step.pass_secrets == ("API_KEY",) and secret_step.stdin is None
    assert p.secrets == ("API_KEY",)
    assert p.tools == ("kubectl",)
    assert p.url == "https://shop.example.org"
    assert all(s.timeout > 0 for s in p.steps)
    assert p.steps[3].timeout > 300  # the step outlives kubectl's own timeout


def test_a_plan_that_builds_pushes_each_image_before_touching_the_cluster():
    loaded = load_example("scaled")
    steps = plan(loaded).steps
    image = kubernetes.image_for(loaded.spec, "api", Context(loaded.root))
    assert steps[0].argv == ("docker", "build", "--tag", image, "--file", "Dockerfile", ".")
    assert steps[1].argv == ("docker", "push", image) and "docker login ghcr.io" in steps[1].hint
    assert steps[2].argv[:2] == ("kubectl", "apply")
    assert plan(loaded).tools == ("docker", "kubectl")


def test_plan_without_namespace_or_host(tmp_path):
    loaded = load_example("multi")
    p = plan(loaded)
    assert p.url is None
    assert p.secrets == ("OPENAI_API_KEY", "API_KEY", "ADMIN_PASSWORD")
    assert [s.argv[:5] for s in p.steps if s.pass_secrets] == [
        ("kubectl", "create", "secret", "generic", "api-secrets"),
        ("kubectl", "create", "secret", "generic", "admin-secrets"),
    ]
    assert not any("-n" in s.argv for s in p.steps)


@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_every_planned_command_is_one_kubectl_accepts(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    for step in plan(loaded).steps:
        for argv in (step.argv, step.pipe_to):
            if argv is not None:
                assert argv[0] in ("kubectl", "docker")
                assert contracts.problem(argv[0], argv[1:]) is None, argv
    files = {f.path for f in render(loaded).files}
    for step in plan(loaded).steps:  # every file the plan names is one render writes
        for arg in step.argv:
            for value in (arg, arg.split("=", 1)[-1]):
                if value.startswith("k8s/"):
                    assert value in files


def test_a_service_named_kustomization_is_a_clear_error(tmp_path):
    loaded = load_text(tmp_path, EMBEDDED_SCALED.replace("  api:", "  kustomization:"))
    with pytest.raises(ProblemsError) as caught:
        render(loaded)
    assert "rename it" in caught.value.problems[0].fix


def test_a_service_and_store_with_one_name_is_refused(tmp_path):
    text = SERVER.replace("vectors", "api")
    with pytest.raises(ProblemsError) as caught:
        load_text(tmp_path, text)
    assert any("names both a service and a store" in p.message for p in caught.value.problems)


def test_rendering_is_plain_yaml_without_anchors():
    for _, rendering in all_renderings():
        for file in rendering.files:
            assert "&id" not in file.content and "*id" not in file.content
            json.dumps(list(yaml.safe_load_all(file.content)) if file.path.endswith(".yaml") else [])
