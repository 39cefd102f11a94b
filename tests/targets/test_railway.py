"""The railway target: .railway/railway.ts (and legacy railway.toml) and the `up` plan."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import contracts
from conftest import load_description as write, load_example as example, REPO
from streamdeploy import glue, loader, writer
from streamdeploy.targets import get, railway
from streamdeploy.targets.base import Context

NASTY = {
    "QUOTES": "it's \"quoted\"",
    "HASH": "# not a comment",
    "DOLLAR": "$HOME ${PATH} $(id) `id`",
    "BACKSLASH": "back\\slash \\n not a newline",
    "NEWLINES": "line one\nline two\r\nthree",
    "TAB": "a\tb",
    "UNICODE": "naïve ☃ \u2028 \u2029",
    "LEADING": "  two spaces",
    "TRAILING": "trailing  ",
    "CLOSER": "\"); process.exit(1); //",
    "TEMPLATE": "${process.env.HOME}",
    "COMMENT": "*/ evil() /*",
    "EQUALS": "a=b=c",
    "EMPTY": "",
}

DESCRIPTION = """\
version: 1
name: demo
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}
    port: 8000
    health: {path: /health, interval: 10s, timeout: 3s, grace: 20s}
    streaming: {paths: [/stream], max_duration: 10m, heartbeat: 15s}
    volumes:
      - {name: chroma_data, mount: /data/chroma, size: 2GB, env: CHROMA_DB_PATH}
    env: %(env)s
    secrets: [OPENAI_API_KEY]
    resources: {cpu: 1, memory: 1GB}
targets:
  railway: %(railway)s
