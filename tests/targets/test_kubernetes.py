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
        if file.path.endswith(".yaml") and not file.path.endswith("kustomization.yaml"):
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
        manifests = {p for p in files if p.endswith(".yaml") and p != "k8s/kustomization.yaml"}
        assert listed == manifests
        assert all(p.startswith("k8s/") for p in files)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_real_kubectl_builds_the_kustomization(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    rendering = render(loaded)
    out = tmp_path / "out"
    writer.write_all(list(rendering.files), out, "streamdeploy.yaml")
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
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2G"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "chroma-data", "persistentVolumeClaim": {"claimName": "api-chroma-data"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "chroma-data", "mountPath": "/data/chroma"}]
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
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/api/v2/heartbeat"
    headless = by_kind(docs, "Service")["vectors"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["ports"][0]["port"] == 8100
    api = by_kind(docs, "Deployment")["api"]
    assert api["spec"]["replicas"] == 4
    assert api["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "volumes" not in api["spec"]["template"]["spec"]
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
                                                    "capabilities": {"drop": ["ALL"]}}


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


def test_image_placeholder_and_default_image(server, tmp_path):
    docs = documents(render(server))
    images = {n: d["spec"]["template"]["spec"]["containers"][0] for n, d in by_kind(docs, "Deployment").items()}
    assert images["api"]["image"] == "registry.example.org/shop-api:2.0"
    assert images["worker"]["image"] == "registry.example.org/shop-worker:2.0"
    assert "imagePullPolicy" not in images["api"]
    rendering = render(load_example("multi"))
    container = by_kind(documents(rendering), "Deployment")["admin"]["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == ("stream-gen-ui-admin:latest", "IfNotPresent")
    (note,) = [n for n in rendering.notes if n.key == "targets.kubernetes.image"]
    assert note.level == "warning" and "stream-gen-ui-admin:latest" in note.message


# ---------------------------------------------------------------- ingress and SSE


def test_ingress_keeps_sse_streams_open_longer_than_max_duration(server):
    ingress = by_kind(documents(render(server)), "Ingress")["api"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) > 45 * 60
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "shop.example.org"
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.org"], "secretName": "api-tls"}]


@pytest.mark.parametrize("example,minutes", [("app", 10), ("scaled", 30)])
def test_example_ingress_timeouts_follow_max_duration(example, minutes):
    ingress = next(iter(by_kind(documents(render(load_example(example))), "Ingress").values()))
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > minutes * 60


def test_other_ingress_classes_get_a_note_not_foreign_annotations(tmp_path):
    loaded = load_text(tmp_path, SERVER.replace("ingress_class: nginx", "ingress_class: traefik"))
    rendering = render(loaded)
    ingress = by_kind(documents(rendering), "Ingress")["api"]
    assert "annotations" not in ingress["metadata"]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert any(n.key == "targets.kubernetes.ingress_class" and n.level == "warning" for n in rendering.notes)


def test_only_the_first_web_service_is_exposed():
    rendering = render(load_example("multi"))
    assert list(by_kind(documents(rendering), "Ingress")) == ["api"]
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
    apply = ("kubectl", "apply", "--server-side", "--field-manager=streamdeploy", "--force-conflicts")
    assert [(s.argv, s.pipe_to) for s in p.steps] == [
        ((*apply, "-f", "k8s/00-namespace.yaml"), None),
        (("kubectl", "create", "secret", "generic", "api-secrets", "--from-env-file=k8s/api.secret-names.env",
          "--dry-run=client", "-o", "yaml", "-n", "shop"), (*apply, "-f", "-", "-n", "shop")),
        ((*apply, "-k", "k8s"), None),
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
                assert argv[0] == "kubectl"
                assert contracts.problem("kubectl", argv[1:]) is None, argv
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
