"""The platform facts and `capabilities.check`: each fact produces the finding it should."""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES
from streamdeploy import capabilities, loader, targets
from streamdeploy.targets.base import RenderedFile, Rendering

TODAY = date(2026, 11, 22)
WEB_REQUIREMENTS = "fastapi==0.165.0\nuvicorn==0.54.0\nsse-starlette==3.7.0\n"
CHROMA_REQUIREMENTS = WEB_REQUIREMENTS + "chromadb==1.5.9\n"

# A service every platform can run: no volume, short streams, one replica, one worker.
FINE = {
    "version": 1,
    "name": "demo",
    "services": {
        "api": {
            "start": "uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}",
            "port": 8000,
            "health": {"path": "/health"},
            "streaming": {"paths": ["/stream"], "max_duration": "100s", "heartbeat": "15s"},
            "resources": {"cpu": 0.5, "memory": "512MB"},
        }
    },
}
CHROMA_VOLUME = {"name": "chroma_data", "mount": "/data/chroma", "size": "1GB", "env": "CHROMA_DB_PATH"}


def describe(tmp_path: Path, change: dict | None = None, requirements: str = WEB_REQUIREMENTS,
             **api: object) -> loader.Loaded:
    """FINE with `api` keys replaced and top-level keys merged from `change`, written and loaded."""
    data = yaml.safe_load(yaml.safe_dump(FINE))
    data["services"]["api"].update(api)
    for key, value in (change or {}).items():
        data[key] = value
    (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    path = tmp_path / "streamdeploy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return loader.load(path)


def found(findings, target: str, rule: str, severity: str | None = None) -> list:
    return [f for f in findings if f.target == target and f.rule == rule
            and (severity is None or f.severity == severity)]


REAL_SCAN = capabilities._scan


@pytest.fixture(autouse=True)
def no_app_scanner(monkeypatch):
    """Route checks read the app's source; tests that want routes give them."""
    monkeypatch.setattr(capabilities, "_scan", lambda where: None)


# ----------------------------------------------------------------------------- the data


CORE_FACTS = ("volume", "replicas_with_volume", "max_request", "idle_cutoff", "health_checks", "secrets",
              "regions", "scale_to_zero", "cold_start")


def test_the_model_covers_every_platform_the_brief_names():
    assert capabilities.names() == ["railway", "render", "fly", "digitalocean", "cloudrun", "apprunner", "fargate",
                                    "kubernetes", "compose", "local"]
    assert capabilities.platform("docker").name == "compose"


@pytest.mark.parametrize("name", capabilities.names())
def test_every_fact_has_a_date_and_a_source(name):
    p = capabilities.platform(name)
    for key in CORE_FACTS:
        assert key in p.facts, f"{name} lacks {key}"
    facts = dict(p.facts)
    facts.update({f"pricing.{k}": p.price(k) for k, v in p.pricing.items() if isinstance(v, dict) and "value" in v})
    for key, fact in facts.items():
        assert fact.source and fact.source.startswith("https://"), f"{name}.{key} has no source URL"
        assert fact.as_of and date.fromisoformat(fact.as_of) <= date.fromisoformat(capabilities.checked_on())
        assert fact.confidence in ("doc", "3p", "unverified"), f"{name}.{key}"
    for key in ("instances", "presets"):
        table = p.pricing.get(key)
        if table:
            assert table["source"].startswith("https://") and table["as_of"], f"{name}.{key}"


@pytest.mark.parametrize("name", capabilities.names())
def test_a_platform_target_is_a_real_target(name):
    p = capabilities.platform(name)
    if p.target is not None:
        assert p.target in targets.DEPLOYABLE


def test_unknown_stays_unknown():
    # Render publishes no stream cap: the model says unknown instead of guessing one.
    fact = capabilities.platform("render").fact("max_request")
    assert fact.value is None and not fact.known and fact.confidence == "unverified"
    assert capabilities.platform("fly").fact("max_request").none


# ----------------------------------------------------------------------------- a fine description


def test_a_fine_description_has_no_errors_anywhere(tmp_path):
    findings = capabilities.check(describe(tmp_path), capabilities.names(), today=TODAY)
    assert [f for f in findings if f.severity == "error"] == []
    # what remains is caveats that hold for any service there
    # (Cloud Run: below 1 vCPU one request at a time, so the service is given 1 vCPU)
    assert {f.rule for f in findings if f.severity == "warning"} == {"closed-to-new-customers", "edge-cache",
                                                                      "cpu-fractional"}


def test_findings_point_at_file_and_line(tmp_path):
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME])
    finding = found(capabilities.check(loaded, ["digitalocean"], today=TODAY), "digitalocean",
                    "volume-unsupported")[0]
    lines = (tmp_path / "streamdeploy.yaml").read_text().splitlines()
    assert finding.key == "services.api.volumes[0]"
    assert "chroma_data" in lines[finding.line - 1] or "name: chroma_data" in lines[finding.line - 1]
    assert finding.file.endswith("streamdeploy.yaml")
    assert finding.source.startswith("https://docs.digitalocean.com/")
    assert finding.why and finding.fix


