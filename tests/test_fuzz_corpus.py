"""The nastiest descriptions the fuzzers found (issue 10 and tests/test_fuzz.py), kept as plain
cases: each runs through validate, check, render and plan and must keep the same contract
as a fuzzed one (tests/fuzzing.check_invariants), with the exit code it should have."""

from __future__ import annotations

import pytest

from fuzzing import MINIMAL as BASE, Sandbox, check_invariants, invoke


def service(extra: str) -> str:
    return BASE + "".join(f"    {line}\n" for line in extra.splitlines())


CASES = {
    # writes outside the project
    "context up two folders": (service("build: {context: ../../somewhere}"), 2),
    "absolute context": (service("build: {context: /tmp/somewhere}"), 2),
    "backslash traversal": (service("build: {context: '..\\\\..\\\\somewhere'}"), 2),
    "traversal hidden in the middle": (service("build: {context: 'app/../../../x'}"), 2),
    "dockerfile outside": (service("build: {dockerfile: ../../Dockerfile}"), 2),
    "install outside": (service("build: {install: ../../../../etc/passwd}"), 2),
    "NUL in a context": (service('build: {context: "app\\0"}'), 2),
    "install name too long for the file system": (service("build: {install: " + "9" * 400 + "s}"), 2),
    "context path of 2,000 characters": (service("build: {context: " + "a/" * 1000 + "}"), 2),
    "context inside, spelled oddly": (service("build: {context: './app/../.'}"), 0),
    # numbers, sizes, durations
    "5,000-digit port": (BASE.replace("port: 8000", "port: " + "9" * 5000), 2),
    "5,000-digit hex number": (BASE.replace("port: 8000", "port: 0x" + "f" * 5000), 2),
    "5,000-digit hex env value": (service("env: {A: 0x" + "f" * 5000 + "}"), 2),
    "5,000-digit float": (BASE.replace("port: 8000", "port: 1." + "9" * 5000), None),  # 2.0: a port
    "huge memory": (service("resources: {memory: 99999999999999999999TB}"), 2),
    "huge replica count": (service("replicas: " + "9" * 400), 2),
    "huge cpu": (service("resources: {cpu: 1.0e+308}"), 2),
    "infinite cpu": (service("resources: {cpu: .inf}"), 2),
    "NaN cpu": (service("resources: {cpu: .nan}"), 2),
    "infinite grace": (service("health: {grace: .inf}"), 2),
    "NaN interval": (service("health: {interval: .nan}"), 2),
    "a 1e400s duration": (service("health: {grace: 1e400s}"), 2),
    "5,000-digit duration": (service("health: {grace: " + "9" * 5000 + "s}"), 2),
    "negative zero duration": (service("health: {grace: -0.0}"), 0),
    # text
    "lone surrogate": (service('env: {A: "\\ud83d"}'), 2),
    "surrogate in a key": (service('env: {"\\udc00": x}'), 2),
    "right-to-left override in the name": (BASE.replace("name: svc", 'name: "svc\\u202e"'), 2),
    "BOM inside a value": (service('env: {A: "\\ufeffx"}'), 0),
    "NUL in an env value": (service('env: {A: "a\\0b"}'), None),
    "template syntax in env": (service("env: {A: '{{ 7*7 }}{% raw %}'}"), 0),
    # YAML structure
    "deep nesting in the verify body": (service("verify: {write: {path: /x, json: " + "[" * 40 + "]" * 40 + "}}"), 2),
    "very deep flow nesting": (BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n", 2),
    "billion laughs": ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n", 2),
    "merge key onto itself": (BASE + "  other: &o\n    <<: *o\n", 2),
    "merge of a list": (BASE + "  other:\n    <<: [1, 2]\n", 2),
    "merge key of the service": (BASE.replace("  api:\n", "  api: &api\n") + "  two:\n    <<: *api\n    port: 9000\n", 0),
    "a key twice beside a merge": (BASE.replace("  api:\n", "  api: &api\n")
                                   + "  two:\n    <<: *api\n    port: 9000\n    port: 9001\n", 2),
    "python tag": (service("port: !!python/object/apply:os.system [id]"), 2),
    "timestamp tag on a number": (service("port: !!timestamp 8000"), 2),
    "binary tag": (service("start: !!binary aGVsbG8="), 2),
    "a date for a value": (service("env: {WHEN: 2024-02-30}"), 2),
    "set tag": (service("secrets: !!set {A, B}"), 2),
    "a key that is a list": (BASE + "  ? [a, b]\n  : x\n", 2),
    "two documents": (BASE + "---\n" + BASE, 2),
    "tab indentation": (BASE.replace("    port", "\tport"), 2),
    "only a comment": ("# nothing\n", 2),
    "null services": ("version: 1\nname: svc\nservices: null\n", 2),
}


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


COMMANDS = [("validate", "--json"), ("check", "--json"), ("render", "--json"), ("render", "--target", "docker"),
            ("plan", "--target", "docker", "--json"), ("plan", "--target", "local", "--json")]


@pytest.mark.parametrize("name", CASES)
def test_a_nasty_description_keeps_the_contract(box, name):
    text, validate_code = CASES[name]
    box.reset(text)
    for command in COMMANDS:
        before = box.snapshot()
        result = invoke(*command, cwd=box.svc)
        check_invariants(result, command, before, box.snapshot())
        if command[0] == "validate" and validate_code is not None:
            assert result.code == validate_code, result.stdout
        if validate_code == 2:  # refused by validate: refused by every command, with the JSON
            assert result.code == 2, (command, result.stdout, result.stderr)


def test_render_json_prints_its_document_when_check_stops_it(box):
    """`check` stops the render (Cloud Run keeps no volume): exit 1, and the JSON on stdout."""
    box.reset(service("volumes: [{name: data, mount: /data, size: 1GB}]"))
    result = invoke("render", "--target", "cloudrun", "--json", cwd=box.svc)
    assert result.code == 1, result.stderr
    assert result.json()["ok"] is False
