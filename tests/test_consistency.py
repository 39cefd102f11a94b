"""Rules that relate several fields: each yields (key path, what is wrong, how to fix it)."""

from __future__ import annotations

import pytest

from streamdeploy import consistency
from streamdeploy.spec import Spec

START = "uvicorn app.main:app --host 0.0.0.0 --port $PORT"


def spec(**service) -> Spec:
    svc = {"start": START, "port": 8000, **service}
    return Spec.model_validate({"version": 1, "name": "demo", "services": {"api": svc}})


def issues(**service) -> list[tuple]:
    return consistency.problems(spec(**service))


def keys(**service) -> list[str]:
    return [".".join(map(str, path)) for path, _, _ in issues(**service)]


def test_a_sound_service_has_no_issues():
    assert issues(
        health={"path": "/health"},
        streaming={"paths": ["/stream"]},
        volumes=[{"name": "data", "mount": "/data", "env": "DATA_DIR"}],
        env={"MODE": "prod"},
        secrets=["API_KEY"],
    ) == []


def test_relative_mount_path():
    (path, message, fix), = issues(volumes=[{"name": "data", "mount": "data"}])
    assert path == ("services", "api", "volumes", 0, "mount")
    assert "relative" in message and fix.startswith("use an absolute path")


def test_duplicate_mount_path_and_nested_mounts():
    found = issues(volumes=[{"name": "a", "mount": "/data/"}, {"name": "b", "mount": "/data"},
                            {"name": "c", "mount": "/data/c"}])
    assert [(p[-2], m) for p, m, _ in found] == [
        (1, "two volumes are mounted at `/data`"),
        (2, "mount path `/data/c` is nested in `/data`"),
    ]


def test_two_volumes_with_one_name():
    (path, message, fix), = issues(volumes=[{"name": "data", "mount": "/a"}, {"name": "data", "mount": "/b"}])
    assert path == ("services", "api", "volumes", 1, "name")
    assert message == "two volumes are named `data`"


@pytest.mark.parametrize("mount", ["/", "/etc", "/usr/", "/tmp"])
def test_a_mount_that_hides_a_system_directory(mount):
    (_, message, fix), = issues(volumes=[{"name": "data", "mount": mount}])
    assert "system directory" in message and "/data" in fix


def test_a_zero_size_volume():
    (path, message, _), = issues(volumes=[{"name": "data", "mount": "/data", "size": 0}])
    assert path[-1] == "size" and "above zero" in message


def test_a_volume_env_that_env_sets_to_another_path():
    (path, message, _), = issues(volumes=[{"name": "d", "mount": "/data", "env": "DATA"}], env={"DATA": "/elsewhere"})
    assert path[-1] == "env" and "another path" in message


def test_a_secret_that_is_also_in_env():
    (path, message, fix), = issues(env={"API_KEY": "oops"}, secrets=["API_KEY"])
    assert path == ("services", "api", "secrets", 0)
    assert "both a secret and a plain env value" in message
    assert "remove `API_KEY` from env" in fix


def test_a_secret_listed_twice():
    (path, message, _), = issues(secrets=["A_KEY", "A_KEY"])
    assert path[-1] == 1 and "twice" in message


def test_port_in_env_disagreeing_with_port():
    (path, message, _), = issues(env={"PORT": "9000"})
    assert path == ("services", "api", "env", "PORT")


@pytest.mark.parametrize("start,port,fragment", [
    ("uvicorn app.main:app --host 0.0.0.0 --port 9000", 8000, "start listens on port 9000, but `port` is 8000"),
    ("uvicorn app.main:app --host 0.0.0.0 --port=9000", 8000, "start listens on port 9000"),
    ("uvicorn app.main:app --host 127.0.0.1 --port $PORT", 8000, "binds 127.0.0.1"),
    ("uvicorn app.main:app --port $PORT", 8000, "uvicorn without a host listens on 127.0.0.1"),
    ("python -m uvicorn app.main:app --port $PORT", 8000, "uvicorn without a host"),
    ("python migrate.py && exec uvicorn app:app --port $PORT", 8000, "uvicorn without a host"),
    ("uvicorn app.main:app --host 0.0.0.0", 9000, "uvicorn without a port listens on 8000, but `port` is 9000"),
    ("gunicorn app:app -k uvicorn.workers.UvicornWorker --bind 127.0.0.1:8000", 8000, "binds 127.0.0.1"),
    ("gunicorn app:app -b 0.0.0.0:9000", 8000, "start listens on port 9000"),
    ("hypercorn app:app", 8000, "hypercorn without a host listens on 127.0.0.1"),
    ("fastapi dev app/main.py", 8000, "fastapi dev without a host"),
    ("fastapi run app/main.py", 9000, "fastapi run without a port listens on 8000"),
    ("flask run", 5000, "flask run without a host"),
    ("streamlit run a.py", 8000, "streamlit run without a port listens on 8501"),
    ("streamlit run a.py --server.port 8501 --server.address localhost", 8501, "binds localhost"),
])
def test_a_start_command_that_can_never_bind_the_port(start, port, fragment):
    found = issues(start=start, port=port)
    assert any(fragment in message for _, message, _ in found), found
    assert all(path == ("services", "api", "start") for path, _, _ in found)