def test_unknown_target_is_a_bug_not_a_finding(tmp_path):
    with pytest.raises(ValueError):
        capabilities.check(describe(tmp_path), ["heroku"])


def test_docker_is_judged_as_a_single_host(tmp_path):
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], replicas=2, requirements=CHROMA_REQUIREMENTS)
    findings = capabilities.check(loaded, ["docker"], today=TODAY)
    assert found(findings, "docker", "replicas-volume", "error")


# ----------------------------------------------------------------------------- table: fact -> finding

CASES = [
    # (id, api changes, top-level changes, requirements, target, rule, severity)
    ("do-volume", {"volumes": [CHROMA_VOLUME]}, {}, WEB_REQUIREMENTS, "digitalocean", "volume-unsupported", "error"),
    ("apprunner-volume", {"volumes": [CHROMA_VOLUME]}, {}, WEB_REQUIREMENTS, "apprunner", "volume-unsupported",
     "error"),
    ("cloudrun-volume", {"volumes": [CHROMA_VOLUME]}, {}, WEB_REQUIREMENTS, "cloudrun", "volume-network-only",
     "error"),
    ("railway-15min", {"streaming": {"paths": ["/stream"], "max_duration": "20m"}}, {}, WEB_REQUIREMENTS,
     "railway", "stream-too-long", "error"),
    ("apprunner-120s", {"streaming": {"paths": ["/stream"], "max_duration": "3m"}}, {}, WEB_REQUIREMENTS,
     "apprunner", "stream-too-long", "error"),
    ("cloudrun-60min", {"streaming": {"paths": ["/stream"], "max_duration": "2h"}}, {}, WEB_REQUIREMENTS,
     "cloudrun", "stream-too-long", "error"),
    ("cloudrun-default-5min", {"streaming": {"paths": ["/stream"], "max_duration": "10m"}}, {}, WEB_REQUIREMENTS,
     "cloudrun", "stream-default-timeout", "info"),  # the generated service.yaml sets timeoutSeconds
    ("fargate-alb-4000s", {"streaming": {"paths": ["/stream"], "max_duration": "2h"}}, {}, WEB_REQUIREMENTS,
     "fargate", "stream-too-long", "error"),
    ("fargate-efs-embedded-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS,
     "fargate", "replicas-volume", "error"),
    ("cloudrun-worker", {"port": None, "health": None, "streaming": None}, {}, WEB_REQUIREMENTS, "cloudrun",
     "worker-unsupported", "error"),
    ("cloudrun-fractional-cpu", {"resources": {"cpu": 0.5}}, {}, WEB_REQUIREMENTS, "cloudrun", "cpu-fractional",
     "warning"),
    ("apprunner-successor", {}, {}, WEB_REQUIREMENTS, "apprunner", "closed-to-new-customers", "warning"),
    ("cloudflare-no-service", {}, {}, WEB_REQUIREMENTS, "cloudflare", "edge-runs-no-service", "error"),
    ("cloudflare-what-fits", {}, {}, WEB_REQUIREMENTS, "cloudflare", "edge-layer", "info"),
    ("render-cap-unknown", {"streaming": {"paths": ["/stream"], "max_duration": "10m"}}, {}, WEB_REQUIREMENTS,
     "render", "stream-limit-unknown", "info"),
    ("railway-idle-5min", {"streaming": {"paths": ["/stream"], "max_duration": "14m", "heartbeat": "6m"}}, {},
     WEB_REQUIREMENTS, "railway", "heartbeat-too-slow", "error"),
    ("railway-idle-close", {"streaming": {"paths": ["/stream"], "max_duration": "14m", "heartbeat": "4m"}}, {},
     WEB_REQUIREMENTS, "railway", "heartbeat-close", "warning"),
    ("railway-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "railway",
     "replicas-volume", "error"),
    ("render-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "render",
     "replicas-volume", "error"),
    ("fly-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "fly",
     "replicas-volume", "error"),
    ("kubernetes-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "kubernetes",
     "replicas-volume", "error"),
    ("compose-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "compose",
     "replicas-volume", "error"),
    ("local-replicas", {"volumes": [CHROMA_VOLUME], "replicas": 2}, {}, CHROMA_REQUIREMENTS, "local",
     "replicas-volume", "error"),
    ("fly-replicas-plain-files", {"volumes": [{"name": "uploads", "mount": "/data/uploads"}], "replicas": 2}, {},
     WEB_REQUIREMENTS, "fly", "replicas-volume", "warning"),
    ("workers-embedded", {"volumes": [CHROMA_VOLUME], "start": "uvicorn app.main:app --host 0.0.0.0 --workers 4 --port $PORT"},
     {}, CHROMA_REQUIREMENTS, "any", "workers-embedded-store", "error"),
    ("render-disk-downtime", {"volumes": [CHROMA_VOLUME]}, {}, CHROMA_REQUIREMENTS, "render", "deploy-downtime",
     "warning"),
    ("fly-volume-downtime", {"volumes": [CHROMA_VOLUME]}, {}, CHROMA_REQUIREMENTS, "fly", "deploy-downtime",
     "warning"),
    ("fly-region-pinned", {"volumes": [CHROMA_VOLUME]}, {}, CHROMA_REQUIREMENTS, "fly", "region-pinned", "info"),
    ("fly-500gb", {"volumes": [{**CHROMA_VOLUME, "size": "600GB"}]}, {}, CHROMA_REQUIREMENTS, "fly",
     "volume-too-big", "error"),
    ("railway-above-default", {"volumes": [{**CHROMA_VOLUME, "size": "10GB"}]}, {}, CHROMA_REQUIREMENTS,
     "railway", "volume-above-default", "info"),
    ("railway-above-max", {"volumes": [{**CHROMA_VOLUME, "size": "2TB"}]}, {}, CHROMA_REQUIREMENTS, "railway",
     "volume-too-big", "error"),
    ("railway-two-volumes", {"volumes": [CHROMA_VOLUME, {"name": "uploads", "mount": "/data/uploads"}]}, {},
     CHROMA_REQUIREMENTS, "railway", "volume-count", "error"),
    ("fly-two-volumes", {"volumes": [CHROMA_VOLUME, {"name": "uploads", "mount": "/data/uploads"}]}, {},
     CHROMA_REQUIREMENTS, "fly", "volume-count", "error"),
    ("fly-volume-not-replicated", {"volumes": [CHROMA_VOLUME]}, {}, CHROMA_REQUIREMENTS, "fly",
     "volume-not-replicated", "warning"),
    ("fly-scale-count-splits", {"volumes": [CHROMA_VOLUME]}, {}, CHROMA_REQUIREMENTS, "fly",
     "scale-count-splits-data", "info"),
    ("render-mount-path", {"volumes": [{**CHROMA_VOLUME, "mount": "/opt/render"}]}, {}, CHROMA_REQUIREMENTS,
     "render", "mount-disallowed", "error"),
    ("render-free-disk", {"volumes": [CHROMA_VOLUME]}, {"targets": {"render": {"plan": "free"}}},
     CHROMA_REQUIREMENTS, "render", "plan-no-disk", "error"),
    ("render-free-spins-down", {}, {"targets": {"render": {"plan": "free"}}}, WEB_REQUIREMENTS, "render",
     "plan-spins-down", "warning"),
    ("render-plan-memory", {"resources": {"cpu": 1, "memory": "1GB"}}, {"targets": {"render": {"plan": "starter"}}}, WEB_REQUIREMENTS, "render",
     "plan-memory", "warning"),
    ("render-plan-cpu", {"resources": {"cpu": 1, "memory": "512MB"}}, {"targets": {"render": {"plan": "starter"}}}, WEB_REQUIREMENTS, "render",
     "plan-cpu", "info"),
    ("render-no-size", {"resources": {"cpu": 16, "memory": "8GB"}}, {}, WEB_REQUIREMENTS, "render",
     "no-size-fits", "error"),
    ("apprunner-no-size", {"resources": {"cpu": 8, "memory": "8GB"}}, {}, WEB_REQUIREMENTS, "apprunner",
     "no-size-fits", "error"),
    ("cloudrun-no-size", {"resources": {"cpu": 12, "memory": "8GB"}}, {}, WEB_REQUIREMENTS, "cloudrun",
     "no-size-fits", "error"),
    ("railway-legacy-toml", {}, {"targets": {"railway": {"format": "toml"}}}, WEB_REQUIREMENTS, "railway",
     "railway-legacy-config", "warning"),
    ("apprunner-closed", {}, {}, WEB_REQUIREMENTS, "apprunner", "closed-to-new-customers", "warning"),
    ("do-edge-cache", {}, {}, WEB_REQUIREMENTS, "digitalocean", "edge-cache", "warning"),
    ("railway-health-deploy-only", {}, {}, WEB_REQUIREMENTS, "railway", "health-deploy-only", "info"),
    ("memory-below-start", {"volumes": [CHROMA_VOLUME], "resources": {"memory": "100MB"}}, {},
     CHROMA_REQUIREMENTS, "any", "memory-below-start", "error"),
    ("memory-tight", {"volumes": [CHROMA_VOLUME], "resources": {"memory": "300MB"}}, {}, CHROMA_REQUIREMENTS,
     "any", "memory-tight", "warning"),
    ("web-memory-below-start", {"resources": {"memory": "40MB"}}, {}, WEB_REQUIREMENTS, "any",
     "memory-below-start", "error"),
    ("workers-need-memory-each", {"resources": {"memory": "300MB"}, "start": "uvicorn m:app --host 0.0.0.0 --port $PORT --workers 4"}, {},
     CHROMA_REQUIREMENTS, "any", "memory-below-start", "error"),
    ("build-writes-volume", {"volumes": [CHROMA_VOLUME], "build": {"commands": ["python seed.py /data/chroma"]}},
     {}, CHROMA_REQUIREMENTS, "railway", "volume-at-build", "warning"),
    ("store-without-volumes", {"store": "chroma"}, {"stores": {"chroma": {"engine": "chroma"}}},
     CHROMA_REQUIREMENTS, "digitalocean", "volume-unsupported", "error"),
    ("store-memory", {"store": "chroma"}, {"stores": {"chroma": {"resources": {"cpu": 1, "memory": "256MB"}}}},
     CHROMA_REQUIREMENTS, "any", "memory-tight", "warning"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fact_produces_its_finding(tmp_path, case):
    _, api, top, requirements, target, rule, severity = case
    loaded = describe(tmp_path, top, requirements, **api)
    names = [] if target == "any" else [target]
    findings = capabilities.check(loaded, names, today=TODAY)
    hits = found(findings, target, rule)
    assert hits, f"no {rule} for {target}; got {[(f.target, f.rule) for f in findings]}"
    assert {f.severity for f in hits} == {severity}
    for f in hits:
        assert f.message and f.why and f.key and f.line


@pytest.mark.parametrize("target", ["railway", "render", "fly", "kubernetes", "compose"])
def test_replicas_on_an_embedded_store_name_chroma_as_a_server(tmp_path, target):
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], replicas=3, requirements=CHROMA_REQUIREMENTS)
    [finding] = found(capabilities.check(loaded, [target], today=TODAY), target, "replicas-volume")
    assert "stores:" in finding.fix and "store: chroma" in finding.fix
    assert finding.key == "services.api.replicas"


