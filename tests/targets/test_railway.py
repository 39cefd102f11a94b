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
from streamdeploy import loader, writer
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
    assert '    healthcheck: "/health",\n    healthcheckTimeout: 65,\n    replicas: 1,\n' in text  # 20 + 3 x 15
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
    assert 'healthcheck: "/_stcore/health",\n    healthcheckTimeout: 120,' in admin  # 30 + 3 x 30
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


# --- railway.toml ---------------------------------------------------------------------------


def test_toml_format_writes_config_as_code_and_warns_of_the_cutoff(tmp_path):
    rendering = render(describe(tmp_path, env=NASTY, railway_target={"format": "toml"}))
    paths = [f.path for f in rendering.files]
    assert "railway.toml" in paths and not any(p.startswith(".railway/") for p in paths)
    data = tomllib.loads(file(rendering, "railway.toml"))
    assert data == {
        "build": {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"},
        "deploy": {"healthcheckPath": "/health", "healthcheckTimeout": 50, "restartPolicyType": "ON_FAILURE",
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
        ("railway", "config", "apply", "--file", ".railway/railway.ts", "--yes"),
        ("railway", "variable", "set", "OPENAI_API_KEY", "--stdin", "--service", "api", "--skip-deploys"),
        ("railway", "variable", "set", "API_KEY", "--stdin", "--service", "api", "--skip-deploys"),
        ("railway", "up", "--service", "api", "--ci"),
        ("railway", "domain", "--service", "api", "--port", "8000", "--json"),
    ]
    init, link, install = p.steps[:3]
    assert init.skip_if.argv == link.argv and init.skip_if.skip_when == "exit0"  # an existing project is linked
    assert install.skip_if.argv == ("npm", "ls", "--prefix", ".railway", "railway")
    secret = p.steps[4]
    assert secret.stdin.secrets == ("OPENAI_API_KEY",) and secret.stdin.format == "value"
    assert p.secrets == ("OPENAI_API_KEY", "API_KEY")
    assert p.tools == ("railway", "node", "npm") and p.url is None
    assert all(("CI", "true") in s.env for s in p.steps if s.argv[0] == "railway")
    assert p.steps[6].timeout >= 1800


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
