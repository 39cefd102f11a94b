"""The local target's plan: real commands, the right environment, ports that are free."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES
from streamdeploy import loader
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import get
from streamdeploy.targets import local, local_python
from streamdeploy.targets.base import Context

APP = """\
version: 1
name: demo
services:
  api:
    build: {install: requirements.txt, commands: ["python -m app.warmup"]}
    start: uvicorn app.main:app --host ${HOST:-0.0.0.0} --port $PORT
    port: %(port)d
    health: {path: /health}
    volumes:
      - {name: chroma_data, mount: /data/chroma, env: CHROMA_DB_PATH}
    env: {ENVIRONMENT: production, QUOTED: "it's $HOME"}
    secrets: [API_KEY]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


THIS = local_python.Interpreter(Path(sys.executable), local_python.current_version(), "this interpreter")


@pytest.fixture(autouse=True)
def no_given_python(monkeypatch):
    monkeypatch.delenv(local.PYTHON_ENV, raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.setattr(local, "_uv", lambda: None)
    # every version the description names is "installed" as this interpreter, unless a test says
    monkeypatch.setattr(local_python, "find_python", lambda version: THIS)


def make(tmp_path: Path, text: str, requirements: str = "fastapi\n") -> loader.Loaded:
    (tmp_path / "streamdeploy.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    return loader.load(tmp_path / "streamdeploy.yaml")


def plan_of(loaded: loader.Loaded, **options: str):
    return get("local").plan(loaded.spec, Context(root=loaded.root, options=tuple(options.items())))


def steps_by_description(plan) -> dict:
    return {s.description.split(" ")[0] + " " + s.description.split(" ")[1]: s for s in plan.steps}


def test_render_writes_nothing():
    loaded = loader.load(EXAMPLES / "app" / "streamdeploy.yaml")
    rendering = get("local").render(loaded.spec, Context(root=loaded.root))
    assert rendering.files == ()


def test_example_plan_builds_a_venv_then_starts_the_service(tmp_path):
    port = free_port()
    loaded = make(tmp_path, APP % {"port": port})
    plan = plan_of(loaded)
    venv = tmp_path / ".streamdeploy" / "venv"
    kinds = [s.description.split(" ")[0] for s in plan.steps]
    assert kinds == ["Creating", "Installing", "Build", "Recording", "Volume", "Starting"]
    create, install, build, stamp, volume, start = plan.steps
    assert create.argv == (sys.executable, "-m", "venv", "--clear", str(venv))
    assert create.skip_if.argv == (str(venv / "bin" / "python"), *THIS.matches())
    assert install.argv[:3] == (str(venv / "bin" / "python"), "-m", "pip")
    assert install.argv[-2:] == ("-r", str(tmp_path / "requirements.txt"))
    digest = local_python.digest(tmp_path, "requirements.txt", ["python -m app.warmup"], THIS, None)
    fresh = ("grep", "-qxF", digest, str(venv / local.STAMP))
    assert install.skip_if.argv == build.skip_if.argv == stamp.skip_if.argv == fresh
    assert install.skip_if.reason == build.skip_if.reason == "up to date"  # not "already exists"
    assert build.argv == ("sh", "-c", "python -m app.warmup")
    assert dict(build.env)["PATH"].startswith(str(venv / "bin") + os.pathsep)
    assert stamp.argv[-2:] == (str(venv / local.STAMP), digest)
    assert volume.argv == ("mkdir", "-p", str(tmp_path / ".streamdeploy" / "volumes" / "chroma_data"))
    assert start.background and start.argv == ("sh", "-c", "exec " + loaded.spec.services["api"].start)
    env = dict(start.env)
    assert env["PORT"] == str(port) and env["HOST"] == "127.0.0.1"
    assert env["CHROMA_DB_PATH"] == str(tmp_path / ".streamdeploy" / "volumes" / "chroma_data")
    assert env["ENVIRONMENT"] == "production" and env["QUOTED"] == "it's $HOME"
    assert env["VIRTUAL_ENV"] == str(venv)
    # optional locally: `up` passes API_KEY when it has a value and starts without it otherwise
    assert start.pass_if_set == ("API_KEY",) and start.pass_secrets == () and plan.secrets == ()
    assert plan.url == f"http://127.0.0.1:{port}"
    assert local.service_url(plan, loaded.spec, "api") == plan.url


def test_plan_is_deterministic(tmp_path):
    loaded = make(tmp_path, APP % {"port": free_port()})
    assert plan_of(loaded) == plan_of(loader.load(tmp_path / "streamdeploy.yaml"))


def test_no_secret_value_in_the_plan(tmp_path, monkeypatch):
    monkeypatch.setenv("API_KEY", "value-that-must-not-leak")
    plan = plan_of(make(tmp_path, APP % {"port": free_port()}))
    assert "value-that-must-not-leak" not in repr(plan)


def test_every_secret_is_named_whether_or_not_it_has_a_value(tmp_path, monkeypatch):
    # Which ones have a value is for `up` to find out (environment, --env-file, .env); the
    # plan is the same either way.
    loaded = make(tmp_path, APP.replace("secrets: [API_KEY]", "secrets: [API_KEY, FROM_DOTENV, NOWHERE]")
                  % {"port": free_port()})
    before = plan_of(loaded)
    monkeypatch.setenv("API_KEY", "x")
    (tmp_path / ".env").write_text("FROM_DOTENV='y'\n")
    after = plan_of(loaded)
    assert before == after and after.steps[-1].pass_if_set == ("API_KEY", "FROM_DOTENV", "NOWHERE")


def test_requirements_change_means_a_new_digest(tmp_path):
    loaded = make(tmp_path, APP % {"port": free_port()})
    before = plan_of(loaded).steps[1].skip_if.argv
    (tmp_path / "requirements.txt").write_text("fastapi\nhttpx\n")
    assert plan_of(loaded).steps[1].skip_if.argv != before


def test_uv_is_used_when_on_path(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "_uv", lambda: "/opt/bin/uv")
    plan = plan_of(make(tmp_path, APP % {"port": free_port()}))
    venv = tmp_path / ".streamdeploy" / "venv"
    assert plan.steps[0].argv == ("/opt/bin/uv", "venv", "--python", sys.executable, "--clear", str(venv))
    assert plan.steps[1].argv[:5] == ("/opt/bin/uv", "pip", "install", "--python", str(venv / "bin" / "python"))
    assert "uv" not in plan.tools  # run by its absolute path, found beside streamdeploy's python or on PATH


def test_given_python_skips_the_venv(tmp_path, monkeypatch):
    monkeypatch.setenv(local.PYTHON_ENV, sys.executable)
    plan = plan_of(make(tmp_path, APP % {"port": free_port()}))
    kinds = [s.description.split(" ")[0] for s in plan.steps]
    assert kinds == ["Build", "Volume", "Starting"]
    assert plan.steps[0].skip_if is None  # no venv to stamp: build steps run every time
    env = dict(plan.steps[-1].env)
    assert env["PATH"].startswith(str(Path(sys.executable).parent) + os.pathsep)
    assert "VIRTUAL_ENV" not in env
    assert any(local.PYTHON_ENV in n.message for n in plan.notes)


def test_given_python_that_does_not_exist_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv(local.PYTHON_ENV, str(tmp_path / "nope" / "python"))
    with pytest.raises(ProblemsError) as err:
        plan_of(make(tmp_path, APP % {"port": free_port()}))
    assert err.value.exit_code == 2 and local.PYTHON_ENV in str(err.value)


def test_missing_requirements_is_bad_input_naming_the_key(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(APP % {"port": free_port()})
    with pytest.raises(ProblemsError) as err:
        plan_of(loader.load(tmp_path / "streamdeploy.yaml"))
    problem = err.value.problems[0]
    assert err.value.exit_code == 2 and problem.key == "services.api.build.install"


def test_busy_port_moves_to_the_next_free_one_and_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        plan = plan_of(make(tmp_path, APP % {"port": port}))
    chosen = int(dict(plan.steps[-1].env)["PORT"])
    assert chosen > port
    note = next(n for n in plan.notes if n.key == "services.api.port")
    assert f"port {port} is in use" in note.message and f"gets {chosen}" in note.message


def test_local_port_setting_wins(tmp_path):
    wanted = free_port()
    loaded = make(tmp_path, APP % {"port": 8000} + f"targets:\n  local: {{port: {wanted}}}\n")
    assert plan_of(loaded).url == f"http://127.0.0.1:{wanted}"


def test_two_services_and_a_store_get_distinct_ports(tmp_path):
    port = free_port()
    text = f"""\
version: 1
name: demo
stores:
  chroma: {{engine: chroma, port: {port}}}
services:
  api:
    start: uvicorn app.main:app --host ${{HOST:-0.0.0.0}} --port $PORT
    port: {port}
    store: chroma
    replicas: 3
  admin:
    start: streamlit run admin.py --server.port $PORT --server.address 0.0.0.0
    port: {port}
  worker:
    start: python -m app.worker
"""
    plan = plan_of(make(tmp_path, text))
    starts = {dict(s.env)["STREAMDEPLOY_SERVICE"]: s for s in plan.steps if s.background and s.argv[0] == "sh"}
    api, admin = int(dict(starts["api"].env)["PORT"]), int(dict(starts["admin"].env)["PORT"])
    chroma = next(s for s in plan.steps if s.background and s.argv[0].endswith("/chroma"))
    store_port = int(chroma.argv[chroma.argv.index("--port") + 1])
    assert api == port and len({api, admin, store_port}) == 3
    assert chroma.argv[1:5] == ("run", "--path", str(tmp_path / ".streamdeploy" / "volumes" / "chroma"), "--host")
    assert dict(starts["api"].env)["CHROMA_HOST"] == "127.0.0.1"
    assert dict(starts["api"].env)["CHROMA_PORT"] == str(store_port)
    # the store must answer before the service that needs it starts
    order = [s.description for s in plan.steps]
    assert order.index("Waiting for store chroma to answer") < order.index(starts["api"].description)
    assert "PORT" not in dict(starts["worker"].env)
    keys = {n.key for n in plan.notes}
    assert {"services.api.replicas", "services.admin.start", "services.admin.port"} <= keys


def test_services_with_different_requirements_get_their_own_venv(tmp_path):
    text = """\
version: 1
name: demo
services:
  api: {start: "uvicorn a:app --host 0.0.0.0 --port $PORT", port: 8000}
  admin:
    build: {install: admin/requirements.txt}
    start: "streamlit run admin.py --server.port $PORT --server.address 0.0.0.0"
    port: 8501
"""
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "requirements.txt").write_text("streamlit\n")
    plan = plan_of(make(tmp_path, text))
    creates = [s.argv[-1] for s in plan.steps if s.description.startswith("Creating")]
    assert creates == [str(tmp_path / ".streamdeploy" / "venv"), str(tmp_path / ".streamdeploy" / "venv-admin")]


def test_notes_for_what_local_cannot_do(tmp_path):
    text = APP.replace("env: CHROMA_DB_PATH}", "}").replace("secrets:", "build2:") % {"port": free_port()}
    text = text.replace("build2: [API_KEY]\n", "").replace(
        "build: {install: requirements.txt,", "build: {install: requirements.txt, system_packages: [libpq5],")
    notes = {n.key: n for n in plan_of(make(tmp_path, text)).notes}
    assert "would write to /data/chroma" in notes["services.api.volumes[0].env"].message
    assert notes["services.api.build.system_packages"].level == "warning"


def test_stamp_helper_and_the_probe_agree(tmp_path):
    loaded = make(tmp_path, APP % {"port": free_port()})
    plan = plan_of(loaded)
    stamp, probe = plan.steps[3], plan.steps[1].skip_if
    assert subprocess.run(probe.argv).returncode != 0  # nothing built yet
    assert subprocess.run(stamp.argv).returncode == 0
    assert subprocess.run(probe.argv).returncode == 0  # now the install is skipped


def test_wait_http_gives_up_on_a_closed_port():
    result = subprocess.run([*local._HELPER, "wait-http", f"http://127.0.0.1:{free_port()}/", "--timeout", "0.5"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "did not answer" in result.stderr


@pytest.mark.parametrize("command,expected", [
    ("uvicorn app:app --host ${HOST:-0.0.0.0} --forwarded-allow-ips '*'",
     "exec uvicorn app:app --host ${HOST:-0.0.0.0} --forwarded-allow-ips '*'"),
    ("python server.py > server.log 2>&1", "exec python server.py > server.log 2>&1"),
    ('echo "a;b"', 'exec echo "a;b"'),
    ("python -m app.migrate && uvicorn app:app", "python -m app.migrate && uvicorn app:app"),
    ("gunicorn app:app | tee log", "gunicorn app:app | tee log"),
    ("DEBUG=1 uvicorn app:app", "DEBUG=1 uvicorn app:app"),
    ("exec uvicorn app:app", "exec uvicorn app:app"),
])
def test_a_simple_start_command_replaces_the_shell(command, expected):
    assert local.exec_form(command) == expected


def test_the_env_var_a_volume_needs_is_the_one_init_suggests(tmp_path):
    from streamdeploy.commands import init_state
    from streamdeploy.detect import scan_app

    text = APP.replace("{name: chroma_data, mount: /data/chroma, env: CHROMA_DB_PATH}",
                       "{name: chroma_data, mount: /data/chroma}")
    plan = plan_of(make(tmp_path, text % {"port": free_port()}))
    (note,) = [n for n in plan.notes if n.key == "services.api.volumes[0].env"]
    assert note.fix == "add `env: CHROMA_DB_PATH` and read it in the app"
    (tmp_path / "main.py").write_text("import chromadb\nfrom fastapi import FastAPI\napp = FastAPI()\n"
                                      "c = chromadb.PersistentClient(path='./db')\n")
    (volume,), _ = init_state.volumes(scan_app(tmp_path))
    assert "os.environ.get('CHROMA_DB_PATH', './db')" in volume.warning


def test_a_value_that_names_a_file_on_a_volume_names_it_in_the_local_directory(tmp_path):
    text = APP.replace("env: {ENVIRONMENT: production, QUOTED: \"it's $HOME\"}",
                       "env: {DATABASE_URL: 'sqlite:////data/sqlite/app.db', DB_FILE: /data/sqlite/x.db, "
                       "OTHER: /data/sqlitex}")
    text = text.replace("      - {name: chroma_data, mount: /data/chroma, env: CHROMA_DB_PATH}",
                        "      - {name: sqlite_data, mount: /data/sqlite}")
    plan = plan_of(make(tmp_path, text % {"port": free_port()}))
    env = dict(plan.steps[-1].env)
    local_dir = tmp_path / ".streamdeploy" / "volumes" / "sqlite_data"
    assert env["DATABASE_URL"] == f"sqlite:///{local_dir}/app.db" and env["DB_FILE"] == f"{local_dir}/x.db"
    assert env["OTHER"] == "/data/sqlitex"  # not below the mount: left alone
    assert not [n for n in plan.notes if "has no `env`" in n.message]  # the app learns it through DATABASE_URL