def test_replicas_without_a_volume_are_fine(tmp_path):
    loaded = describe(tmp_path, replicas=3)
    findings = capabilities.check(loaded, capabilities.names(), today=TODAY)
    assert not [f for f in findings if f.rule == "replicas-volume"]


def test_plain_files_on_a_shared_host_volume_are_not_flagged(tmp_path):
    loaded = describe(tmp_path, volumes=[{"name": "uploads", "mount": "/data/uploads"}], replicas=2)
    assert not found(capabilities.check(loaded, ["compose"], today=TODAY), "compose", "replicas-volume")


def test_the_scaled_example_runs_replicas_through_a_store_server():
    loaded = loader.load(EXAMPLES / "scaled" / "streamdeploy.yaml")
    findings = capabilities.check(loaded, ["kubernetes", "fly", "render"], today=TODAY)
    assert not [f for f in findings if f.rule in ("replicas-volume", "workers-embedded-store")]


def test_memory_enough_for_the_stack_is_quiet(tmp_path):
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], resources={"memory": "1GB"},
                      requirements=CHROMA_REQUIREMENTS)
    findings = capabilities.check(loaded, [], today=TODAY)
    assert not [f for f in findings if f.rule.startswith("memory")]


def test_memory_is_judged_only_when_the_dependencies_are_at_hand(tmp_path):
    loaded = describe(tmp_path, resources={"memory": "40MB"}, requirements="")
    assert not [f for f in capabilities.check(loaded, [], today=TODAY) if f.rule.startswith("memory")]


