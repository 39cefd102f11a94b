"""The docker target in a real dockerd: the image as generated builds (legacy builder: the Docker
CLI here has no buildx), the plan's `docker run` gives a healthy container that passes `verify`,
keeps its data across `docker restart` and `docker rm` + `run`, runs the server as uid 10001,
and ends an open stream cleanly on SIGTERM. One build per example per session."""

from __future__ import annotations

import re
import signal

import pytest

from engines.engine import (ENV, STREAMDEPLOY, cli, inside, inspect, offline_build, offline_run, pid, popen_inside,
                    project, sh, skip_reason, wait_healthy)
from streamdeploy import loader
from streamdeploy.targets import docker
from streamdeploy.targets.base import Context

EXAMPLES = ["app", "multi"]
URL = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def engine():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


class Deployment:
    """An example rendered, built and run as `up --target docker` plans it (network swapped)."""

    def __init__(self, root):
        self.root = root
        self.loaded = loader.load(root / "streamdeploy.yaml")
        self.plan = docker.TARGET.plan(self.loaded.spec, Context(root))
        self.builds = [s.argv for s in self.plan.steps if s.argv[1] == "build"]
        self.runs = [s.argv for s in self.plan.steps if s.argv[1] == "run"]
        self.volumes = [s.argv for s in self.plan.steps if s.argv[1:3] == ("volume", "create")]
        self.build_logs: list[str] = []

    @property
    def containers(self) -> list[str]:
        return [argv[argv.index("--name") + 1] for argv in self.runs]

    @property
    def api(self) -> str:
        return docker.container_name(self.loaded.spec, "api")

    @property
    def api_image(self) -> str:
        """The image this deployment's plan built and runs for the API (its content tag, not `latest`)."""
        return next(argv[-1] for argv in self.runs if argv[argv.index("--name") + 1] == self.api)

    def build(self) -> None:
        for argv in self.builds:
            self.build_logs.append(sh(*offline_build(argv), cwd=self.root, timeout=1800).stdout)

    def start(self, only: str | None = None) -> None:
        for argv in self.runs:
            name = argv[argv.index("--name") + 1]
            if only in (None, name):
                sh(*offline_run(argv), cwd=self.root)

    def remove(self) -> None:
        sh("docker", "rm", "--force", *self.containers, check=False)

    def verify(self, *extra: str) -> str:
        out = inside(self.api, *_verify_argv(self.root, *extra), check=False, cwd=self.root)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout


def _verify_argv(root, *extra: str) -> list[str]:
    return [STREAMDEPLOY, "verify", URL, "-f", str(root / "streamdeploy.yaml"), "--service", "api", *extra]


@pytest.fixture(scope="session", params=EXAMPLES)
def deployed(request, engine, tmp_path_factory):
    root = project(request.param, tmp_path_factory.mktemp(request.param) / "project")
    cli("render", "--target", "docker", cwd=root)
    deployment = Deployment(root)
    deployment.remove()
    for argv in deployment.volumes:
        sh("docker", "volume", "rm", "--force", argv[-1], check=False)
        sh(*argv)
    deployment.build()
    deployment.start()
    for name in deployment.containers:
        wait_healthy(name)
    yield deployment
    deployment.remove()


def test_the_image_builds_as_generated_on_the_legacy_builder(deployed):
    from streamdeploy import loader
    from streamdeploy.targets import docker

    spec = loader.load(deployed.root / "streamdeploy.yaml").spec
    for name in spec.services:
        text = (deployed.root / docker.dockerfile_path(spec, name)).read_text()
        assert "# syntax=" not in text  # no frontend image to pull from a registry
    for log in deployed.build_logs:
        assert "useradd warning" not in log and "groupadd warning" not in log
        assert "Successfully built" in log  # the legacy builder's last line: no BuildKit needed


def test_each_container_is_healthy_by_its_own_healthcheck(deployed):
    for name in deployed.containers:
        assert inspect(name)["State"]["Health"]["Status"] == "healthy"


def test_verify_passes_health_stream_past_a_heartbeat_and_marker(deployed):
    out = deployed.verify()
    assert "verified" in out and re.search(r"stream.*heartbeat", out), out


def test_the_server_runs_as_uid_10001_with_no_capabilities(deployed):
    for name in deployed.containers:
        status = open(f"/proc/{pid(name)}/status").read()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        assert uids == ["10001"] * 4, f"{name}: {uids}"
        assert re.search(r"^CapEff:\s+0+$", status, re.M), f"{name} keeps capabilities"


def test_data_survives_restart_and_rm_plus_run_on_the_same_volume(deployed):
    deployed.verify()  # writes a marker and remembers it
    sh("docker", "restart", deployed.api)
    wait_healthy(deployed.api)
    assert "persisted" in deployed.verify("--expect-marker", "last")
    sh("docker", "rm", "--force", deployed.api)
    deployed.start(only=deployed.api)
    wait_healthy(deployed.api)
    out = deployed.verify("--expect-marker", "last")
    assert "still there" in out, out


def test_sigterm_with_an_open_stream_ends_it_cleanly_within_the_grace_period(deployed):
    stream = popen_inside(deployed.api, "curl", "-sS", "-N", "--max-time", "120", URL + "/events")
    try:
        assert stream.stdout.readline().startswith(("event: ready", "id:", "retry:"))
        sh("docker", "stop", deployed.api)  # SIGTERM, then SIGKILL after the plan's --stop-timeout
        out, err = stream.communicate(timeout=60)
    finally:
        stream.kill()
    state = inspect(deployed.api)["State"]
    # 137 would mean SIGKILL at the end of the grace period; uvicorn as PID 1 exits 0 (or 143).
    assert state["ExitCode"] in (0, 128 + signal.SIGTERM), state
    assert "event: shutdown" in out and stream.returncode == 0, (out, err)
    assert "stopped cleanly" in sh("docker", "logs", deployed.api).stderr
    sh("docker", "start", deployed.api)
    wait_healthy(deployed.api)


def test_started_as_root_with_cap_drop_all_it_explains_and_does_not_loop(deployed):
    image = deployed.api_image
    name = f"{deployed.api}-capdrop"
    sh("docker", "rm", "--force", name, check=False)
    sh("docker", "run", "--detach", "--name", name, "--network", "none", "--restart", "unless-stopped",
       "--cap-drop", "ALL", image)
    try:
        for _ in range(30):
            logs = sh("docker", "logs", name).stderr
            if "Fix one of" in logs:
                break
            sh("sleep", "1")
        assert "cap_add: [CHOWN, SETUID, SETGID]" in logs and "--user 10001:10001" in logs, logs
        state = inspect(name)
        assert state["State"]["Status"] == "running" and state["RestartCount"] == 0
        sh("docker", "stop", name)
        assert inspect(name)["State"]["ExitCode"] == 78  # EX_CONFIG, at once: it handles SIGTERM
    finally:
        sh("docker", "rm", "--force", name, check=False)


def test_plan_creates_the_volume_compose_would(deployed):
    spec = deployed.loaded.spec
    for argv in deployed.volumes:
        labels = inspect(argv[-1])["Labels"]
        assert labels["com.docker.compose.project"] == spec.name
        assert argv[-1] == f"{spec.name}_{labels['com.docker.compose.volume']}"


def test_environment_passes_secrets_by_name_only(deployed):
    for argv in deployed.runs:
        assert all(ENV["API_KEY"] not in word for word in argv)
