"""`up --target local` for real: the example app on 127.0.0.1, verified, stopped, restarted.

Most tests run the app with this interpreter's packages (STREAMDEPLOY_LOCAL_PYTHON) so
they cost seconds, not a chromadb install; one builds a real virtualenv from a tiny,
offline requirements file. Every test stops what it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_no_traceback, run_cli
from streamdeploy.targets import local

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is gone for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def pids_of(root: Path) -> list[int]:
    from streamdeploy import runner

    return [r.pid for r in runner.records(root, "local")]


def group_members(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def project(tmp_path):
    """A copy of examples/app on a free port, with 1 s heartbeats so the stream check is quick."""
    root = tmp_path / "app"
    shutil.copytree(EXAMPLES / "app", root, ignore=shutil.ignore_patterns(
        ".streamdeploy", "__pycache__", "tests", ".models", "chroma_data", ".env"))
    text = (root / "streamdeploy.yaml").read_text()
    # streaming.env hands the description's heartbeat to the app: changing it here is enough.
    text = text.replace("heartbeat: 15s", "heartbeat: 1s")
    port = free_port()
    text += f"  local: {{port: {port}}}\n"
    (root / "streamdeploy.yaml").write_text(text)
    yield root, port
    # whatever a test left behind: stop it, and make sure of it
    groups = pids_of(root)
    run_cli("down", "-f", str(root / "streamdeploy.yaml"), timeout=60)
    for pgid in groups:
        for pid in group_members(pgid):
            os.kill(pid, signal.SIGKILL)


def env_with(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "OPENAI_API_KEY")}
    return {**env, local.PYTHON_ENV: sys.executable, **extra}


def up(root: Path, *args: str, env: dict | None = None, timeout: float = 180):
    result = run_cli("up", "--target", "local", "-f", str(root / "streamdeploy.yaml"), *args,
                     env=env or env_with(), timeout=timeout)
    assert_no_traceback(result)
    return result


def test_detach_then_down_then_up_again_keeps_the_data(project):
    root, port = project
    url = f"http://127.0.0.1:{port}"
    first = up(root, "--detach", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] and report["url"] == url
    checks = {c["name"]: c["status"] for c in report["verify"]["checks"]}
    # "volumes": the app wrote its data on the volume, not into its folder
    assert checks == {"health": "ok", "stream": "ok", "write": "ok", "read": "ok", "volumes": "ok"}
    marker = report["verify"]["marker"]
    # the data lives in the volume directory, not in the app's folder
    assert any((root / ".streamdeploy" / "volumes" / "chroma_data").iterdir())
    groups = pids_of(root)
    assert groups and all(alive(p) for p in groups)

    down = run_cli("down", "-f", str(root / "streamdeploy.yaml"), "--json")
    assert down.returncode == 0, down.stderr
    stopped = json.loads(down.stdout)
    assert stopped["ok"] and {s["pid"] for s in stopped["stopped"]} == set(groups)
    assert {s["target"] for s in stopped["stopped"]} == {"local"} and stopped["left_alone"] == []
    assert not any(alive(p) for p in groups)
    assert not any(group_members(p) for p in groups)
    # uvicorn ends with 143 on SIGTERM; a clean stop shows in its log
    log = (root / ".streamdeploy" / "logs" / "local.log").read_text()
    assert "Application shutdown complete" in log

    # a "redeploy": up again finds the marker the first run wrote
    second = up(root, "--detach", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    again = json.loads(second.stdout)["verify"]
    persisted = next(c for c in again["checks"] if c["name"] == "persisted")
    assert persisted["status"] == "ok" and marker in persisted["detail"]

    # and `verify --expect-marker` by hand agrees; a marker that never existed does not
    ok = run_cli("verify", url, "-f", str(root / "streamdeploy.yaml"), "--expect-marker", marker, "--json",
                 env=env_with())
    assert ok.returncode == 0, ok.stdout
    missing = run_cli("verify", url, "-f", str(root / "streamdeploy.yaml"), "--expect-marker",
                      "sd-20000101t000000-000000", "--json", env=env_with())
    assert missing.returncode == 1


def test_redeploy_replaces_the_running_instance_on_the_same_port(project):
    root, port = project
    assert up(root, "--detach").returncode == 0
    before = pids_of(root)
    result = up(root, "--detach", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["url"] == f"http://127.0.0.1:{port}"  # not moved to port+1
    after = pids_of(root)
    assert after and not set(after) & set(before)
    assert not any(alive(p) for p in before)  # embedded Chroma: never two instances on one volume


def test_foreground_serves_until_ctrl_c_then_stops_cleanly(project, tmp_path):
    root, port = project
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamdeploy", "up", "--target", "local", "-f", str(root / "streamdeploy.yaml")],
            env={**env_with(), "NO_COLOR": "1", "COLUMNS": "200"}, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops it" not in err.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.2)
        groups = pids_of(root)
        assert groups and all(alive(p) for p in groups)
        # it keeps serving after verify
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        # Ctrl-C is how a verified, serving service is stopped: a clean stop, exit 0
        assert process.wait(60) == 0, err.read_text()
        assert "Ctrl-C: stopping" in err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "verified" in out.read_text()
    left = [(m, Path(f"/proc/{m}/cmdline").read_bytes()) for p in groups for m in group_members(p)]
    assert not left, (left, err.read_text()[-3000:])
    assert not (root / ".streamdeploy" / "local.pid").exists()


def test_a_service_that_crashes_on_start_fails_fast_with_its_log(project):
    root, port = project
    text = (root / "streamdeploy.yaml").read_text()
    # the app refuses a bad setting at import time: a realistic crash on start
    (root / "streamdeploy.yaml").write_text(text.replace("ENVIRONMENT: production", "EMBEDDINGS: nonsense"))
    started = time.monotonic()
    result = up(root)
    assert result.returncode == 1
    assert "EMBEDDINGS='nonsense'" in result.stderr  # the app's own words, from its log
    assert time.monotonic() - started < 90
    assert not pids_of(root) or not any(alive(p) for p in pids_of(root))


# --- a real virtualenv, built offline from a tiny requirements file -------------------------

SERVER = """\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tinydep


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "dep": tinydep.VALUE, "built": open("built.txt").read()}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def tiny_wheel(directory: Path) -> Path:
    """A real, minimal wheel: pip installs it without any index or network."""
    path = directory / "tinydep-1.0-py3-none-any.whl"
    files = {
        "tinydep.py": 'VALUE = "installed"\n',
        "tinydep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "tinydep-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("tinydep-1.0.dist-info/RECORD", record)
    return path


def test_builds_a_real_virtualenv_and_rebuilds_only_when_requirements_change(tmp_path):
    root = tmp_path / "tiny"
    root.mkdir()
    port = free_port()
    wheel = tiny_wheel(root)
    (root / "server.py").write_text(SERVER)
    (root / "requirements.txt").write_text(f"{wheel.name}\n")
    (root / "streamdeploy.yaml").write_text(f"""\
version: 1
name: tiny
services:
  web:
    build: {{commands: ["python -c \\"import tinydep; open('built.txt', 'w').write(tinydep.VALUE)\\""]}}
    start: python server.py --host 0.0.0.0
    port: {port}
    health: {{path: /health}}
""")
    env = {k: v for k, v in os.environ.items() if k != local.PYTHON_ENV}
    # no index: the only thing to install is the local wheel (offline by construction)
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS="", PATH=os.environ["PATH"])
    try:
        first = up(root, "--detach", "--json", env=env, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        steps = {s["description"].split(" ")[0]: s["status"] for s in json.loads(first.stdout)["run"]["steps"]}
        assert steps == {"Creating": "ok", "Installing": "ok", "Build": "ok", "Recording": "ok", "Starting": "started"}
        venv_python = root / ".streamdeploy" / "venv" / "bin" / "python"
        check = subprocess.run([str(venv_python), "-c", "import tinydep, sys; print(tinydep.VALUE, sys.prefix)"],
                               capture_output=True, text=True)
        assert check.stdout.split() == ["installed", str(root / ".streamdeploy" / "venv")]
        assert (root / "built.txt").read_text() == "installed"  # the build command ran in the venv

        again = up(root, "--detach", "--json", env=env)
        assert again.returncode == 0, again.stderr
        steps = {s["description"].split(" ")[0]: s["status"] for s in json.loads(again.stdout)["run"]["steps"]}
        assert steps["Creating"] == steps["Installing"] == steps["Build"] == "skipped"

        (root / "requirements.txt").write_text(f"# pinned\n{wheel.name}\n")
        changed = up(root, "--detach", "--json", env=env)
        steps = {s["description"].split(" ")[0]: s["status"] for s in json.loads(changed.stdout)["run"]["steps"]}
        assert steps["Creating"] == "skipped" and steps["Installing"] == "ok" and steps["Build"] == "ok"
    finally:
        groups = pids_of(root)
        run_cli("down", "-f", str(root / "streamdeploy.yaml"))
        assert not any(group_members(p) for p in groups)


def test_a_server_mode_store_runs_as_chroma_on_loopback(project):
    root, port = project
    text = (root / "streamdeploy.yaml").read_text()
    volume = "    volumes:\n      - {name: chroma_data, mount: /data/chroma, size: 1GB, env: CHROMA_DB_PATH}\n"
    assert volume in text
    text = text.replace(volume, "    store: chroma\n").replace("version: 1\n", "version: 1\nstores:\n  chroma: {port: %d}\n"
                                                                % port, 1)
    (root / "streamdeploy.yaml").write_text(text)
    result = up(root, "--detach", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["url"] == f"http://127.0.0.1:{port}"  # the service keeps its port
    starts = [s for s in report["run"]["steps"] if s["status"] == "started"]
    chroma = next(s for s in starts if "chroma" in s["argv"][0])
    store_port = int(chroma["argv"][chroma["argv"].index("--port") + 1])
    assert store_port != port
    import httpx

    # the documents are in the Chroma server's directory, and the server answers on loopback
    assert httpx.get(f"http://127.0.0.1:{store_port}/api/v2/heartbeat", timeout=5).status_code == 200
    assert (root / ".streamdeploy" / "volumes" / "chroma" / "chroma.sqlite3").is_file()
    log = (root / ".streamdeploy" / "logs" / "local.log").read_text()
    assert f"'chroma_host': '127.0.0.1', 'chroma_port': {store_port}" in log


# --- a tiny stdlib server: secrets from an env file, SIGTERM, compound start commands -------

ENV_SERVER = """\
import hashlib, json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def seen(name):
    value = os.environ.get(name)
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "FROM_FILE": seen("FROM_FILE"), "NOWHERE": seen("NOWHERE")}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def tiny_project(tmp_path: Path, start: str = "python server.py") -> tuple[Path, int]:
    root = tmp_path / "tiny"
    root.mkdir()
    port = free_port()
    (root / "server.py").write_text(ENV_SERVER)
    (root / "requirements.txt").write_text("")
    (root / "streamdeploy.yaml").write_text(f"""\
version: 1
name: tiny
services:
  web:
    start: {json.dumps(start)}
    port: {port}
    health: {{path: /health}}
    secrets: [FROM_FILE, NOWHERE]
""")
    return root, port


def test_a_secret_only_in_the_env_file_reaches_the_local_service(tmp_path):
    import hashlib

    import httpx

    root, port = tiny_project(tmp_path)
    value = "from-the-env-file-Q9x8"
    env_file = tmp_path / "local.env"
    env_file.write_text(f"FROM_FILE='{value}'\n")
    try:
        result = up(root, "--detach", "--env-file", str(env_file), env=env_with())
        assert result.returncode == 0, result.stderr
        seen = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert seen["FROM_FILE"] == hashlib.sha256(value.encode()).hexdigest()
        assert seen["NOWHERE"] is None  # optional here: a missing one is left out, with a warning
        assert "NOWHERE is not set" in result.stderr and "FROM_FILE is not set" not in result.stderr
        assert value not in result.stdout + result.stderr
    finally:
        run_cli("down", "-f", str(root / "streamdeploy.yaml"))


def foreground_up(root: Path, out: Path) -> subprocess.Popen:
    """`up --target local` in the foreground, its stderr in `out`, once it says it serves."""
    with open(out, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamdeploy", "up", "--target", "local", "-f", str(root / "streamdeploy.yaml")],
            env={**env_with(), "NO_COLOR": "1", "COLUMNS": "200"}, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 60
    while "Ctrl-C stops it" not in out.read_text():
        assert process.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    return process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_stops_a_foreground_service_started_by_a_compound_command(tmp_path, sig):
    # `sh` is the server's parent: SIGTERM to `up` (a CI timeout, `kill`) or SIGHUP (the
    # terminal closed) must stop both, as Ctrl-C does; while serving that is the normal way
    # to stop (exit 0).
    root, port = tiny_project(tmp_path, start="python -c 'pass' && python server.py")
    err = tmp_path / "err.txt"
    process = foreground_up(root, err)
    try:
        groups = pids_of(root)
        members = [m for g in groups for m in group_members(g)]
        assert len(members) == 3  # the supervisor that masks its log, the shell and the server
        process.send_signal(sig)
        assert process.wait(30) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not any(alive(m) for m in members), err.read_text()
    assert not (root / ".streamdeploy" / "local.pid").exists()
    text = err.read_text()
    assert f"{sig.name}: stopping" in text and f"pid {groups[0]}: stopped" in text and "Traceback" not in text


def test_a_foreground_service_stops_when_up_is_killed(tmp_path):
    # SIGKILL leaves `up` no chance to clean up: its supervisor sees it die and stops the group.
    root, port = tiny_project(tmp_path)
    err = tmp_path / "err.txt"
    process = foreground_up(root, err)
    members = [m for g in pids_of(root) for m in group_members(g)]
    assert members
    process.kill()
    process.wait()
    deadline = time.monotonic() + 15
    while any(alive(m) for m in members):
        assert time.monotonic() < deadline, [m for m in members if alive(m)]
        time.sleep(0.1)


def test_a_second_detached_run_keeps_the_port_the_first_moved_to(tmp_path):
    # 8000 (here: `port`) is busy with a stranger, so the first run moves to the next port.
    # The second must neither stop the working service for a port that is still busy nor
    # start on it: it replaces the first on the port the first holds. Runs never alternate.
    import httpx

    root, port = tiny_project(tmp_path)
    stranger = socket.socket()
    stranger.bind(("127.0.0.1", port))
    stranger.listen()
    try:
        urls = []
        for attempt in range(3):
            result = up(root, "--detach", "--json")
            assert result.returncode == 0, (attempt, result.stdout, result.stderr)
            urls.append(json.loads(result.stdout)["url"])
            assert httpx.get(urls[-1] + "/health", timeout=5).status_code == 200
        assert len(set(urls)) == 1 and urls[0] != f"http://127.0.0.1:{port}"
        assert len([p for p in pids_of(root) if alive(p)]) == 1
    finally:
        stranger.close()
        run_cli("down", "-f", str(root / "streamdeploy.yaml"))

