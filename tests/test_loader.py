"""streamdeploy.yaml -> Spec: every bad input is a Problem with FILE:LINE:COL, the key path,
what is wrong and how to fix it; all of a file's problems come back in one go."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from conftest import example_files
from streamdeploy import loader
from streamdeploy.problems import Problem, ProblemsError

GOOD = """\
version: 1
name: demo
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
"""


def write(tmp_path, text: str, name: str = "streamdeploy.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path, text: str) -> list[Problem]:
    path = write(tmp_path, text)
    with pytest.raises(ProblemsError) as caught:
        loader.load(path)
    assert caught.value.exit_code == 2
    for p in caught.value.problems:
        assert p.file == str(path)
    return caught.value.problems


def only(tmp_path, text: str) -> Problem:
    found = problems_of(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def service(body: str) -> str:
    """GOOD with extra lines under services.api (given at 4 spaces)."""
    return GOOD + textwrap.indent(textwrap.dedent(body), "    ")


# --- the file itself --------------------------------------------------------------------


def test_the_examples_load():
    for path in example_files():
        assert loader.load(path).spec.services


def test_a_good_file_loads_with_positions(tmp_path):
    loaded = loader.load(write(tmp_path, GOOD))
    assert loaded.spec.services["api"].port == 8000
    assert loaded.root == tmp_path.resolve()
    assert loaded.positions.of(("services", "api", "port")) == (6, 11)
    assert loaded.positions.of(("services", "api", "port"), key=True) == (6, 5)


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "streamdeploy.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert loader.load(path).spec.name == "demo"


def test_missing_file(tmp_path):
    p = only_error(lambda: loader.load(tmp_path / "nope.yaml"))
    assert "does not exist" in p.message and "streamdeploy init" in p.fix


def test_directory_instead_of_a_file(tmp_path):
    p = only_error(lambda: loader.load(tmp_path))
    assert "is a directory" in p.message and p.fix.endswith("streamdeploy.yaml")


def test_not_utf8(tmp_path):
    path = tmp_path / "streamdeploy.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    p = only_error(lambda: loader.load(path))
    assert "not UTF-8" in p.message and "byte 20 is 0xe9" in p.message and p.fix == "save the file as UTF-8"


def test_a_10mb_file_is_rejected_without_reading_it(tmp_path):
    path = tmp_path / "streamdeploy.yaml"
    with path.open("wb") as handle:
        handle.write(b"# x\n" * (10_000_000 // 4))
    started = time.perf_counter()
    p = only_error(lambda: loader.load(path))
    assert time.perf_counter() - started < 1.0
    assert "10,000,000 bytes" in p.message and "at most 1,000,000" in p.message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_special_file_is_rejected():
    p = only_error(lambda: loader.load("/dev/zero"))
    assert "not a regular file" in p.message


def only_error(call) -> Problem:
    with pytest.raises(ProblemsError) as caught:
        call()
    assert caught.value.exit_code == 2
    (problem,) = caught.value.problems
    return problem


def test_invalid_yaml_points_at_the_spot(tmp_path):
    p = only(tmp_path, "version: 1\nname: [demo\nservices: {}\n")
    assert p.message.startswith("invalid YAML")
    assert (p.line, p.column) == (3, 9)
    assert "indentation and quoting" in p.fix


def test_a_tab_for_indentation(tmp_path):
    p = only(tmp_path, "version: 1\nservices:\n\tapi: {}\n")
    assert p.message.startswith("invalid YAML") and p.line == 3


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file(tmp_path, text):
    p = only(tmp_path, text)
    assert p.message.endswith("is empty") and "streamdeploy init" in p.fix


@pytest.mark.parametrize("text,kind", [("- version: 1\n- name: x\n", "a list"), ("just text\n", "a str"), ("42\n", "a int")])
def test_the_top_level_must_be_a_mapping(tmp_path, text, kind):
    p = only(tmp_path, text)
    assert f"must be a mapping (version:, name:, services:), not {kind}" in p.message
    assert (p.line, p.column) == (1, 1)


def test_a_key_given_twice(tmp_path):
    p = only(tmp_path, GOOD + "name: again\n")
    assert p.message == "`name` appears twice" and (p.line, p.column) == (7, 1) and p.key == "name"


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    started = time.perf_counter()
    p = only(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5
    assert "more than 100,000 values" in p.message


def test_deep_nesting_is_refused(tmp_path):
    p = only(tmp_path, "[" * 50_000 + "]" * 50_000)
    assert "nests too deeply" in p.message


def test_anchors_and_merge_keys_work(tmp_path):
    text = GOOD + "    env: &common {MODE: prod}\n  worker:\n    start: python -m app.worker\n    env: {<<: *common, ROLE: w}\n"
    spec = loader.load(write(tmp_path, text)).spec
    assert spec.services["worker"].env == {"MODE": "prod", "ROLE": "w"}


# --- unknown keys at every level --------------------------------------------------------


@pytest.mark.parametrize("text,key,suggestion", [
    (GOOD + "targetz: {}\n", "targetz", "targets"),
    (GOOD.replace("version: 1", "verison: 1\nversion: 1"), "verison", "version"),
    (service("volumez: []\n"), "services.api.volumez", "volumes"),
    (service("secret: [A_KEY]\n"), "services.api.secret", "secrets"),
    (service("build: {instal: requirements.txt}\n"), "services.api.build.instal", "install"),
    (service("health: {path: /health, intervall: 15s}\n"), "services.api.health.intervall", "interval"),
    (service("streaming: {paths: [/s], heartbeet: 15s}\n"), "services.api.streaming.heartbeet", "heartbeat"),
    (service("volumes: [{name: data, mount: /data, mnt: /x}]\n"), "services.api.volumes[0].mnt", "mount"),
    (service("resources: {memmory: 1GB}\n"), "services.api.resources.memmory", "memory"),
    (service("verify: {raed: {path: /x}}\n"), "services.api.verify.raed", "read"),
    (GOOD + "targets: {flyio: {}}\n", "targets.flyio", "fly"),
    (GOOD + "targets: {fly: {regoin: iad}}\n", "targets.fly.regoin", "region"),
    (GOOD + "targets: {kubernetes: {namespce: x}}\n", "targets.kubernetes.namespce", "namespace"),
    (GOOD + "stores: {chroma: {engin: chroma}}\n", "stores.chroma.engin", "engine"),
])
def test_unknown_keys_at_every_level(tmp_path, text, key, suggestion):
    p = only(tmp_path, text)
    assert p.key == key
    assert p.message == f"unknown key `{key.rsplit('.', 1)[-1].split(']')[-1].lstrip('.')}`"
    assert p.fix == f"did you mean `{suggestion}`?"
    assert p.line is not None and p.column is not None


def test_a_service_named_like_a_field_gets_the_right_suggestions(tmp_path):
    text = "version: 1\nname: demo\nservices:\n  build:\n    start: python w.py\n    volumez: []\n"
    p = only(tmp_path, text)
    assert (p.key, p.fix, p.line, p.column) == ("services.build.volumez", "did you mean `volumes`?", 6, 5)


def test_an_unknown_key_far_from_any_name_lists_the_allowed_ones(tmp_path):
    p = only(tmp_path, service("health: {zzz: 1}\n"))
    assert p.fix == "allowed here: grace, interval, path, timeout"


# --- wrong values -------------------------------------------------------------------------


@pytest.mark.parametrize("body,key,message", [
    ("replicas: two\n", "services.api.replicas", "`replicas` must be a whole number, not 'two'"),
    ("resources: {cpu: lots}\n", "services.api.resources.cpu", "`cpu` must be a number, not 'lots'"),
    ("env: {A: [1]}\n", "services.api.env.A", "`A` must be text, not [1]"),
    ("secrets: A_KEY\n", "services.api.secrets", "`secrets` must be a list, not 'A_KEY'"),
    ("health: /health\n", "services.api.health", "`health` must be a mapping (key: value lines), not '/health'"),
    ("health: {path: health}\n", "services.api.health.path", "'health' is not a valid path"),
    ("build: {python: 3.12}\n", "services.api.build.python", "`python` must be text, not 3.12"),
])
def test_wrong_types(tmp_path, body, key, message):
    p = only(tmp_path, service(body))
    assert (p.key, p.message) == (key, message)


def test_services_must_be_a_mapping(tmp_path):
    p = only(tmp_path, "version: 1\nname: demo\nservices: [api]\n")
    assert p.key == "services" and "must be a mapping" in p.message and "indented below it" in p.fix


def test_services_must_not_be_empty(tmp_path):
    p = only(tmp_path, "version: 1\nname: demo\nservices: {}\n")
    assert p.key == "services" and p.fix == "add at least one service under `services:`"


def test_version_2(tmp_path):
    p = only(tmp_path, GOOD.replace("version: 1", "version: 2"))
    assert (p.line, p.column, p.message) == (1, 10, "`version` must be 1, not 2")
    assert p.fix == "this streamdeploy reads `version: 1`"


@pytest.mark.parametrize("text,key", [
    (GOOD.replace("version: 1\n", ""), "version"),
    (GOOD.replace("name: demo\n", ""), "name"),
    ("version: 1\nname: demo\n", "services"),
    ("version: 1\nname: demo\nservices:\n  api:\n    port: 8000\n", "services.api.start"),
])
def test_missing_required_keys(tmp_path, text, key):
    p = only(tmp_path, text)
    assert p.key == key and p.message == f"`{key.rsplit('.', 1)[-1]}` is required" and p.fix


@pytest.mark.parametrize("body,key,fragment", [
    ("health: {path: /health, timeout: 5x}\n", "services.api.health.timeout", "'5x' is not a duration"),
    ("streaming: {paths: [/s], max_duration: ten minutes}\n", "services.api.streaming.max_duration", "is not a duration"),
    ("volumes: [{name: d, mount: /d, size: 1XB}]\n", "services.api.volumes[0].size", "'1XB' is not a size"),
    ("resources: {memory: lots}\n", "services.api.resources.memory", "'lots' is not a size"),
])
def test_bad_units(tmp_path, body, key, fragment):
    p = only(tmp_path, service(body))
    assert p.key == key and fragment in p.message and ("e.g." in p.message)


@pytest.mark.parametrize("body,key", [
    ("volumes: [{name: d, mount: /d, size: -1GB}]\n", "services.api.volumes[0].size"),
    ("resources: {memory: -512MB}\n", "services.api.resources.memory"),
    ("health: {path: /h, grace: -5s}\n", "services.api.health.grace"),
])
def test_negative_sizes_and_durations(tmp_path, body, key):
    p = only(tmp_path, service(body))
    assert p.key == key and "cannot be negative" in p.message


@pytest.mark.parametrize("port,message", [
    (70000, "`port` must be at most 65535, not 70000"),
    (0, "`port` must be at least 1, not 0"),
    (-1, "`port` must be at least 1, not -1"),
])
def test_port_out_of_range(tmp_path, port, message):
    p = only(tmp_path, GOOD.replace("port: 8000", f"port: {port}"))
    assert (p.key, p.line, p.column, p.message) == ("services.api.port", 6, 11, message)
    assert p.fix == "a port is a number from 1 to 65535"


def test_relative_duplicate_and_same_named_volumes(tmp_path):
    found = problems_of(tmp_path, service("""\
        volumes:
          - {name: data, mount: data}
          - {name: data, mount: /srv}
          - {name: other, mount: /srv/}
        """))
    assert [(p.key, p.line) for p in found] == [
        ("services.api.volumes[0].mount", 8),
        ("services.api.volumes[1].name", 9),
        ("services.api.volumes[2].mount", 10),
    ]
    assert [p.message for p in found] == [
        "mount path `data` is relative", "two volumes are named `data`", "two volumes are mounted at `/srv`"]


def test_a_secret_that_is_also_in_env(tmp_path):
    p = only(tmp_path, service("env: {OPENAI_API_KEY: sk-123}\nsecrets: [OPENAI_API_KEY]\n"))
    assert (p.key, p.line) == ("services.api.secrets[0]", 8)
    assert "both a secret and a plain env value" in p.message
    assert "sk-123" not in p.message + (p.fix or "")  # a secret's value is never echoed


@pytest.mark.parametrize("name", ["1BAD", "MY-VAR", "has space", "É"])
def test_invalid_env_var_names(tmp_path, name):
    p = only(tmp_path, service(f'env: {{"{name}": x}}\n'))
    assert p.key == f"services.api.env.{name}"
    assert p.message == f"{name!r} is not a valid env var name"
    assert p.fix.startswith("use letters, digits and _")
    assert (p.line, p.column) == (7, 11)  # the key, not its value


@pytest.mark.parametrize("name", ["1BAD", "bad-name"])
def test_invalid_secret_names(tmp_path, name):
    p = only(tmp_path, service(f"secrets: [{name}]\n"))
    assert p.key == "services.api.secrets[0]" and p.message == f"{name!r} is not a valid secret name"


@pytest.mark.parametrize("name", ["Api", "api_v2", "9lives", "a" * 31, "api-"])
def test_a_service_name_no_platform_accepts(tmp_path, name):
    p = only(tmp_path, GOOD.replace("  api:", f"  {name}:"))
    assert p.key == f"services.{name}"
    assert p.message == f"{name!r} is not a valid service name"
    assert "every platform accepts" in p.fix
    assert (p.line, p.column) == (4, 3)


def test_a_project_name_no_platform_accepts(tmp_path):
    p = only(tmp_path, GOOD.replace("name: demo", "name: My_App"))
    assert (p.key, p.message, p.line, p.column) == ("name", "'My_App' is not a valid name", 2, 7)


def test_a_start_command_that_can_never_bind_the_port(tmp_path):
    p = only(tmp_path, GOOD.replace("--host 0.0.0.0 --port $PORT", "--host 0.0.0.0 --port 9000"))
    assert (p.key, p.line, p.column) == ("services.api.start", 5, 12)
    assert p.message == "start listens on port 9000, but `port` is 8000"
    assert p.fix == "use --port $PORT so every platform can set it"


# --- all problems in one run ----------------------------------------------------------------


def test_every_problem_of_a_file_comes_back_in_file_order(tmp_path):
    found = problems_of(tmp_path, """\
        version: 1
        name: Demo
        services:
          api:
            start: uvicorn app:app --port 9000
            port: 8000
            volumez: []
            health: {path: /health, timeout: 5x}
            env: {OPENAI_API_KEY: x}
            secrets: [OPENAI_API_KEY]
          worker:
            start: python -m worker
            env: {API_KEY: y}
            secrets: [API_KEY]
        targetz: {}
        """)
    assert [(p.line, p.key) for p in found] == [
        (2, "name"),
        (7, "services.api.volumez"),
        (8, "services.api.health.timeout"),
        (14, "services.worker.secrets[0]"),  # the worker parsed: its own rules still ran
        (15, "targetz"),
    ]


def test_consistency_runs_on_a_service_that_parsed_when_another_key_is_broken(tmp_path):
    found = problems_of(tmp_path, GOOD.replace("--host 0.0.0.0 ", "") + "targets: {fly: {regoin: x}}\n")
    assert [p.key for p in found] == ["services.api.start", "targets.fly.regoin"]
    assert "uvicorn without a host listens on 127.0.0.1" in found[0].message


# --- finding the file -----------------------------------------------------------------------


def test_the_description_is_found_in_a_parent_directory(tmp_path, monkeypatch):
    write(tmp_path, GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert loader.find_description() == (tmp_path / "streamdeploy.yaml").resolve()
    assert loader.load().spec.name == "demo"


def test_no_description_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if any((parent / "streamdeploy.yaml").is_file() for parent in tmp_path.resolve().parents):
        pytest.skip("a streamdeploy.yaml sits above the temp directory")
    p = only_error(lambda: loader.find_description())
    assert "no streamdeploy.yaml here or in any parent directory" in p.message
    assert "streamdeploy init" in p.fix and "-f" in p.fix


def test_env_values_and_keys_reach_the_process_as_written(tmp_path):
    # YAML 1.1 reads `off` as false, `1.10` as 1.1, `12:30` as 750, `010` as 8, and the key `ON` as true.
    path = write(tmp_path, GOOD + '    env: {DEBUG: off, VERSION: 1.10, AT: 12:30, MODE: 010, ON: "1", N: 8000, Q: "yes"}\n')
    env = loader.load(path).spec.services["api"].env
    assert env == {"DEBUG": "off", "VERSION": "1.10", "AT": "12:30", "MODE": "010", "ON": "1", "N": "8000",
                   "Q": "yes"}


def test_yes_and_on_as_keys_are_two_keys_not_a_duplicate_true(tmp_path):
    path = write(tmp_path, GOOD + "    env: {yes: a, on: b}\n")
    assert loader.load(path).spec.services["api"].env == {"yes": "a", "on": "b"}


@pytest.mark.parametrize("key,value", [("host", "https://api.example.com/"), ("host", "exa mple.com"),
                                       ("ingress_class", ""), ("storage_class", "Fast SSD")])
def test_kubernetes_names_a_cluster_would_reject_are_caught_here(tmp_path, key, value):
    problems = problems_of(tmp_path, GOOD + f'targets:\n  kubernetes: {{{key}: "{value}"}}\n')
    assert [p.key for p in problems] == [f"targets.kubernetes.{key}"]
    assert problems[0].line == 8 and "project" not in (problems[0].fix or "")


def test_kubernetes_wildcard_host_and_dotted_class_are_fine(tmp_path):
    path = write(tmp_path, GOOD + 'targets:\n  kubernetes: {host: "*.example.com", storage_class: gp3.csi}\n')
    assert loader.load(path).spec.targets.kubernetes.host == "*.example.com"


def test_empty_services_and_start_say_so_in_words_with_a_fix(tmp_path):
    problems = problems_of(tmp_path, "version: 1\nname: demo\nservices: {}\n")
    assert problems[0].message == "`services` cannot be empty" and "add at least one service" in problems[0].fix
    problems = problems_of(tmp_path, GOOD.replace("start: uvicorn app.main:app --host 0.0.0.0 --port $PORT",
                                                  'start: ""'))
    assert problems[0].message == "`start` cannot be empty" and "uvicorn" in problems[0].fix


def test_secrets_may_be_optional_or_alternatives(tmp_path):
    text = service("secrets: [API_KEY, {name: SENTRY_DSN, optional: true}, {any_of: [OPENAI_API_KEY, GROQ_API_KEY]}]\n")
    (tmp_path / "streamdeploy.yaml").write_text(text)
    api = loader.load(tmp_path / "streamdeploy.yaml").spec.services["api"]
    assert api.secrets == ["API_KEY", "SENTRY_DSN", "OPENAI_API_KEY", "GROQ_API_KEY"]
    assert api.required_secrets == ["API_KEY"] and api.secret_groups == [("OPENAI_API_KEY", "GROQ_API_KEY")]


@pytest.mark.parametrize("entry,key,message", [
    ("{any_of: [ONLY_ONE]}", "services.api.secrets[0].any_of", "`any_of`: list should have at least 2 items"),
    ("{name: 1BAD, optional: true}", "services.api.secrets[0].name", "'1BAD' is not a valid name"),
    ("[A, {any_of: [A, B]}]", "services.api.secrets[1]", "secret `A` is listed twice"),
])
def test_bad_secret_entries_point_at_the_entry(tmp_path, entry, key, message):
    text = f"secrets: {entry}\n" if entry.startswith("[") else f"secrets: [{entry}]\n"
    p = only(tmp_path, service(text))
    assert p.key == key and p.message.startswith(message), p


def test_a_misspelt_key_in_a_secret_entry_gets_a_suggestion(tmp_path):
    found = problems_of(tmp_path, service("secrets: [{nme: X}]\n"))
    assert any(p.key == "services.api.secrets[0].nme" and p.fix == "did you mean `name`?" for p in found), found