"""


def describe(tmp_path: Path, env: dict | None = None, railway_target: dict | None = None) -> loader.Loaded:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write(tmp_path, DESCRIPTION % {"env": json.dumps(env or {"ENVIRONMENT": "production"}),
                                          "railway": json.dumps(railway_target or {})})


def render(loaded: loader.Loaded):
    return railway.TARGET.render(loaded.spec, Context(root=loaded.root))


def plan(loaded: loader.Loaded):
    return railway.TARGET.plan(loaded.spec, Context(root=loaded.root))


def file(rendering, path: str) -> str:
    return next(f.content for f in rendering.files if f.path == path)


@pytest.fixture(autouse=True)
def account_auth(monkeypatch):
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    monkeypatch.delenv("RAILWAY_API_TOKEN", raising=False)


# --- a TypeScript reader good enough to check what we emit ----------------------------------

_DECODER = json.JSONDecoder()


def ts_tokens(text: str) -> list[tuple[str, object]]:
    """(kind, value) tokens; strings are decoded as JSON, which our literals must be."""
    tokens: list[tuple[str, object]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("//", i):
            i = text.index("\n", i)
        elif ch.isspace():
            i += 1
        elif ch == '"':
            value, end = _DECODER.raw_decode(text, i)
            assert isinstance(value, str)
            tokens.append(("str", value))
            i = end
        elif ch in "'`":
            raise AssertionError(f"only JSON double-quoted strings are emitted, found {ch!r} at {i}")
        elif m := re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*").match(text, i):
            tokens.append(("name", m.group()))
            i = m.end()
        elif m := re.compile(r"-?\d+(\.\d+)?").match(text, i):
            tokens.append(("num", float(m.group()) if "." in m.group() else int(m.group())))
            i = m.end()
        else:
            tokens.append(("punct", ch))
            i += 1
    return tokens


def assert_balanced(tokens) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for kind, value in tokens:
        if kind != "punct":
            continue
        if value in "([{":
            stack.append(value)
        elif value in pairs:
            assert stack and stack.pop() == pairs[value], "unbalanced brackets"
    assert not stack, "unclosed brackets"


def object_entries(tokens, key_name: str) -> dict:
    """The flat `{ key: "literal" | call(), ... }` object after `key_name:` (first occurrence)."""
    start = next(i for i, t in enumerate(tokens) if t in (("name", key_name), ("str", key_name))
                 and tokens[i + 1] == ("punct", ":"))
    assert tokens[start + 2] == ("punct", "{")
    out: dict = {}
    i = start + 3
    while tokens[i] != ("punct", "}"):
        key = tokens[i][1]
        assert tokens[i + 1] == ("punct", ":")
        j, depth, value = i + 2, 0, []
        while depth or tokens[j] != ("punct", ","):
            if tokens[j] in (("punct", "("), ("punct", "{"), ("punct", "[")):
                depth += 1
            if tokens[j] in (("punct", ")"), ("punct", "}"), ("punct", "]")):
                depth -= 1
            value.append(tokens[j])
            j += 1
        out[key] = value[0][1] if len(value) == 1 and value[0][0] == "str" else "".join(str(v) for _, v in value)
        i = j + 1
    return out


# --- railway.ts -------------------------------------------------------------------------------


def test_iac_file_declares_the_service_its_volume_health_and_variables():
    rendering = render(example("app"))
    assert [f.path for f in rendering.files if f.path.startswith(".railway/")] == [
        ".railway/railway.ts", ".railway/package.json", ".railway/.gitignore"]
    text = file(rendering, ".railway/railway.ts")
    assert text.startswith('import { defineRailway, preserve, project, service, volume } from "railway/iac";\n')
    assert 'const apiChromaData = volume("api-chroma_data", {\n    sizeMB: 1000,\n  });' in text
    assert 'const api = service("api", {' in text
    tokens = ts_tokens(text)
    assert_balanced(tokens)
    assert object_entries(tokens, "build") == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert object_entries(tokens, "volumeMounts") == {"/data/chroma": "apiChromaData"}
    env = object_entries(tokens, "env")
    assert env == {"ENVIRONMENT": "production", "SSE_HEARTBEAT": "15", "PORT": "8000",
                   "CHROMA_DB_PATH": "/data/chroma", "OPENAI_API_KEY": "preserve()", "API_KEY": "preserve()"}
    # 20 + 3 x 15 = 65 s, raised to Railway's own 300 s (a slow first boot is not a failed deploy)
    assert '    healthcheck: "/health",\n    healthcheckTimeout: 300,\n    replicas: 1,\n' in text
    assert "      restartPolicyType: \"ON_FAILURE\",\n      restartPolicyMaxRetries: 10,\n" in text
    # uvicorn --timeout-graceful-shutdown 10 in the example: ten seconds and a moment to exit
    assert "      drainingSeconds: 15,\n      requiredMountPath: \"/data/chroma\",\n" in text
    assert "cpu: 0.5,\n          memoryBytes: 512000000," in text
    assert "start:" not in text  # the image's CMD runs `start` behind the volume-fixing entrypoint
    assert "RAILWAY_RUN_UID" not in text  # the image starts as root when it has a volume
    assert 'return project("stream-gen-ui", {\n    resources: [api, apiChromaData],\n  });' in text


def test_iac_package_pins_the_sdk_that_railway_config_imports():
    rendering = render(example("app"))
    package = json.loads(file(rendering, ".railway/package.json"))
    assert package["devDependencies"] == {"railway": railway.SDK_RANGE}
    assert package["type"] == "module" and package["private"] is True
    assert file(rendering, ".railway/.gitignore") == "node_modules/\n"
    files = {f.path: f for f in rendering.files}
    assert files[".railway/package.json"].comment is None  # JSON has no comments
    assert writer.with_header(files[".railway/railway.ts"]).startswith("// Generated by streamdeploy")


def test_nasty_values_stay_inside_their_string_literals(tmp_path):
    text = file(render(describe(tmp_path, env=NASTY)), ".railway/railway.ts")
    tokens = ts_tokens(text)
    assert_balanced(tokens)
    env = object_entries(tokens, "env")
    for key, value in NASTY.items():
        assert env[key] == value, key
    # nothing a value contains became code: the only calls are ours
    calls = {tokens[i][1] for i in range(len(tokens) - 1) if tokens[i][0] == "name" and tokens[i + 1] == ("punct", "(")}
    assert calls <= {"defineRailway", "volume", "service", "preserve", "project", "image"}
    assert "\u2028" not in text and "\u2029" not in text  # escaped: raw they end a line in older engines


def test_several_services_get_their_own_dockerfile_and_no_shared_state():
    rendering = render(example("multi"))
    text = file(rendering, ".railway/railway.ts")
    tokens = ts_tokens(text)
    assert_balanced(tokens)
    admin = text[text.index('const admin = service("admin"'):]
    assert 'dockerfilePath: "Dockerfile"' in admin  # dashboard/Dockerfile, in what `railway up dashboard` uploads
    assert "volumeMounts" not in admin and "requiredMountPath" not in admin
    assert 'healthcheck: "/_stcore/health",\n    healthcheckTimeout: 300,' in admin  # not below Railway's 300
    admin_env = object_entries(ts_tokens(admin), "env")
    assert admin_env["MULTILINE"] == "line one\nline two" and admin_env["LEADING"] == "  two spaces"
    assert admin_env["ADMIN_PASSWORD"] == "preserve()" and admin_env["PORT"] == "8501"
    assert "resources: [api, apiChromaData, admin]" in text
    assert {"../app/Dockerfile", "dashboard/Dockerfile"} <= {f.path for f in rendering.files}
    assert admin_env["API_URL"] == "http://${{api.RAILWAY_PRIVATE_DOMAIN}}:${{api.PORT}}"


def test_a_store_becomes_an_image_service_with_its_volume_and_a_private_address():
    text = file(render(example("scaled")), ".railway/railway.ts")
    assert 'const chroma = service("chroma", {\n    source: image("chromadb/chroma:1.5.9"),' in text
    assert 'const chromaData = volume("chroma-data", {\n    sizeMB: 20000,\n  });' in text
    env = object_entries(ts_tokens(text[text.index('const api = service("api"'):]), "env")
    assert env["CHROMA_HOST"] == "chroma.env.RAILWAY_PRIVATE_DOMAIN" and env["CHROMA_PORT"] == "8000"
    assert "replicas: 3," in text  # no volume on the API: replicas are fine


def test_the_legacy_format_says_it_cannot_make_a_store():
    loaded = example("scaled")
    toml = railway.TARGET.render(loaded.spec.model_copy(update={"targets": loaded.spec.targets.model_copy(
        update={"railway": loaded.spec.targets.railway.model_copy(update={"format": "toml"})})}),
        Context(root=loaded.root))
    assert any(n.key == "stores.chroma" and n.level == "warning" for n in toml.notes)


def test_only_one_volume_per_service_and_no_replicas_with_a_volume(tmp_path):
    loaded = write(tmp_path, DESCRIPTION.replace(
        "      - {name: chroma_data, mount: /data/chroma, size: 2GB, env: CHROMA_DB_PATH}\n",
        "      - {name: chroma_data, mount: /data/chroma, size: 2GB, env: CHROMA_DB_PATH}\n"
        "      - {name: uploads, mount: /data/uploads, env: UPLOADS}\n").replace(
        "    secrets: [OPENAI_API_KEY]\n", "    secrets: [OPENAI_API_KEY]\n    replicas: 2\n")
        % {"env": "{}", "railway": "{}"})
    rendering = render(loaded)
    text = file(rendering, ".railway/railway.ts")
    assert text.count("volume(") == 1 and "replicas: 1," in text
    warnings = {n.key: n for n in rendering.notes if n.level == "warning" and n.target == "railway"}
    assert "uploads" in warnings["services.api.volumes"].message
    assert "gets 1 instance, not 2" in warnings["services.api.replicas"].message


def test_region_pins_replicas_and_volumes(tmp_path):
    text = file(render(describe(tmp_path, railway_target={"region": "europe-west4-drams3a"})), ".railway/railway.ts")
    assert 'replicas: {\n      "europe-west4-drams3a": 1,\n    },' in text
    assert 'sizeMB: 2000,\n    region: "europe-west4-drams3a",' in text


def test_own_dockerfile_runs_the_start_command_through_a_shell(tmp_path):
    loaded = write(tmp_path, DESCRIPTION.replace("    port: 8000\n", "    port: 8000\n    build: {dockerfile: "
                                                 "deploy/Api.Dockerfile}\n") % {"env": "{}", "railway": "{}"})
    rendering = render(loaded)
    text = file(rendering, ".railway/railway.ts")
    start = next(v for k, v in zip(ts_tokens(text), ts_tokens(text)[2:]) if k == ("name", "start"))
    assert start == ("str", "/bin/sh -c 'exec uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8000}'")
    assert 'dockerfilePath: "deploy/Api.Dockerfile"' in text
    assert any(n.key == "services.api.build.dockerfile" and "RAILWAY_RUN_UID" in (n.fix or "")
               for n in rendering.notes)


def test_identifiers_never_collide_with_imports_or_keywords():
    taken: set[str] = set()
    assert railway._identifier("new", taken, "Service") == "newService"
    assert railway._identifier("service", taken, "Service") == "serviceService"
    assert railway._identifier("api-v2", taken, "Service") == "apiV2"
    assert railway._identifier("api_v2", taken, "Volume") == "apiV22"
    assert railway._identifier("9lives", taken, "Volume") == "_9livesVolume"


def test_railway_sdk_evaluates_the_file_as_the_cli_does(tmp_path):
    """Run the generated file with Node and the real `railway/iac` package when both are here.

    Set RAILWAY_IAC_SDK to an unpacked `railway` npm package (npm pack railway) to run it.
    """
    # `make test` unpacks it there (npm pack railway@<version in .railway/package.json>).
    sdk = os.environ.get("RAILWAY_IAC_SDK") or str(REPO / ".venv" / "npm" / "package")
    node = shutil.which("node")
    if not sdk or not node or not (Path(sdk) / "dist" / "iac" / "index.js").is_file():
        pytest.skip("needs node and RAILWAY_IAC_SDK=<unpacked railway npm package>")
    loaded = example("multi")
    text = file(render(loaded), ".railway/railway.ts")
    folder = tmp_path / ".railway"
    (folder / "node_modules").mkdir(parents=True)
    (folder / "node_modules" / "railway").symlink_to(Path(sdk).resolve())
    # The file has no type annotations, so it is also plain JavaScript (Node < 22.6 cannot strip types).
    (folder / "railway.mjs").write_text(text, encoding="utf-8")
    script = ("const m = await import(process.argv[1]); const iac = await import('railway/iac');"
              "const p = await m.default(iac.createRailwayContext({environment: 'production'}), iac.project);"
              "process.stdout.write(JSON.stringify(p));")
    out = subprocess.run([node, "--input-type=module", "-e", script, str(folder / "railway.mjs")], cwd=folder,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    project = json.loads(out.stdout)
    resources = {r["address"]: r for r in project["resources"]}
    assert set(resources) == {"service.api", "service.admin", "volume.api-chroma_data"}
    api, admin = resources["service.api"], resources["service.admin"]
    assert api["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}  # in ../app, which `up` uploads
    assert api["deploy"]["healthcheckPath"] == "/health" and api["deploy"]["numReplicas"] == 1
    assert api["volumeAttachments"]["api-chroma_data"]["mountPath"] == "/data/chroma"
    assert resources["volume.api-chroma_data"]["config"] == {"sizeMB": 1000}
    assert api["variables"]["OPENAI_API_KEY"] == {"type": "preserve"}
    for key, value in loaded.spec.services["admin"].plain_env.items():
        assert admin["variables"][key] == {"type": "literal", "value": value}
    # the API's address as a Railway reference variable, which Railway resolves when it deploys
    assert admin["variables"]["API_URL"] == {"type": "literal",
                                             "value": "http://${{api.RAILWAY_PRIVATE_DOMAIN}}:${{api.PORT}}"}
    assert admin["deploy"]["sleepApplication"] is True
    assert api["variables"]["GREETING"]["value"] == loaded.spec.services["api"].env["GREETING"]


def held_json(volumes: dict | None = None, services: dict | None = None) -> str:
    """`railway config plan --json` as the CLI prints it (runner.rs RunnerResponse), holding these."""
    resources = []
    for name, (size, region) in (volumes or {}).items():
        resources.append({"address": f"volume.{name}", "type": "volume", "name": name, "engine": None,
                          "variables": None, "source": None, "build": None, "deploy": None, "networking": None,
                          "volumeAttachments": None, "config": {"sizeMB": size, "region": region}, "groupId": None})
    for name, (region, variables) in (services or {}).items():
        resources.append({"address": f"service.{name}", "type": "service", "name": name, "engine": None,
                          "variables": {v: {"type": "preserve"} for v in variables},
                          "deploy": {"multiRegionConfig": {region: {"numReplicas": 1}}}, "config": None})
    return json.dumps({"ok": True, "command": "plan", "changeSet": {"changes": []},
                       "currentGraph": {"project": {"name": "demo"}, "resources": resources}})


def render_holding(loaded, text: str):
    return railway.TARGET.render(loaded.spec, Context(root=loaded.root, held=((railway.HELD, text),)))


def test_a_volume_keeps_the_region_railway_holds(tmp_path):
    """R3: Railway's config holds each volume's region; a file without it (or with another) is a
    destructive change that `config apply --yes` refuses (change_set.rs diff_volume_config)."""
    loaded = describe(tmp_path)
    fresh = file(render(loaded), ".railway/railway.ts")
    assert "region:" not in fresh and "replicas: 1," in fresh  # a first deploy: Railway places it
    rendering = render_holding(loaded, held_json({"api-chroma_data": (2000, "europe-west4-drams3a")},
                                                 {"api": ("europe-west4-drams3a", ())}))
    text = file(rendering, ".railway/railway.ts")
    assert 'volume("api-chroma_data", {\n    sizeMB: 2000,\n    region: "europe-west4-drams3a",\n  });' in text
    assert 'replicas: {\n      "europe-west4-drams3a": 1,\n    },' in text  # the service stays with its volume
    note = next(n for n in rendering.notes if "where Railway placed it" in n.message)
    assert note.fix == "targets.railway.region: europe-west4-drams3a in the description, so `render` writes the same"
    moved = render_holding(describe(tmp_path / "moved", railway_target={"region": "us-west2"}),
                           held_json({"api-chroma_data": (2000, "europe-west4-drams3a")}))
    assert 'region: "europe-west4-drams3a"' in file(moved, ".railway/railway.ts")
    warning = next(n for n in moved.notes if n.key == "targets.railway.region")
    assert warning.level == "warning" and "destructive" in warning.message


def test_a_volume_never_shrinks_below_what_railway_holds(tmp_path):
    loaded = describe(tmp_path)  # 2GB described
    grown = render_holding(loaded, held_json({"api-chroma_data": (5000, "us-west2")}))
    assert "sizeMB: 5000," in file(grown, ".railway/railway.ts")
    note = next(n for n in grown.notes if "never shrinks" in n.message)
    assert note.key == "services.api.volumes.0.size" and note.fix.startswith("size: 5000MB")
    smaller = render_holding(loaded, held_json({"api-chroma_data": (1000, "us-west2")}))
    assert "sizeMB: 2000," in file(smaller, ".railway/railway.ts")  # growing is safe: Railway resizes


def test_variables_set_in_the_dashboard_are_preserved_by_name(tmp_path):
    """R8: a variable Railway holds that the file leaves out is a destructive delete; preserve()
    keeps it without reading its value."""
    loaded = describe(tmp_path)
    rendering = render_holding(loaded, held_json(services={"api": ("us-west2", (
        "ENVIRONMENT", "OPENAI_API_KEY", "SENTRY_DSN", "FEATURE_X"))}))
    env = object_entries(ts_tokens(file(rendering, ".railway/railway.ts")), "env")
    assert env["SENTRY_DSN"] == "preserve()" and env["FEATURE_X"] == "preserve()"
    assert env["ENVIRONMENT"] == "production"  # described: the description's value wins
    note = next(n for n in rendering.notes if "set outside the description" in n.message)
    assert "SENTRY_DSN, FEATURE_X" in note.message and note.key == "services.api.env"


def test_garbage_from_the_read_counts_as_nothing_held(tmp_path):
    loaded = describe(tmp_path)
    for text in ("", "not json", '{"currentGraph": 3}', '{"currentGraph": {"resources": [7, {"name": 1}]}}'):
        assert file(render_holding(loaded, text), ".railway/railway.ts") == file(render(loaded), ".railway/railway.ts")


def test_backups_are_scheduled_on_the_volume_mount(tmp_path):
    """R10: the SDK's VolumeMount takes backupSchedules; service() has no option for it, so the
    graph's attachment carries it."""
    text = file(render(describe(tmp_path, railway_target={"backups": ["daily", "weekly"]})), ".railway/railway.ts")
    assert ('  api.volumeAttachments = {\n    "api-chroma_data": {\n      volume: apiChromaData.address,\n'
            '      mountPath: "/data/chroma",\n      backupSchedules: ["DAILY", "WEEKLY"],\n    },\n  };') in text
    assert "volumeAttachments" not in file(render(describe(tmp_path / "none")), ".railway/railway.ts")


