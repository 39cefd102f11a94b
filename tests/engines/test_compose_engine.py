"""The compose target in a real dockerd with Compose v2: `config` accepts every example, the plan's
`up --build --wait` brings the service up healthy (built by Compose's own BuildKit client), a
second `up` keeps the data, the docker target's volume is taken as the project's own, and the
scaled example runs beside a stand-in Chroma server image built from the chromadb package.

A test-only override file keeps everything on loopback: builds on the host network, containers
on none (the scaled api joins chroma's namespace, where `chroma` is 127.0.0.1)."""

from __future__ import annotations

import pytest
import yaml

from engines.engine import (API_KEY, STREAMDEPLOY, cli, inside, inspect, project, sh, compose_reason,
                            skip_reason, wait_healthy)
from streamdeploy import loader
from streamdeploy.targets import compose, docker
from streamdeploy.targets.base import Context

STANDIN_LABEL = "org.streamdeploy.standin"


@pytest.fixture(scope="session")
def engine():
    reason = skip_reason() or compose_reason()
    if reason:
        pytest.skip(reason)


def rendered(example: str, tmp_path_factory):
    root = project(example, tmp_path_factory.mktemp(f"compose-{example}") / "project")
    cli("render", "--target", "compose", cwd=root)
    return root


def plan_argv(root, verb: str, override: str) -> list[str]:
    """The plan's own `docker compose ... <verb>` with the override file added after its -f."""
    spec = loader.load(root / "streamdeploy.yaml").spec
    [argv] = [s.argv for s in compose.TARGET.plan(spec, Context(root)).steps if s.argv[4] == verb]
    return [*argv[:4], "-f", override, *argv[4:]]


def write_override(root, services: dict) -> str:
    path = root / "override.test.yaml"
    # `!reset []` drops the published port (no bridge here); safe_dump cannot write the tag.
    path.write_text(yaml.safe_dump({"services": services}).replace("ports: []", "ports: !reset []"), encoding="utf-8")
    return str(path)


def down(root, override: str) -> None:
    sh("docker", "compose", "-f", "compose.yaml", "-f", override, "down", "--remove-orphans", cwd=root, check=False)


def container(root, override: str, service: str) -> str:
    out = sh("docker", "compose", "-f", "compose.yaml", "-f", override, "ps", "-q", service, cwd=root).stdout.split()
    assert out, f"no running {service}"
    return out[0]


def verify(name: str, root, port: int = 8000, *extra: str) -> str:
    out = inside(name, STREAMDEPLOY, "verify", f"http://127.0.0.1:{port}", "-f", str(root / "streamdeploy.yaml"),
                 "--service", "api", *extra, check=False, cwd=root)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.parametrize("example", ["app", "multi", "scaled"])
def test_compose_config_accepts_the_rendered_file(engine, example, tmp_path_factory):
    root = rendered(example, tmp_path_factory)
    [argv] = [s.argv for s in compose.TARGET.plan(loader.load(root / "streamdeploy.yaml").spec, Context(root)).steps
              if s.argv[4] == "config"]
    sh(*argv, cwd=root)


def test_up_build_wait_twice_keeps_data_and_adopts_the_docker_targets_volume(engine, tmp_path_factory):
    root = rendered("app", tmp_path_factory)
    spec = loader.load(root / "streamdeploy.yaml").spec
    override = write_override(root, {"api": {"build": {"network": "host"}, "network_mode": "none", "ports": []}})
    down(root, override)
    # The volume as `up --target docker` creates it: Compose must take it as its own, silently.
    [volume_step] = [s.argv for s in docker.TARGET.plan(spec, Context(root)).steps if s.argv[1:3] == ("volume", "create")]
    sh("docker", "rm", "--force", docker.container_name(spec, "api"), check=False)
    sh("docker", "volume", "rm", "--force", volume_step[-1], check=False)
    sh(*volume_step)
    try:
        first = sh(*plan_argv(root, "up", override), cwd=root, timeout=1800)
        assert "already exists but was not created" not in first.stderr, first.stderr
        assert "data will be lost" not in first.stderr, first.stderr
        api = container(root, override, "api")
        assert inspect(api)["State"]["Health"]["Status"] == "healthy"  # --wait waited for it
        assert "verified" in verify(api, root)
        # The second deploy, after a source change: rebuilt, data kept, nothing asked.
        (root / "app" / "__init__.py").write_text((root / "app" / "__init__.py").read_text() + "\n# changed\n")
        second = sh(*plan_argv(root, "up", override), cwd=root, timeout=1800)
        assert "data will be lost" not in second.stderr  # no volume recreated
        api = container(root, override, "api")
        wait_healthy(api)
        assert "still there" in verify(api, root, 8000, "--expect-marker", "last")
    finally:
        down(root, override)