def test_pyproject_dependencies_are_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["chromadb>=1.5", "fastapi"]\n', encoding="utf-8")
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], resources={"memory": "100MB"},
                      build={"install": "pyproject.toml"})
    assert found(capabilities.check(loaded, [], today=TODAY), "any", "memory-below-start", "error")


def test_render_plan_below_what_the_stack_needs_to_start_is_an_error(tmp_path):
    loaded = describe(tmp_path, {"targets": {"render": {"plan": "free"}}}, CHROMA_REQUIREMENTS,
                      resources={"cpu": 0.1, "memory": "1GB"})
    [finding] = found(capabilities.check(loaded, ["render"], today=TODAY), "render", "plan-memory")
    assert finding.severity == "warning"  # 512 MiB is still above the ~127 MB chromadb needs to start
    assert "standard" in finding.fix


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize("today,severity,words", [
    (date(2026, 11, 22), "warning", "in 9 days"),
    (date(2026, 11, 30), "warning", "in 1 days"),
    (date(2026, 12, 1), "error", "stopped reading"),
    (date(2027, 3, 1), "error", "stopped reading"),
])
def test_railway_legacy_config_turns_into_an_error_at_the_cutoff(tmp_path, today, severity, words):
    loaded = describe(tmp_path, {"targets": {"railway": {"format": "toml"}}})
    [finding] = found(capabilities.check(loaded, ["railway"], today=today), "railway", "railway-legacy-config")
    assert finding.severity == severity and words in finding.message
    assert finding.key == "targets.railway.format"
    assert "format: iac" in finding.fix