def test_the_fake_sdk_reads_every_example_as_the_real_one_does(tmp_path):
    """The fake node's railway/iac evaluation (tests/fakes/railway_iac.py) must agree with the
    real package, or the fakes could agree with a mistake; run when node and the SDK are here."""
    from fakes import railway_iac

    sdk = os.environ.get("RAILWAY_IAC_SDK") or str(REPO / ".venv" / "npm" / "package")
    node = shutil.which("node")
    if not node or not (Path(sdk) / "dist" / "iac" / "index.js").is_file():
        pytest.skip("needs node and RAILWAY_IAC_SDK=<unpacked railway npm package>")
    held = held_json({"api-chroma_data": (5000, "us-west2")}, {"api": ("us-west2", ("EXTRA",))})
    cases = [(name, example(name), ()) for name in ("app", "multi")]
    cases.append(("backups", describe(tmp_path / "d", railway_target={"backups": ["daily"]}), ((railway.HELD, held),)))
    for name, loaded, read in cases:
        text = file(railway.TARGET.render(loaded.spec, Context(root=loaded.root, held=read)), ".railway/railway.ts")
        folder = tmp_path / name / ".railway"
        (folder / "node_modules").mkdir(parents=True)
        (folder / "node_modules" / "railway").symlink_to(Path(sdk).resolve())
        (folder / "railway.mjs").write_text(text, encoding="utf-8")  # no type annotations: plain JavaScript
        script = ("const m = await import(process.argv[1]); const p = await m.default({});"
                  "process.stdout.write(JSON.stringify({project: p}));")
        out = subprocess.run([node, "--input-type=module", "-e", script, str(folder / "railway.mjs")], cwd=folder,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert railway_iac.evaluate(folder / "railway.mjs", {}, native=False) == json.loads(out.stdout), name


def test_the_changes_glue_says_what_redeploys_and_stops_on_destructive_changes():
    plan_json = json.dumps({"changeSet": {"changes": [
        {"kind": "variable.set", "summary": "Set variable api.GREETING", "severity": "safe", "details": None},
        {"kind": "resource.update", "summary": "Resize volume api-data from 1000MB to 2000MB", "severity": "safe",
         "details": ["config.sizeMB (1000 → 2000)"]},
        {"kind": "resource.update", "summary": "Update api deploy.healthcheckTimeout", "severity": "safe",
         "details": ["deploy.healthcheckTimeout (65 → 80)"]},
        {"kind": "resource.create", "summary": "Create volume api-data", "severity": "safe", "details": None},
        {"kind": "resource.create", "summary": "Create service api", "severity": "safe", "details": None},
    ]}, "diagnostics": []})
    lines, problems = glue.describe_changes(plan_json, ".railway/railway.ts")
    assert problems == []
    assert lines[1:6] == ["  Set variable api.GREETING  (redeploys)", "  Resize volume api-data from 1000MB to 2000MB",
                          "  Update api deploy.healthcheckTimeout  (redeploys)", "  Create volume api-data",
                          "  Create service api  (redeploys)"]
    none, _ = glue.describe_changes(json.dumps({"changeSet": {"changes": []}}), "F")
    assert "changes nothing and deploys nothing" in none[0]
    bad = json.dumps({"changeSet": {"changes": [
        {"kind": "variable.delete", "summary": "Delete variable api.X", "severity": "destructive"}]}})
    _, problems = glue.describe_changes(bad, "F")
    assert problems == ["destructive: Delete variable api.X"]
    assert glue.describe_changes("oops", "F")[1][0].startswith("`railway config plan` did not answer with JSON")


# --- railway.toml ---------------------------------------------------------------------------


def test_toml_format_writes_config_as_code_and_warns_of_the_cutoff(tmp_path):
    rendering = render(describe(tmp_path, env=NASTY, railway_target={"format": "toml"}))
    paths = [f.path for f in rendering.files]
    assert "railway.toml" in paths and not any(p.startswith(".railway/") for p in paths)
    data = tomllib.loads(file(rendering, "railway.toml"))
    assert data == {
        "build": {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"},
        "deploy": {"healthcheckPath": "/health", "healthcheckTimeout": 300, "restartPolicyType": "ON_FAILURE",
                   "restartPolicyMaxRetries": 10, "numReplicas": 1, "drainingSeconds": 300,
                   "requiredMountPath": "/data/chroma"},
    }
    cutoff = next(n for n in rendering.notes if n.key == "targets.railway.format" and n.level == "warning")
    assert "2026-12-01" in cutoff.message and "railway volume add" in cutoff.message
    assert not any(v in file(rendering, "railway.toml") for v in ("production", "not a comment"))


def test_toml_format_for_several_services_names_each_config_path():
    loaded = example("multi")
    spec = loaded.spec.model_copy(update={"targets": loaded.spec.targets.model_copy(
        update={"railway": loaded.spec.targets.railway.model_copy(update={"format": "toml"})})})
    rendering = railway.TARGET.render(spec, Context(root=loaded.root))
    assert tomllib.loads(file(rendering, "railway.admin.toml"))["build"]["dockerfilePath"] == "Dockerfile"
    assert tomllib.loads(file(rendering, "railway.toml"))["build"]["dockerfilePath"] == "Dockerfile"
    path_note = next(n for n in rendering.notes if "Config-as-code path" in n.message)
    assert "admin: /railway.admin.toml" in path_note.fix


# --- the plan -------------------------------------------------------------------------------


def test_iac_plan_links_installs_applies_sets_secrets_then_deploys():
    p = plan(example("app"))
    assert [s.argv for s in p.steps] == [
        ("railway", "init", "--name", "stream-gen-ui", "--json"),
        ("railway", "link", "--project", "stream-gen-ui", "--environment", "production", "--json"),
        ("npm", "install", "--prefix", ".railway", "--no-audit", "--no-fund"),
        ("railway", "config", "plan", "--file", ".railway/railway.ts", "--json"),
        ("railway", "config", "apply", "--file", ".railway/railway.ts", "--yes"),
        ("railway", "variable", "set", "OPENAI_API_KEY", "--stdin", "--service", "api", "--skip-deploys"),
        ("railway", "variable", "set", "API_KEY", "--stdin", "--service", "api", "--skip-deploys"),
        ("railway", "up", "--service", "api", "--ci"),
        ("railway", "domain", "--service", "api", "--port", "8000", "--json"),
    ]
    init, link, install, changes = p.steps[:4]
    assert init.skip_if.argv == link.argv and init.skip_if.skip_when == "exit0"  # an existing project is linked
    assert install.skip_if.argv == ("npm", "ls", "--prefix", ".railway", "railway")
    assert changes.pipe_to[1:] == ("-m", "streamdeploy.glue", "railway-changes", ".railway/railway.ts")
    secret = p.steps[5]
    assert secret.stdin.secrets == ("OPENAI_API_KEY",) and secret.stdin.format == "value"
    assert p.secrets == ("OPENAI_API_KEY", "API_KEY")
    assert p.tools == ("railway", "node", "npm") and p.url is None
    assert all(("CI", "true") in s.env for s in p.steps if s.argv[0] == "railway")
    assert p.steps[7].timeout >= 1800


def test_a_workspace_is_named_to_init_and_link(tmp_path):
    """R4: with several workspaces `railway init` needs --workspace when not interactive
    (railwayapp/cli src/commands/init.rs prompt_workspace)."""
    p = plan(describe(tmp_path, railway_target={"workspace": "Acme Team"}))
    init, link = p.steps[:2]
    assert init.argv == ("railway", "init", "--name", "demo", "--workspace", "Acme Team", "--json")
    assert link.argv == ("railway", "link", "--project", "demo", "--environment", "production",
                         "--workspace", "Acme Team", "--json")
    assert init.skip_if.argv == link.argv
    bare = plan(describe(tmp_path / "bare"))
    assert "targets.railway.workspace" in bare.steps[0].hint


def test_up_reads_what_railway_holds_first(monkeypatch, tmp_path):
    loaded = describe(tmp_path)
    reads = railway.TARGET.reads(loaded.spec, Context(root=loaded.root))
    assert [r.argv for r in reads] == [
        ("railway", "link", "--project", "demo", "--environment", "production", "--json"),
        ("railway", "config", "plan", "--file", railway.HELD_FILE, "--json")]
    assert reads[0].key is None and reads[1].key == railway.HELD
    assert Path(railway.HELD_FILE).read_text().count("import") == 0  # needs no SDK, no node_modules
    for read in reads:
        assert contracts.problem("railway", read.argv) is None
    monkeypatch.setenv("RAILWAY_TOKEN", "project-token")
    assert [r.key for r in railway.TARGET.reads(loaded.spec, Context(root=loaded.root))] == [railway.HELD]


def test_toml_plan_creates_the_volume_once_and_sets_variables_by_argv(tmp_path):
    loaded = describe(tmp_path, env=NASTY, railway_target={"format": "toml", "project": "shop",
                                                            "environment": "staging"})
    p = plan(loaded)
    argvs = [s.argv for s in p.steps]
    assert argvs[0] == ("railway", "link", "--project", "shop", "--environment", "staging", "--json")
    assert ("railway", "service", "link", "api") in argvs
    add = next(s for s in p.steps if s.argv[:3] == ("railway", "volume", "add"))
    assert add.argv == ("railway", "volume", "add", "--mount-path", "/data/chroma", "--json")
    assert add.skip_if.argv == ("railway", "volume", "list", "--json")
    assert add.skip_if.skip_when == "contains" and add.skip_if.needle == '"serviceName": "api"'
    variables = next(s for s in p.steps if s.argv[:3] == ("railway", "variable", "set") and "--stdin" not in s.argv)
    for key, value in NASTY.items():
        assert f"{key}={value}" in variables.argv  # no shell: the value arrives byte for byte
    assert "PORT=8000" in variables.argv and "CHROMA_DB_PATH=/data/chroma" in variables.argv
    assert not any(s.argv[:2] == ("railway", "init") for s in p.steps)  # new services cannot use railway.toml
    assert p.tools == ("railway",)


def test_a_project_token_needs_no_link(monkeypatch):
    monkeypatch.setenv("RAILWAY_TOKEN", "project-token")
    p = plan(example("app"))
    assert not any(s.argv[1] in ("init", "link") for s in p.steps if s.argv[0] == "railway")
    assert any("project token" in n.message for n in p.notes)


def test_a_build_context_is_uploaded_as_the_root(tmp_path):
    loaded = write(tmp_path, DESCRIPTION.replace("    port: 8000\n", "    port: 8000\n    build: {context: backend}\n")
                   % {"env": "{}", "railway": "{}"})
    up = next(s for s in plan(loaded).steps if s.argv[:2] == ("railway", "up"))
    assert up.argv == ("railway", "up", "backend", "--path-as-root", "--service", "api", "--ci")
    assert 'dockerfilePath: "Dockerfile"' in file(render(loaded), ".railway/railway.ts")


@pytest.mark.parametrize("name", ["app", "multi", "scaled"])
@pytest.mark.parametrize("fmt", ["iac", "toml"])
def test_every_command_line_is_one_the_railway_cli_accepts(name, fmt):
    loaded = example(name)
    spec = loaded.spec.model_copy(update={"targets": loaded.spec.targets.model_copy(
        update={"railway": loaded.spec.targets.railway.model_copy(update={"format": fmt})})})
    p = railway.TARGET.plan(spec, Context(root=loaded.root))
    lines = [s.argv for s in p.steps] + [s.skip_if.argv for s in p.steps if s.skip_if]
    checked = [argv for argv in lines if argv[0] == "railway"]
    assert checked
    for argv in checked:
        assert contracts.problem("railway", argv) is None, argv


def test_no_secret_value_in_any_file_argv_or_note(tmp_path, monkeypatch):
    values = {"OPENAI_API_KEY": "sk-live-railway-0123456789", "API_KEY": "key-railway-9876",
              "ADMIN_PASSWORD": "pw-rw-42"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for fmt in ("iac", "toml"):
        loaded = example("multi")
        spec = loaded.spec.model_copy(update={"targets": loaded.spec.targets.model_copy(
            update={"railway": loaded.spec.targets.railway.model_copy(update={"format": fmt})})})
        rendering = railway.TARGET.render(spec, Context(root=loaded.root))
        p = railway.TARGET.plan(spec, Context(root=loaded.root))
        everything = repr(rendering) + repr(p)
        for value in values.values():
            assert value not in everything


def test_the_registry_finds_it():
    assert get("railway") is railway.TARGET
    assert railway.TARGET.name == "railway" and railway.TARGET.title == "Railway"