@pytest.mark.parametrize("start,port", [
    ("uvicorn app.main:app --host 0.0.0.0 --port $PORT", 8000),
    ("uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}", 8000),
    ("uvicorn app.main:app --host ${HOST:-0.0.0.0} --port ${PORT:-8000}", 8000),
    ("uvicorn app.main:app --host 0.0.0.0", 8000),
    ("uvicorn app.main:app --uds /tmp/app.sock", 8000),
    ("gunicorn app:app -k uvicorn.workers.UvicornWorker", 8000),  # gunicorn binds 0.0.0.0:$PORT by itself
    ("gunicorn app:app --bind 0.0.0.0:$PORT", 8000),
    ("fastapi run app/main.py --port $PORT", 8000),
    ("streamlit run a.py --server.port ${PORT:-8501} --server.address 0.0.0.0", 8501),
    ("streamlit run a.py", 8501),
    ("./start.sh", 8000),  # a script we cannot see into is not second-guessed
])
def test_start_commands_that_bind_the_port(start, port):
    assert issues(start=start, port=port) == []


def test_uvicorn_host_from_its_environment_variable():
    assert issues(start="uvicorn app:app --port $PORT", env={"UVICORN_HOST": "0.0.0.0"}) == []


def test_a_worker_without_port_is_not_checked_for_binding():
    assert issues(start="python -m app.worker", port=None) == []


def test_an_unparseable_start_command():
    (path, message, fix), = issues(start="uvicorn 'app:app")
    assert path[-1] == "start" and "cannot be parsed" in message and "quotes" in fix


def test_health_and_streaming_need_a_port():
    assert keys(port=None, start="python worker.py", health={"path": "/health"}) == ["services.api.health"]
    assert keys(port=None, start="python worker.py", streaming={"paths": ["/s"]}) == ["services.api.streaming"]


def test_health_timeout_must_be_below_interval():
    assert keys(health={"path": "/health", "interval": "5s", "timeout": "5s"}) == ["services.api.health.timeout"]


def test_heartbeat_must_be_positive_and_below_max_duration():
    assert keys(streaming={"paths": ["/s"], "heartbeat": 0}) == ["services.api.streaming.heartbeat"]
    assert keys(streaming={"paths": ["/s"], "heartbeat": "1h", "max_duration": "10m"}) == [
        "services.api.streaming.heartbeat"]


def test_an_undefined_store_and_its_env_names():
    s = Spec.model_validate({"version": 1, "name": "demo", "services": {
        "api": {"start": START, "port": 8000, "store": "chroma", "env": {"CHROMA_HOST": "x"}}},
        "stores": {"chroma": {}}})
    assert [p for p, _, _ in consistency.problems(s)] == [("services", "api", "env", "CHROMA_HOST")]
    s = Spec.model_validate({"version": 1, "name": "demo", "services": {
        "api": {"start": START, "port": 8000, "store": "vectors"}}})
    (path, message, fix), = consistency.problems(s)
    assert path == ("services", "api", "store") and "none defined" in fix


def test_service_problems_needs_only_the_service():
    service = spec(env={"API_KEY": "x"}, secrets=["API_KEY"]).services["api"]
    assert [p for p, _, _ in consistency.service_problems("api", service)] == [("services", "api", "secrets", 0)]


def test_a_store_url_must_name_a_described_store():
    base = {"version": 1, "name": "x", "services": {"api": {"start": "uvicorn m:a --host 0.0.0.0", "port": 8000}}}
    wrong = Spec.model_validate({**base, "targets": {"fargate": {"store_urls": {"vectors": "http://v:8000"}}}})
    [(path, message, fix)] = consistency.problems(wrong)
    assert path == ("targets", "fargate", "store_urls", "vectors") and "not defined" in message
    right = Spec.model_validate({**base, "stores": {"vectors": {}},
                                 "targets": {"cloudrun": {"store_urls": {"vectors": "https://v.example.com"}}}})
    assert consistency.problems(right) == []