def test_railway_iac_format_has_no_legacy_finding(tmp_path):
    loaded = describe(tmp_path, {"targets": {"railway": {"format": "iac"}}})
    assert not found(capabilities.check(loaded, ["railway"], today=date(2027, 1, 1)), "railway",
                     "railway-legacy-config")


# ----------------------------------------------------------------------------- kubernetes: judge the generated config


@dataclass
class _FakeKubernetes:
    read_timeout: str | None

    def render(self, spec, ctx):
        annotations = {"nginx.ingress.kubernetes.io/proxy-buffering": "off"}
        if self.read_timeout is not None:
            annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = self.read_timeout
        ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "api", "annotations": annotations}}
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}}
        text = yaml.safe_dump_all([service, ingress])
        return Rendering(files=(RenderedFile("k8s/api.yaml", text),))


def _with_kubernetes(monkeypatch, fake):
    real = targets.get

    def get(name):
        if name != "kubernetes":
            return real(name)
        if fake is None:
            raise KeyError(name)
        return fake

    monkeypatch.setattr(targets, "get", get)


@pytest.mark.parametrize("generated,heartbeat,expected", [
    (None, "90s", "heartbeat-too-slow"),  # no target module: ingress-nginx's 60 s default
    (_FakeKubernetes(None), "90s", "heartbeat-too-slow"),  # an Ingress that keeps the default
    (_FakeKubernetes("3600"), "90s", None),  # the generated annotation raises the limit
    (_FakeKubernetes("30"), "20s", "heartbeat-close"),
    (_FakeKubernetes("30"), "45s", "heartbeat-too-slow"),
])
def test_kubernetes_idle_cutoff_comes_from_the_generated_ingress(tmp_path, monkeypatch, generated, heartbeat,
                                                                  expected):
    _with_kubernetes(monkeypatch, generated)
    loaded = describe(tmp_path, {"targets": {"kubernetes": {"ingress_class": "nginx"}}},
                      streaming={"paths": ["/stream"], "max_duration": "10m", "heartbeat": heartbeat})
    findings = capabilities.check(loaded, ["kubernetes"], today=TODAY)
    rules = {f.rule for f in findings if f.rule.startswith("heartbeat")}
    assert rules == ({expected} if expected else set())
    if generated is not None and generated.read_timeout and expected:
        assert "generated Ingress" in found(findings, "kubernetes", expected)[0].why


