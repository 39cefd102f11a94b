"""`streamdeploy validate` and `streamdeploy schema` as a user runs them: a real process,
its exit code, what it prints, and that it writes nothing."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from conftest import EXAMPLES, assert_no_traceback, example_files, run_cli
from streamdeploy.commands.validate import SCHEMA_ID

GOOD = """\
version: 1
name: demo
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
"""

# (id, file content, (line, the text the column must point at), what the message must say)
BAD = [
    ("invalid-yaml", "version: 1\nname: [demo\nservices: {}\n", (3, ":"),
     "invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence that starts at 2:7)"),
    ("empty", "", None, "is empty"),
    ("top-level-list", "- version: 1\n", (1, "-"), "must be a mapping"),
    ("unknown-key", GOOD + "    volumez: []\n", (7, "volumez"), "did you mean `volumes`?"),
    ("wrong-type", GOOD.replace("port: 8000", "port: eighty"), (6, "eighty"), "must be a whole number"),
    ("bad-unit", GOOD + "    health: {path: /h, timeout: 5x}\n", (7, "5x"), "'5x' is not a duration"),
    ("negative-size", GOOD + "    resources: {memory: -1GB}\n", (7, "-1GB"), "cannot be negative"),
    ("relative-mount", GOOD + "    volumes: [{name: d, mount: data}]\n", (7, "data"), "mount path `data` is relative"),
    ("duplicate-mount", GOOD + "    volumes: [{name: a, mount: /a}, {name: b, mount: /a/}]\n", (7, "/a/"),
     "two volumes are mounted at `/a`"),
    ("same-volume-name", GOOD + "    volumes: [{name: a, mount: /a}, {name: a, mount: /b}]\n", (7, "a, mount: /b"),
     "two volumes are named `a`"),
    ("port-range", GOOD.replace("port: 8000", "port: 70000"), (6, "70000"), "must be at most 65535"),
    ("secret-in-env", GOOD + "    env: {API_KEY: x}\n    secrets: [API_KEY]\n", (8, "API_KEY"),
     "both a secret and a plain env"),
    ("env-name", GOOD + "    env: {1BAD: x}\n", (7, "1BAD"), "is not a valid env var name"),
    ("service-name", GOOD.replace("  api:", "  Api_1:"), (4, "Api_1"), "is not a valid service name"),
    ("start-never-binds", GOOD.replace("--port $PORT", "--port 9000"), (5, "uvicorn"), "start listens on port 9000"),
    ("not-utf8", None, None, "is not UTF-8"),
]


def where(text: str | None, spot: tuple[int, str] | None) -> str:
    """":LINE:COL" of the first ``token`` on ``line``, as the message must show it."""
    if spot is None:
        return ""
    line, token = spot
    return f":{line}:{text.splitlines()[line - 1].index(token) + 1}"


def snapshot(directory) -> dict:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*"))}


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_exits_2_with_a_located_message_and_writes_nothing(tmp_path, case):
    _, text, spot, fragment = case
    path = tmp_path / "streamdeploy.yaml"
    if text is None:
        path.write_bytes(b"version: 1\nname: \xff\xfe\n")
    else:
        path.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    result = run_cli("validate", "-f", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert result.stdout == ""
    assert f"streamdeploy.yaml{where(text, spot)}: error:" in result.stderr
    assert fragment in result.stderr
    assert snapshot(tmp_path) == before


def test_errors_carry_the_key_path_and_the_fix(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(GOOD + "    health: {path: /h, timeout: 5x}\n")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "streamdeploy.yaml:7:33: error: services.api.health.timeout: '5x' is not a duration" in result.stderr


def test_all_errors_in_one_run(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(
        GOOD.replace("name: demo", "name: Demo") + "    volumez: []\n"
        "  worker:\n    start: python -m worker\n    env: {K_KEY: x}\n    secrets: [K_KEY]\ntargetz: 1\n")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert re.findall(r"streamdeploy\.yaml:(\d+):\d+: error", result.stderr) == ["2", "7", "11", "12"]
    assert "4 errors" in result.stderr


@pytest.mark.parametrize("target,fragment", [
    ("missing.yaml", "missing.yaml does not exist"),
    (".", "is a directory, not a file"),
])
def test_missing_file_and_directory(tmp_path, target, fragment):
    result = run_cli("validate", "-f", target, cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert fragment in result.stderr


def test_a_10mb_file_is_rejected_fast(tmp_path):
    path = tmp_path / "streamdeploy.yaml"
    path.write_bytes(b"a: 1\n" * 2_000_000)
    result = run_cli("validate", "-f", str(path), cwd=tmp_path, timeout=20)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "10,000,000 bytes; a description is at most 1,000,000" in result.stderr


def test_json_errors_are_machine_readable(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(GOOD.replace("port: 8000", "port: 70000") + "    volumez: []\n")
    result = run_cli("validate", "--json", cwd=tmp_path)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [(e["key"], e["line"], e["column"]) for e in data["errors"]] == [
        ("services.api.port", 6, 11), ("services.api.volumez", 7, 5)]
    assert data["errors"][1]["fix"] == "did you mean `volumes`?"
    assert all(e["file"] == "streamdeploy.yaml" for e in data["errors"])


def test_validate_succeeds_with_a_one_line_summary():
    for path in example_files():
        result = run_cli("validate", "-f", str(path))
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1 and "stream-gen-ui" in lines[0] and "service" in lines[0]


def test_validate_json_on_success():
    result = run_cli("validate", "--json", "-f", str(EXAMPLES / "multi" / "streamdeploy.yaml"))
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["services"] == ["api", "admin"]


def test_the_file_is_found_by_searching_upward(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(GOOD)
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    result = run_cli("validate", cwd=deep)
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout


def test_no_file_anywhere_says_how_to_get_one(tmp_path):
    if any((p / "streamdeploy.yaml").is_file() for p in tmp_path.resolve().parents):
        pytest.skip("a streamdeploy.yaml sits above the temp directory")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "no streamdeploy.yaml here or in any parent directory" in result.stderr
    assert "streamdeploy init" in result.stderr


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _colours(text: str) -> set[int]:
    """Colour codes (30-37, 38, 40-48, 90-107) in the SGR sequences of ``text``."""
    codes = {int(c) for params in _SGR.findall(text) for c in params.split(";") if c}
    return {c for c in codes if 30 <= c <= 48 or 90 <= c <= 107}


def test_no_color_is_respected(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(GOOD.replace("port: 8000", "port: 0"))
    coloured = run_cli("validate", cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert _colours(coloured.stderr), "with a forced terminal, errors are red"
    plain = run_cli("validate", cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.returncode == 2
    assert _colours(plain.stderr) == set()
    assert "error" in plain.stderr


# --- schema --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_schema_is_a_valid_json_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"version", "name", "services"} <= set(schema["required"])


def test_schema_accepts_the_examples(schema):
    validator = jsonschema.Draft202012Validator(schema)
    for path in example_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], f"{path}: {errors}"


@pytest.mark.parametrize("change,fragment", [
    (lambda d: d["services"]["api"].update(volumez=[]), "volumez"),
    (lambda d: d["services"]["api"].update(port=70000), "70000"),
    (lambda d: d["services"]["api"]["health"].update(timeout="5x"), "5x"),
    (lambda d: d["services"]["api"]["volumes"][0].update(size="-1GB"), "-1GB"),
    (lambda d: d.update(name="My_App"), "My_App"),
    (lambda d: d["services"]["api"]["env"].update({"1BAD": "x"}), "1BAD"),
])
def test_schema_rejects_what_validate_rejects(schema, change, fragment):
    data = yaml.safe_load((EXAMPLES / "app" / "streamdeploy.yaml").read_text(encoding="utf-8"))
    change(data)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors and any(fragment in m for m in errors), errors


def test_schema_takes_units_as_strings_and_numbers_and_env_scalars(schema):
    data = yaml.safe_load(GOOD)
    data["services"]["api"]["env"] = {"DEBUG": True, "WORKERS": 2, "MODE": "prod"}
    data["services"]["api"]["health"] = {"path": "/health", "interval": 15, "timeout": "1m30s"}
    data["services"]["api"]["volumes"] = [{"name": "d", "mount": "/d", "size": "2GiB"}]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