@pytest.fixture(scope="session")
def chroma_standin(engine, tmp_path_factory):
    """chromadb/chroma:<version> from the chromadb wheel, whose `chroma run` is the same Rust server
    (the real image adds dumb-init, bash and curl to debian:stable-slim; bash is in ours too)."""
    spec = loader.load(project("scaled", tmp_path_factory.mktemp("standin") / "p") / "streamdeploy.yaml").spec
    store = next(iter(spec.stores.values()))
    image = docker.CHROMA_IMAGE.format(version=store.version)
    labels = sh("docker", "image", "inspect", "-f", "{{json .Config.Labels}}", image, check=False)
    if labels.returncode == 0:
        return image  # a stand-in from an earlier run, or the real image
    context = tmp_path_factory.mktemp("chroma-standin")
    (context / "Dockerfile").write_text(
        "FROM python:3.12-slim-bookworm\n"
        f"RUN pip install --no-cache-dir chromadb=={store.version}\n"
        f'LABEL {STANDIN_LABEL}="chromadb {store.version} from PyPI"\n'
        "EXPOSE 8000\n"
        'ENTRYPOINT ["chroma"]\n'
        'CMD ["run", "--path", "/data", "--host", "0.0.0.0", "--port", "8000"]\n')
    sh("docker", "build", "--network", "host", "--tag", image, str(context), timeout=1800)
    return image


def test_scaled_example_runs_with_a_chroma_server_and_keeps_data_in_its_volume(chroma_standin, tmp_path_factory):
    root = rendered("scaled", tmp_path_factory)
    document = yaml.safe_load((root / "compose.yaml").read_text())
    api_health = document["services"]["api"]["healthcheck"]["test"]
    override = write_override(root, {
        "chroma": {"network_mode": "none", "extra_hosts": ["chroma:127.0.0.1"]},
        "api": {"build": {"network": "host"}, "network_mode": "service:chroma", "ports": [],
                # chroma holds 8000 in the shared namespace; one replica, since they share it too
                "environment": {"PORT": "8001"}, "deploy": {"replicas": 1},
                "healthcheck": {"test": [part.replace(":8000/", ":8001/") for part in api_health]}},
    })
    down(root, override)
    sh("docker", "volume", "rm", "--force", docker.volume_name(loader.load(root / "streamdeploy.yaml").spec,
                                                                "chroma"), check=False)
    try:
        sh(*plan_argv(root, "up", override), cwd=root, timeout=1800)
        chroma = container(root, override, "chroma")
        assert inspect(chroma)["State"]["Health"]["Status"] == "healthy"  # its rendered bash healthcheck
        health = inside(chroma, "curl", "-sS", "http://127.0.0.1:8001/health").stdout
        assert '"chroma":"server"' in health, health
        assert "verified" in verify(chroma, root, 8001)
        down(root, override)
        sh(*plan_argv(root, "up", override), cwd=root, timeout=1800)
        chroma = container(root, override, "chroma")
        assert "still there" in verify(chroma, root, 8001, "--expect-marker", "last")
        api = container(root, override, "api")
        assert open(f"/proc/{inspect(api)['State']['Pid']}/status").read().count("10001") >= 4
    finally:
        down(root, override)
    assert API_KEY  # the writes above used it
