"""The fly target: fly.toml valid for Fly's schema, exact values, and a plan flyctl accepts."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

import contracts
from conftest import REPO, assert_no_traceback, example_files, platform_schema, run_cli
from streamdeploy import glue, loader
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import fly, image_tag
from streamdeploy.targets.base import Context

NASTY = {
    "QUOTES": "it's \"quoted\"",
    "HASH": "# not a comment",
    "DOLLAR": "$HOME ${PORT:-1}",
    "BACKSLASH": "C:\\path\\n",
    "NEWLINES": "line one\nline two\r\n",
    "UNICODE": "naïve ☃ 東京",
    "LEADING": "  two spaces",
    "TAB": "\ta",
    "EMPTY": "",
}


def spec_of(tmp_path: Path, text: str):
    path = tmp_path / "streamdeploy.yaml"
    path.write_text(text, encoding="utf-8")
    return loader.load(path).spec


def configs(spec, tmp_path=Path(".")) -> dict[str, dict]:
    rendering = fly.TARGET.render(spec, Context(tmp_path))
    return {f.path: tomllib.loads(f.content) for f in rendering.files if f.path.endswith(".toml")}


def example(name: str):
    return loader.load(REPO / "examples" / name / "streamdeploy.yaml").spec


def validate(config: dict) -> None:
    schema = platform_schema("fly.schema.json")
    jsonschema.validate(config, schema, cls=jsonschema.Draft7Validator)


# --- fly.toml ------------------------------------------------------------------------------


@pytest.mark.parametrize("description", example_files(), ids=lambda p: p.parent.name)
def test_every_example_fly_toml_is_valid_for_the_fly_schema(description):
    for _path, config in configs(loader.load(description).spec).items():
        validate(config)


def test_schema_validation_catches_a_bad_config():
    config = configs(example("app"))["fly.toml"]
    config["http_service"]["auto_stop_machines"] = "never"
    with pytest.raises(jsonschema.ValidationError):
        validate(config)


def test_app_fly_toml(tmp_path):
    config = configs(example("app"))["fly.toml"]
    assert config["app"] == "stream-gen-ui"
    assert config["primary_region"] == "iad"
    assert config["kill_signal"] == "SIGTERM"
    assert config["kill_timeout"] == 15  # the app's --timeout-graceful-shutdown 10, plus a moment to exit
    assert config["build"] == {"dockerfile": "Dockerfile"}
    assert config["env"] == {"ENVIRONMENT": "production", "SSE_HEARTBEAT": "15", "PORT": "8000",
                             "CHROMA_DB_PATH": "/data/chroma"}
    assert config["mounts"] == [{"source": "chroma_data", "destination": "/data/chroma", "initial_size": "1gb"}]
    assert config["deploy"] == {"strategy": "rolling"}  # canary and bluegreen are refused with a volume
    assert config["vm"] == [{"size": "shared-cpu-1x", "memory": "512mb"}]
    http = config["http_service"]
    assert http["internal_port"] == 8000 and http["force_https"] is True
    assert http["auto_stop_machines"] == "off" and http["min_machines_running"] == 1
    assert http["concurrency"] == {"type": "requests", "soft_limit": 200}  # no hard cap on open streams
    assert http["checks"] == [{"grace_period": "20s", "interval": "15s", "timeout": "5s", "method": "GET",
                               "path": "/health"}]
    text = next(f.content for f in fly.TARGET.render(example("app"), Context(tmp_path)).files
                if f.path == "fly.toml")
    assert "OPENAI_API_KEY" not in text and "API_KEY" not in text


def test_render_includes_the_image_files_fly_builds_from(tmp_path):
    paths = [f.path for f in fly.TARGET.render(example("multi"), Context(tmp_path)).files]
    assert sorted(paths) == ["../app/.dockerignore", "../app/Dockerfile", "../app/docker-entrypoint.sh",
                             "dashboard/.dockerignore", "dashboard/Dockerfile", "fly.admin.toml", "fly.toml"]


def test_multi_service_one_app_each_and_env_round_trips(tmp_path):
    spec = example("multi")
    found = configs(spec)
    assert sorted(found) == ["fly.admin.toml", "fly.toml"]
    api, admin = found["fly.toml"], found["fly.admin.toml"]
    assert (api["app"], admin["app"]) == ("stream-gen-ui", "stream-gen-ui-admin")
    assert admin["build"] == {"dockerfile": "dashboard/Dockerfile"}
    # the API listens on IPv4 (uvicorn on `::` would refuse it) and is public: its public URL works
    assert admin["env"] == {**spec.services["admin"].plain_env, "API_URL": "https://stream-gen-ui.fly.dev",
                            "PORT": "8501"}
    assert api["env"]["GREETING"] == spec.services["api"].env["GREETING"]
    assert "mounts" not in admin
    assert admin["deploy"] == {"strategy": "bluegreen"}  # stateless with a health check: zero downtime
    assert admin["http_service"]["auto_stop_machines"] == "stop"
    assert admin["http_service"]["min_machines_running"] == 0  # scale_to_zero: idle costs no Machine
    assert admin["http_service"]["force_https"] is False  # private: Flycast is plain HTTP
    assert api["http_service"]["force_https"] is True and api["http_service"]["min_machines_running"] == 1
    assert admin["http_service"]["concurrency"]["hard_limit"] == 250
    assert api["kill_timeout"] == 15  # uvicorn's 10 s graceful shutdown, and a moment


def test_nasty_env_values_round_trip(tmp_path):
    import json

    env = json.dumps(NASTY, ensure_ascii=False)
    spec = spec_of(tmp_path, f"version: 1\nname: demo\nservices:\n  api:\n    start: x\n    port: 8000\n"
                             f"    env: {env}\n")
    config = configs(spec)["fly.toml"]
    assert config["env"] == {**NASTY, "PORT": "8000"}
    validate(config)


def test_secret_values_never_reach_a_file_or_the_plan(tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "API_KEY", "ADMIN_PASSWORD"):
        monkeypatch.setenv(name, f"value-of-{name}-NEVER-SHOWN")
    for description in example_files():
        spec = loader.load(description).spec
        for file in fly.TARGET.render(spec, Context(tmp_path)).files:
            assert "NEVER-SHOWN" not in file.content
        assert "NEVER-SHOWN" not in repr(fly.TARGET.plan(spec, Context(tmp_path)))


def test_worker_gets_no_http_service(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  jobs: {start: python worker.py}\n")
    config = configs(spec)["fly.toml"]
    assert "http_service" not in config and config["deploy"] == {"strategy": "rolling"}
    assert config["kill_timeout"] == 30
    validate(config)


def test_what_fly_cannot_do_is_reported(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  api:\n    start: x\n    port: 8000\n"
                             "    replicas: 2\n"
                             "    volumes: [{name: a, mount: /a}, {name: b, mount: /b}]\n"
                             "    env: {FLY_THING: '1', OK: '2'}\n")
    rendering = fly.TARGET.render(spec, Context(tmp_path))
    config = tomllib.loads(next(f.content for f in rendering.files if f.path == "fly.toml"))
    assert config["mounts"] == [{"source": "a", "destination": "/a", "initial_size": "1gb"}]
    assert "FLY_THING" not in config["env"] and config["env"]["OK"] == "2"
    keys = sorted(n.key for n in rendering.notes)
    assert keys == ["services.api.env.FLY_THING", "services.api.replicas", "services.api.volumes"]
    assert all(n.target == "fly" for n in rendering.notes)
    validate(config)


def test_store_is_reported_not_silently_dropped():
    notes = fly.TARGET.render(example("scaled"), Context(Path("."))).notes
    assert [n.key for n in notes if n.target == "fly"] == ["services.api.store"]


def test_a_reference_is_written_the_way_fly_reaches_that_app(tmp_path):
    base = ("version: 1\nname: demo\nservices:\n  api: {start: \"uvicorn a:app --host HOSTNAME --port 8000\", "
            "port: 8000, public: PUBLIC}\n  ui: {start: x, port: 3000, env: {A: {service: api}, "
            "H: {service: api, property: hostport}}}\n")

    def env(host: str, public: str) -> dict:
        spec = spec_of(tmp_path, base.replace("HOSTNAME", host).replace("PUBLIC", public))
        return configs(spec)["fly.ui.toml"]["env"]

    # IPv6 listener: straight to the Machine on the private network
    assert env("::", "true") == {"A": "http://demo.internal:8000", "H": "demo.internal:8000", "PORT": "3000"}
    # IPv4 only and public: the public URL is the one that works (and a note says how to keep it private)
    assert env("0.0.0.0", "true")["A"] == "https://demo.fly.dev"
    spec = spec_of(tmp_path, base.replace("HOSTNAME", "0.0.0.0").replace("PUBLIC", "true"))
    note = next(n for n in fly.TARGET.render(spec, Context(tmp_path)).notes if n.key == "services.api.start")
    assert "demo.flycast" in note.fix and "public: false" in note.fix
    # IPv4 only and private: through Fly's proxy at its Flycast address
    assert env("0.0.0.0", "false")["H"] == "demo.flycast:80"


@pytest.mark.parametrize("cpu,memory,size,mb", [
    (0.25, "256MB", "shared-cpu-1x", 256),
    (0.5, "512MB", "shared-cpu-1x", 512),
    (1, "1GB", "shared-cpu-1x", 1024),
    (1, "3GB", "shared-cpu-2x", 3072),  # 2861 MiB, in 256 MB steps
    (2, "1GB", "shared-cpu-2x", 1024),
    (4, "32GB", "performance-4x", 30720),
    (12, "2GB", "performance-16x", 32768),  # raised to that size's minimum
])
def test_resources_map_to_machine_sizes(tmp_path, cpu, memory, size, mb):
    spec = spec_of(tmp_path, f"version: 1\nname: demo\nservices:\n  api:\n    start: x\n"
                             f"    resources: {{cpu: {cpu}, memory: {memory}}}\n")
    config = configs(spec)["fly.toml"]
    assert config["vm"] == [{"size": size, "memory": f"{mb}mb"}]
    validate(config)


def test_vm_size_override_and_unknown_size(tmp_path):
    base = "version: 1\nname: demo\nservices:\n  api: {start: x, resources: {memory: 512MB}}\n"
    config = configs(spec_of(tmp_path, base + "targets: {fly: {vm_size: performance-2x}}\n"))["fly.toml"]
    assert config["vm"] == [{"size": "performance-2x", "memory": "4096mb"}]
    with pytest.raises(ProblemsError) as raised:
        configs(spec_of(tmp_path, base + "targets: {fly: {vm_size: huge}}\n"))
    assert raised.value.problems[0].key == "targets.fly.vm_size"


# --- the plan ------------------------------------------------------------------------------


def test_app_plan_argv(tmp_path):
    plan = fly.TARGET.plan(example("app"), Context(tmp_path))
    # The image label is the hash of the build inputs: `fly releases` then tells releases of the
    # same code apart from new code (flyctl's own default, deployment-<ULID>, never repeats).
    tag = image_tag.release_tag(example("app"), "api", Context(tmp_path))
    assert len(tag) == 12
    assert [s.argv for s in plan.steps] == [
        ("fly", "auth", "whoami", "--json"),
        ("fly", "apps", "create", "stream-gen-ui", "--json"),
        ("fly", "volumes", "create", "chroma_data", "--app", "stream-gen-ui", "--region", "iad", "--size", "1",
         "--vm-size", "shared-cpu-1x", "--vm-memory", "512", "--yes"),
        ("fly", "secrets", "import", "--app", "stream-gen-ui", "--stage"),
        ("fly", "status", "--app", "stream-gen-ui", "--json"),
        ("fly", "deploy", "--app", "stream-gen-ui", "--config", "fly.toml", "--remote-only", "--image-label", tag,
         "--wait-timeout", "5m", "--yes", "--ha=false"),
    ]
    create, volume, secrets, machines = plan.steps[1], plan.steps[2], plan.steps[3], plan.steps[4]
    assert machines.pipe_to[1:] == ("-m", "streamdeploy.glue", "fly-machines", "stream-gen-ui")
    assert "fly tokens create org" in plan.steps[0].hint  # F1: a deploy token cannot create the app
    assert create.skip_if.argv == ("fly", "status", "--app", "stream-gen-ui", "--json")
    assert create.skip_if.skip_when == "exit0"
    assert volume.skip_if.argv == ("fly", "volumes", "list", "--app", "stream-gen-ui", "--json")
    assert (volume.skip_if.skip_when, volume.skip_if.needle) == ("contains", '"chroma_data"')
    assert secrets.stdin.secrets == ("OPENAI_API_KEY", "API_KEY") and secrets.stdin.format == "dotenv"
    assert plan.url == "https://stream-gen-ui.fly.dev"
    assert plan.secrets == ("OPENAI_API_KEY", "API_KEY")
    assert plan.tools == ("fly",)


@pytest.mark.parametrize("description", example_files(), ids=lambda p: p.parent.name)
def test_every_plan_argv_is_one_flyctl_accepts(description, tmp_path):
    plan = fly.TARGET.plan(loader.load(description).spec, Context(tmp_path))
    for step in plan.steps:
        for argv in (step.argv, *((step.skip_if.argv,) if step.skip_if else ())):
            assert contracts.accepts("fly", argv), contracts.problem("fly", argv)
            assert not any(a in ("-t", "--access-token") or a.startswith("--access-token") for a in argv)


def test_contract_check_rejects_what_flyctl_rejects():
    assert not contracts.accepts("fly", ("fly", "deploy", "--app", "a", "--wait", "5m"))
    assert not contracts.accepts("fly", ("fly", "volumes", "create", "v", "--size", "one"))


def test_multi_plan_ships_each_app(tmp_path):
    plan = fly.TARGET.plan(example("multi"), Context(tmp_path))
    deploys = [s for s in plan.steps if s.argv[1] == "deploy"]
    assert [d.argv[3] for d in deploys] == ["stream-gen-ui", "stream-gen-ui-admin"]  # the API first
    # each deploys from its build context: ../app (the example API), dashboard/
    assert [(d.cwd, d.argv[5]) for d in deploys] == [("../app", f"../{tmp_path.name}/fly.toml"),
                                                     ("dashboard", "../fly.admin.toml")]
    assert "--flycast" in deploys[1].argv and "--flycast" not in deploys[0].argv  # admin is private
    imports = [s for s in plan.steps if s.argv[1:3] == ("secrets", "import")]
    assert [s.stdin.secrets for s in imports] == [("OPENAI_API_KEY", "API_KEY"), ("ADMIN_PASSWORD", "API_KEY")]
    assert plan.secrets == ("OPENAI_API_KEY", "API_KEY", "ADMIN_PASSWORD")
    assert plan.urls == (("api", "https://stream-gen-ui.fly.dev"),)  # the private dashboard has no public URL


def test_no_secrets_means_no_import_and_org_is_passed(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  api: {start: x, port: 8000}\n"
                             "targets: {fly: {org: acme, region: fra}}\n")
    argvs = [s.argv for s in fly.TARGET.plan(spec, Context(tmp_path)).steps]
    assert ("fly", "apps", "create", "demo", "--json", "--org", "acme") in argvs
    assert not any(a[1:3] == ("secrets", "import") for a in argvs)


def test_build_context_deploys_from_that_directory(tmp_path):
    spec = spec_of(tmp_path, "version: 1\nname: demo\nservices:\n  api: {start: x, port: 8000, "
                             "build: {context: backend}}\n")
    deploy = fly.TARGET.plan(spec, Context(tmp_path)).steps[-1]
    assert deploy.cwd == "backend"
    assert deploy.argv[deploy.argv.index("--config") + 1] == "../fly.toml"
    assert configs(spec)["fly.toml"]["build"] == {"dockerfile": "backend/Dockerfile"}


def test_replicas_without_volume_use_flys_spare_machine_and_say_the_rest(tmp_path):
    plan = fly.TARGET.plan(example("scaled"), Context(tmp_path))
    deploy = plan.steps[-1].argv
    assert "--ha=false" not in deploy
    [note] = [n for n in plan.notes if n.key == "services.api.replicas"]
    assert "fly scale count 3 --app stream-gen-ui" in note.fix


def test_without_an_org_the_plan_says_when_apps_create_can_pick_one(tmp_path):
    """F10: flyctl picks the org itself only for exactly one PERSONAL org (internal/prompt/prompt.go)."""
    [note] = [n for n in fly.TARGET.plan(example("app"), Context(tmp_path)).notes if n.key == "targets.fly.org"]
    assert "exactly one personal" in note.message and "fly orgs list" in note.fix


def test_snapshot_retention_reaches_the_mount_and_the_volume(tmp_path):
    """F11: Fly keeps daily snapshots 5 days unless told (configuration reference, [mounts])."""
    spec = example("app")
    spec = spec.model_copy(update={"targets": spec.targets.model_copy(
        update={"fly": spec.targets.fly.model_copy(update={"snapshot_retention": 30})})})
    config = tomllib.loads(next(f.content for f in fly.TARGET.render(spec, Context(tmp_path)).files
                                if f.path == "fly.toml"))
    assert config["mounts"][0]["snapshot_retention"] == 30
    jsonschema.validate(config, platform_schema("fly.schema.json"), cls=jsonschema.Draft7Validator)
    volume = next(s for s in fly.TARGET.plan(spec, Context(tmp_path)).steps if s.argv[1:3] == ("volumes", "create"))
    assert volume.argv[-3:] == ("--snapshot-retention", "30", "--yes")


def test_the_machines_glue_stops_at_more_than_one_machine():
    """F3: `fly scale count N` gives every added Machine a new, empty volume."""
    one = json.dumps({"Name": "a", "Machines": [{"id": "m1", "config": {"metadata": {"fly_process_group": "app"}}}]})
    assert glue.extra_machines(one) == []
    assert glue.extra_machines(json.dumps({"Machines": []})) == []
    two = json.dumps({"Machines": [{"id": "m1"}, {"id": "m2"}, {"id": "m3"}]})
    assert glue.extra_machines(two) == ["m2", "m3"]
    with pytest.raises(ValueError):
        glue.extra_machines(json.dumps({"Name": "a"}))


def test_render_through_the_cli(tmp_path):
    result = run_cli("render", "--target", "fly", "--stdout", "-f", str(REPO / "examples/multi/streamdeploy.yaml"))
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "==> fly.admin.toml <==" in result.stdout and "==> dashboard/Dockerfile <==" in result.stdout
