"""`streamdeploy init`: a commented streamdeploy.yaml that `validate` accepts, written once."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO, assert_no_traceback, run_cli
from streamdeploy import loader
from streamdeploy.commands import init
from streamdeploy.commands.validate import SCHEMA_ID
from streamdeploy.detect import scan_app

APPS = REPO / "tests" / "fixtures" / "apps"


def copy_app(name: str, tmp_path: Path) -> Path:
    source = EXAMPLES / "app" if name == "example" else APPS / name
    target = tmp_path / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("streamdeploy.yaml", "__pycache__", ".streamdeploy"))
    return target


def run_init(app: Path, *args: str):
    result = run_cli("init", str(app), *args, cwd=app.parent)
    assert_no_traceback(result)
    return result


def load(app: Path):
    return loader.load(app / "streamdeploy.yaml").spec


# --- as a user runs it --------------------------------------------------------------------------


def test_init_on_a_plain_fastapi_project_writes_a_file_validate_accepts(tmp_path):
    app = copy_app("plain", tmp_path)
    result = run_init(app)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # people read stderr; stdout stays clean for --json
    text = (app / "streamdeploy.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_ID}"
    validated = run_cli("validate", "-f", str(app / "streamdeploy.yaml"))
    assert validated.returncode == 0, validated.stderr
    # it says what it detected and what it guessed, on stderr and in the file
    assert "detected  app" in result.stderr and "main:app  main.py:7" in result.stderr
    assert "guessed   name" in result.stderr
    assert "# Detected:" in text and "# Guessed (check these):" in text
    spec = load(app).services["api"]
    assert spec.start.startswith("uvicorn main:app --host ${HOST:-0.0.0.0} --port ${PORT:-8080}")
    assert (spec.port, spec.health.path, spec.build.python, spec.build.install) == (8080, "/healthz", "3.11",
                                                                                     "requirements.txt")
    assert spec.volumes == [] and spec.secrets == [] and spec.streaming is None


def test_init_defaults_to_the_current_directory(tmp_path):
    app = copy_app("plain", tmp_path)
    result = run_cli("init", cwd=app)
    assert result.returncode == 0, result.stderr
    assert (app / "streamdeploy.yaml").is_file()


def test_init_never_overwrites_without_force(tmp_path):
    app = copy_app("plain", tmp_path)
    (app / "streamdeploy.yaml").write_text("# mine\n")
    result = run_init(app)
    assert result.returncode == 2
    assert "streamdeploy.yaml already exists; init does not overwrite it" in result.stderr
    assert "--force" in result.stderr
    assert (app / "streamdeploy.yaml").read_text() == "# mine\n"
    forced = run_init(app, "--force")
    assert forced.returncode == 0, forced.stderr
    assert load(app).name == "plain"


def test_init_with_no_app_writes_nothing(tmp_path):
    app = copy_app("no_app", tmp_path)
    before = sorted(p.name for p in app.rglob("*"))
    result = run_init(app)
    assert result.returncode == 2
    assert "found 1 Python file(s)" in result.stderr and "but no FastAPI app" in result.stderr
    assert "broken.py:1: skipped, it does not parse" in result.stderr
    assert sorted(p.name for p in app.rglob("*")) == before


@pytest.mark.parametrize("setup,target,fragment", [
    (lambda tmp: None, "nope", "nope does not exist"),
    (lambda tmp: (tmp / "file.py").write_text(""), "file.py", "file.py is not a directory"),
    (lambda tmp: (tmp / "streamdeploy.yaml").mkdir(), ".", "streamdeploy.yaml is a directory"),
])
def test_init_bad_directories(tmp_path, setup, target, fragment):
    setup(tmp_path)
    result = run_cli("init", target, cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert fragment in result.stderr


def test_init_json(tmp_path):
    app = copy_app("chroma_sse", tmp_path)
    result = run_init(app, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["file"] == str((app / "streamdeploy.yaml").resolve())
    detected = {d["what"]: d for d in data["detected"]}
    assert detected["app"]["value"] == "service.main:app" and detected["app"]["where"] == "service/main.py:6"
    assert detected["SSE routes"]["value"] == "/api/v1/raw, /api/v1/stream"
    assert {g["what"] for g in data["guessed"]} >= {"python", "name"}
    assert result.stderr == ""


def test_init_leaves_no_temporary_files(tmp_path):
    app = copy_app("plain", tmp_path)
    before = {p.name for p in app.iterdir()}
    assert run_init(app).returncode == 0
    assert {p.name for p in app.iterdir()} == before | {"streamdeploy.yaml"}


# --- what it writes -------------------------------------------------------------------------------


def test_fastapi_chroma_sse_project(tmp_path):
    app = copy_app("chroma_sse", tmp_path)
    assert run_init(app).returncode == 0
    spec = load(app)
    api = spec.services["api"]
    assert api.start == ("uvicorn service.main:app --host ${HOST:-0.0.0.0} --port ${PORT:-8000} --workers 1 --proxy-headers "
                         "--forwarded-allow-ips '*' --timeout-graceful-shutdown 10")
    # /raw is a plain StreamingResponse: it sends no heartbeat, so none is claimed for the service
    assert api.streaming.paths == ["/api/v1/raw", "/api/v1/stream"] and api.streaming.heartbeat is None
    (volume,) = api.volumes
    assert (volume.name, volume.mount, volume.env) == ("chroma_data", "/data/chroma", "VECTOR_DIR")
    assert api.secrets == ["OPENAI_API_KEY", "SVC_ADMIN_TOKEN"]
    assert api.env == {}  # VECTOR_DIR is the volume's; nothing else needs a value
    assert (api.replicas, api.workers) == (1, 1)  # embedded Chroma: one process
    admin = spec.services["admin"]
    assert admin.start.startswith("streamlit run dashboard/app.py --server.port ${PORT:-8501}")
    assert (admin.port, admin.health.path) == (8501, "/_stcore/health")
    text = (app / "streamdeploy.yaml").read_text()
    assert "#   SVC_LOG_LEVEL: info  # service/settings.py:13" in text  # optional settings, commented out


def test_src_layout_with_a_factory(tmp_path):
    app = copy_app("src_layout", tmp_path)
    result = run_init(app)
    assert result.returncode == 0
    spec = load(app)
    api = spec.services["api"]
    assert spec.name == "acme-api"
    assert api.start.startswith("uvicorn acme_api.app:create_app --factory --app-dir src --host ${HOST:-0.0.0.0}")
    assert (api.build.install, api.build.python) == ("pyproject.toml", "3.11")
    (volume,) = api.volumes
    assert (volume.mount, volume.env) == ("/app/data/chroma", None)  # relative to the image's WORKDIR
    assert "uses the path 'data/chroma', fixed in the code" in result.stderr


def test_the_example_app_matches_the_hand_written_description_in_spirit(tmp_path):
    app = copy_app("example", tmp_path)
    result = run_init(app)
    assert result.returncode == 0, result.stderr
    ours = load(app).services["api"]
    theirs = loader.load(EXAMPLES / "app" / "streamdeploy.yaml").spec.services["api"]
    assert ours.start.split()[:2] == theirs.start.split()[:2] == ["uvicorn", "app.main:app"]
    assert ours.port == theirs.port
    assert ours.health.path == theirs.health.path
    assert set(ours.streaming.paths) == set(theirs.streaming.paths)
    assert [v.env for v in ours.volumes] == [v.env for v in theirs.volumes] == ["CHROMA_DB_PATH"]
    assert set(ours.secrets) >= set(theirs.secrets)
    assert ours.replicas == theirs.replicas == 1
    assert ours.build.install == theirs.build.install
    assert ours.graceful_shutdown == theirs.graceful_shutdown == 10
    assert ours.workers == theirs.workers == 1 and "--workers 1" in ours.start  # pinned against $WEB_CONCURRENCY
    assert (ours.resources.cpu, ours.resources.memory) == (theirs.resources.cpu, theirs.resources.memory)


def test_detected_text_cannot_break_the_yaml(tmp_path):
    app = tmp_path / "Weird App: #1"
    app.mkdir()
    (app / "requirements.txt").write_text("fastapi\nuvicorn\nsse-starlette\n")
    (app / "main.py").write_text(textwrap.dedent('''\
        import os
        from fastapi import FastAPI
        from sse_starlette import EventSourceResponse

        app = FastAPI()
        GREETING = os.getenv("GREETING", "it's \\"quoted\\" # not a comment\\nline two: yes")
        EMPTY = os.getenv("EMPTY_DEFAULT", "")

        @app.get("/live: #stream")
        async def stream():
            return EventSourceResponse(iter(()))
        '''))
    result = run_init(app)
    assert result.returncode == 0, result.stderr
    spec = load(app)
    assert spec.name == "weird-app-1"
    assert spec.services["api"].streaming.paths == ["/live: #stream"]
    text = (app / "streamdeploy.yaml").read_text()
    commented = next(line for line in text.splitlines() if "GREETING" in line)
    # uncommenting the line gives the default back, exactly
    assert yaml.safe_load(commented.replace("#", "", 1).split("  # ")[0].strip()) == {
        "GREETING": "it's \"quoted\" # not a comment\nline two: yes"}


def test_a_draft_that_does_not_validate_is_not_written(tmp_path, monkeypatch, capsys):
    app = copy_app("plain", tmp_path)
    monkeypatch.setattr(init, "compose", lambda facts: init.Draft("version: 1\nname: x\nservices: {}\n"))
    assert init.run(app) == 1
    assert not (app / "streamdeploy.yaml").exists()
    assert "wrote nothing" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["plain", "chroma_sse", "src_layout", "example"])
def test_every_draft_loads_and_is_deterministic(tmp_path, name):
    app = copy_app(name, tmp_path)
    facts = scan_app(app)
    first, second = init.compose(facts).text, init.compose(scan_app(app)).text
    assert first == second
    assert loader.load_text(first, app / "streamdeploy.yaml").spec.services
    assert all(len(line) <= 140 or not line.lstrip().startswith("#") for line in first.splitlines())


@pytest.mark.parametrize("value", ["plain", "it's", 'say "hi"', "a: b", "# x", "- y", "", "yes", "1.0", "null",
                                   "{x}", "[x]", "...", "---", "multi\nline", "tab\there", "ünïcödé", "@at", "`tick`", "%pct"])
def test_scalars_round_trip_through_yaml(value):
    assert yaml.safe_load(f"k: {init.scalar(value)}") == {"k": value}
