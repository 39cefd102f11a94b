"""Issue 10: input that once ended in a traceback is bad input (exit 2) with file, line, key and
fix, and with --json every command prints its JSON document on stdout for it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fuzzing import MINIMAL as BASE, Sandbox, invoke


COMMANDS = [("validate",), ("check",), ("render", "--target", "docker"), ("plan", "--target", "docker"),
            ("compare",), ("up", "--target", "docker", "--dry-run")]

# (description, line, key) of values that used to escape as OverflowError, ValueError, ...
DESCRIPTIONS = {
    "a port of 5,000 digits": (BASE.replace("port: 8000", "port: " + "9" * 5000), 6, "services.api.port"),
    "a key of 5,000 digits": (BASE + "    env:\n      ? " + "1" * 5000 + "\n      : x\n", 8, "services.api.env"),
    "a size of 5,000 digits": (BASE + "    resources: {memory: " + "9" * 5000 + "}\n", 7,
                               "services.api.resources.memory"),
    "a huge size": (BASE + "    resources: {memory: 99999999999999999999999GB}\n", 7, "services.api.resources.memory"),
    "a huge volume": (BASE + "    volumes: [{name: d, mount: /data, size: 1000000TB}]\n", 7,
                      "services.api.volumes[0].size"),
    "a duration of 5,000 digits": (BASE + "    health: {interval: " + "9" * 5000 + "s}\n", 7,
                                   "services.api.health.interval"),
    "a duration as a 400-digit integer": (BASE + "    health: {grace: 1" + "0" * 400 + "}\n", 7,
                                          "services.api.health.grace"),
    "an infinite duration": (BASE + "    health: {grace: .inf}\n", 7, "services.api.health.grace"),
    "a NaN duration": (BASE + "    health: {timeout: .nan}\n", 7, "services.api.health.timeout"),
    "a NaN heartbeat": (BASE + "    streaming: {paths: [/s], heartbeat: .nan}\n", 7,
                        "services.api.streaming.heartbeat"),
    "an infinite max_duration": (BASE + "    streaming: {paths: [/s], max_duration: .inf}\n", 7,
                                 "services.api.streaming.max_duration"),
    "a huge float duration": (BASE + "    health: {grace: 1.0e+300}\n", 7, "services.api.health.grace"),
    "a lone surrogate in a value": (BASE + '    env: {GREETING: "hi \\ud800"}\n', 7, "services.api.env.GREETING"),
    "a lone surrogate in a key": (BASE + '    env: {"A\\udc00": x}\n', 7, "services.api.env"),
    "a lone surrogate in the name": (BASE.replace("name: svc", 'name: "s\\udfffvc"'), 2, "name"),
    "a date that does not exist": (BASE + "    env: {WHEN: 2024-02-30}\n", 7, "services.api.env.WHEN"),
}


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("name", DESCRIPTIONS)
def test_a_value_that_once_was_a_traceback_is_bad_input_at_its_line(box, name, command):
    text, line, key = DESCRIPTIONS[name]
    box.reset(text)
    result = invoke(*command, "--json", cwd=box.svc)
    assert result.traceback is None, result.traceback
    assert result.code == 2, result.stdout + result.stderr
    errors = result.json()["errors"]
    assert any(e.get("key") == key for e in errors), errors
    for error in errors:
        assert error["file"] == "streamdeploy.yaml" and error["line"] == line and error["fix"], error
    human = invoke(*command, cwd=box.svc)
    assert human.code == 2 and f"streamdeploy.yaml:{line}:" in human.stderr and "fix:" in human.stderr


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "streamdeploy.yaml"
    os.mkfifo(path)
    return path


def loop(tmp_path: Path) -> Path:
    path = tmp_path / "streamdeploy.yaml"
    path.symlink_to(tmp_path / "other.yaml")
    (tmp_path / "other.yaml").symlink_to(path)
    return path


def directory(tmp_path: Path) -> Path:
    path = tmp_path / "streamdeploy.yaml"
    path.mkdir()
    return path


def dangling(tmp_path: Path) -> Path:
    path = tmp_path / "streamdeploy.yaml"
    path.symlink_to(tmp_path / "gone.yaml")
    return path


def proc_file(tmp_path: Path) -> Path:
    return Path("/proc/self/status") if Path("/proc/self/status").exists() else pytest.skip("no /proc")


FILES = {"a FIFO": fifo, "a symlink loop": loop, "a directory": directory, "a dangling symlink": dangling,
         "a /proc file": proc_file}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize("name", FILES)
def test_a_file_that_is_not_a_description_is_bad_input_with_json(tmp_path, name, command):
    path = FILES[name](tmp_path)
    result = invoke(*command, "-f", str(path), "--json", cwd=tmp_path)
    assert result.traceback is None, result.traceback
    assert result.code == 2, result.stdout + result.stderr
    [error] = result.json()["errors"]
    assert error["file"] == str(path) and error["message"] and error["fix"], error


def unreadable(monkeypatch, what: str) -> None:
    """Permission denied, as a user who is not root meets it (the tests may run as root)."""
    real_stat, real_open = Path.stat, Path.open

    def stat(self, *args, **kwargs):
        if what == "folder" and self.name == "streamdeploy.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    def open_(self, *args, **kwargs):
        if self.name == "streamdeploy.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(Path, "open", open_)


@pytest.mark.parametrize("what", ["file", "folder"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_an_unreadable_file_is_bad_input_with_json(box, monkeypatch, what, command):
    box.reset(BASE)
    unreadable(monkeypatch, what)
    result = invoke(*command, "--json", cwd=box.svc)
    monkeypatch.undo()
    assert result.traceback is None, result.traceback
    assert result.code == 2, result.stdout + result.stderr
    [error] = result.json()["errors"]
    assert "Permission denied" in error["message"] and error["fix"], error


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission_is_bad_input(box):
    box.reset(BASE)
    (box.svc / "streamdeploy.yaml").chmod(0)
    result = invoke("validate", "--json", cwd=box.svc)
    assert result.code == 2 and "Permission denied" in result.json()["errors"][0]["message"]


def test_a_proc_file_that_reads_more_than_it_says_is_named_by_what_was_read(tmp_path):
    """/proc/self/pagemap says 0 bytes and reads megabytes: not "is 0 bytes; at most 1,000,000"."""
    if not Path("/proc/self/pagemap").exists():
        pytest.skip("no /proc")
    result = invoke("validate", "-f", "/proc/self/pagemap", "--json", cwd=tmp_path)
    [error] = result.json()["errors"]
    assert result.code == 2 and "more than 1,000,000 bytes" in error["message"], error