@pytest.mark.parametrize("heartbeat,expected", [("15s", None), ("45s", "heartbeat-close"), ("90s", "heartbeat-too-slow")])
def test_kubernetes_through_a_gateway_is_judged_by_the_common_60s_idle_cutoff(tmp_path, heartbeat, expected):
    """The default HTTPRoute: Gateway API has no idle-timeout field, so the fact's 60 s applies."""
    loaded = describe(tmp_path, streaming={"paths": ["/stream"], "max_duration": "10m", "heartbeat": heartbeat})
    findings = capabilities.check(loaded, ["kubernetes"], today=TODAY)
    assert {f.rule for f in findings if f.rule.startswith("heartbeat")} == ({expected} if expected else set())


def test_kubernetes_with_another_ingress_class_is_not_judged_by_nginx(tmp_path, monkeypatch):
    _with_kubernetes(monkeypatch, None)
    loaded = describe(tmp_path, {"targets": {"kubernetes": {"ingress_class": "traefik"}}},
                      streaming={"paths": ["/stream"], "max_duration": "10m", "heartbeat": "90s"})
    assert not [f for f in capabilities.check(loaded, ["kubernetes"], today=TODAY) if f.rule.startswith("heartbeat")]


# ----------------------------------------------------------------------------- routes from the app source


@dataclass
class _Route:
    path: str
    file: str
    line: int
    sse: bool = False


def _with_routes(monkeypatch, routes):
    from types import SimpleNamespace

    monkeypatch.setattr(capabilities, "_scan", lambda where: SimpleNamespace(routes=list(routes), app=None,
                                                                            needs=[], root=where))


def test_a_health_path_the_app_does_not_serve(tmp_path, monkeypatch):
    _with_routes(monkeypatch, [_Route("/healthz", "app/main.py", 10), _Route("/stream", "app/main.py", 20, True)])
    findings = capabilities.check(describe(tmp_path), [], today=TODAY)
    [finding] = found(findings, "any", "health-path-not-served")
    assert finding.severity == "warning" and finding.key == "services.api.health.path"
    assert "/healthz" in finding.why


def test_served_paths_and_path_parameters_match(tmp_path, monkeypatch):
    _with_routes(monkeypatch, [_Route("/health", "app/main.py", 10), _Route("/{kind}/stream", "app/main.py", 20,
                                                                            True)])
    loaded = describe(tmp_path, streaming={"paths": ["/events/stream"], "max_duration": "100s"})
    findings = capabilities.check(loaded, [], today=TODAY)
    assert not [f for f in findings if f.rule.endswith("not-served")]


def test_a_stream_path_the_app_does_not_serve_and_an_unlisted_sse_route(tmp_path, monkeypatch):
    _with_routes(monkeypatch, [_Route("/health", "app/main.py", 10), _Route("/events", "app/main.py", 30, True)])
    findings = capabilities.check(describe(tmp_path), [], today=TODAY)
    assert found(findings, "any", "stream-path-not-served", "warning")[0].key == "services.api.streaming.paths[0]"
    assert "/events" in found(findings, "any", "stream-path-unlisted", "info")[0].message


def test_without_the_app_source_routes_are_not_judged(tmp_path, monkeypatch):
    _with_routes(monkeypatch, [])
    assert not [f for f in capabilities.check(describe(tmp_path), [], today=TODAY) if "path" in f.rule]


# ----------------------------------------------------------------------------- adding a platform is adding data


def test_a_new_platform_is_only_data(tmp_path, monkeypatch):
    data = dict(capabilities._data())
    data["tinyhost"] = {
        "title": "TinyHost", "kind": "paas",
        "facts": {
            "volume": {"value": "block", "as_of": date(2026, 1, 1), "source": "https://tiny.example/docs"},
            "max_request": {"value": 60, "unit": "s", "as_of": date(2026, 1, 1), "source": "https://tiny.example"},
            "replicas_with_volume": {"value": "forbidden", "as_of": date(2026, 1, 1),
                                     "source": "https://tiny.example"},
        },
        "pricing": {"model": "usage",
                    "cpu": {"value": 1.0, "unit": "USD/vCPU/month", "as_of": date(2026, 1, 1),
                            "source": "https://tiny.example/pricing"},
                    "memory": {"value": 1.0, "unit": "USD/GB/month", "as_of": date(2026, 1, 1),
                               "source": "https://tiny.example/pricing"}},
    }
    monkeypatch.setattr(capabilities, "_data", lambda: data)
    capabilities.platforms.cache_clear()
    try:
        loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], replicas=2, requirements=CHROMA_REQUIREMENTS)
        findings = capabilities.check(loaded, ["tinyhost"], today=TODAY)
        assert found(findings, "tinyhost", "stream-too-long", "error")
        assert found(findings, "tinyhost", "replicas-volume", "error")
        assert "tinyhost" in capabilities.names()
    finally:
        capabilities.platforms.cache_clear()


def test_routes_under_an_unknown_prefix_only_earn_a_note(tmp_path, monkeypatch):
    _with_routes(monkeypatch, [_Route("/healthz", "app/main.py", 10), _Route("/stream", "app/main.py", 20, True),
                               types.SimpleNamespace(path="/status", file="app/r.py", line=3, sse=False,
                                                     resolved=False)])
    [finding] = found(capabilities.check(describe(tmp_path), [], today=TODAY), "any", "health-path-not-served")
    assert finding.severity == "info" and "prefixes" in finding.why


def test_the_real_scanner_finds_the_example_app_routes(monkeypatch):
    monkeypatch.setattr(capabilities, "_scan", REAL_SCAN)
    findings = capabilities.check(loader.load(EXAMPLES / "app" / "streamdeploy.yaml"), [], today=TODAY)
    assert not [f for f in findings if "path" in f.rule]


def test_docker_and_compose_together_report_once(tmp_path):
    loaded = describe(tmp_path, volumes=[CHROMA_VOLUME], requirements=CHROMA_REQUIREMENTS)
    findings = capabilities.check(loaded, ["docker", "compose"], today=TODAY)
    downtime = [f for f in findings if f.rule == "deploy-downtime"]
    assert [f.target for f in downtime] == ["compose"]


def test_routes_are_only_judged_for_the_python_app_the_scanner_reads(tmp_path, monkeypatch):
    # Streamlit serves /_stcore/health itself; no scan of the Python source can see that.
    _with_routes(monkeypatch, [_Route("/health", "app/main.py", 10)])
    streamlit = describe(tmp_path, start="streamlit run admin/app.py --server.port $PORT --server.address 0.0.0.0",
                         health={"path": "/_stcore/health"}, streaming=None)
    assert not found(capabilities.check(streamlit, [], today=TODAY), "any", "health-path-not-served")
    uvicorn = describe(tmp_path, health={"path": "/_stcore/health"}, streaming=None)
    assert found(capabilities.check(uvicorn, [], today=TODAY), "any", "health-path-not-served")


def test_fly_says_one_machine_and_one_volume_has_no_replica(tmp_path):
    """F2, F11: superfly/docs volumes/overview: "a single Machine and volume leaves you at risk for
    downtime and data loss. Volumes don't have built-in replication"."""
    loaded = describe(tmp_path, {"targets": {"fly": {"snapshot_retention": 30}}}, CHROMA_REQUIREMENTS,
                      volumes=[CHROMA_VOLUME])
    [finding] = found(capabilities.check(loaded, ["fly"], today=TODAY), "fly", "volume-not-replicated")
    assert "no replica" in finding.message and "kept 30 days" in finding.message
    assert "snapshot_retention" in finding.fix and "fly.io/docs/volumes" in finding.source
    assert not found(capabilities.check(loaded, ["railway", "render"], today=TODAY), "railway", "volume-not-replicated")
