"""Issue 10: a render stopped half-way (kill -9, a full disk) is always resumable, and a damaged
.streamdeploy/generated.json is never a traceback nor a reason to overwrite a hand edit."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fuzzing import Sandbox, invoke
from streamdeploy import writer
from streamdeploy.problems import ProblemsError
from streamdeploy.targets.base import RenderedFile


def files(version: int) -> list[RenderedFile]:
    return [RenderedFile(name, f"{name} = {version}\n", comment="#") for name in ("a.toml", "b.toml", "c.toml")]


class Stopped(BaseException):
    """The process dying between two files: nothing after this point runs."""


def stop_after(monkeypatch, n_files: int, error: BaseException) -> None:
    real, done = writer.atomic_write, []

    def atomic_write(path: Path, text: str, executable: bool = False) -> None:
        if path.parent.name != ".streamdeploy":
            if len(done) == n_files:
                raise error
            done.append(path)
        real(path, text, executable)

    monkeypatch.setattr(writer, "atomic_write", atomic_write)


@pytest.mark.parametrize("stopped_after", [0, 1, 2])
def test_a_render_stopped_between_two_files_is_resumed_by_the_next(tmp_path, monkeypatch, stopped_after):
    writer.write_all(files(1), tmp_path, "streamdeploy.yaml")
    with monkeypatch.context() as patch:
        stop_after(patch, stopped_after, Stopped())
        with pytest.raises(Stopped):
            writer.write_all(files(2), tmp_path, "streamdeploy.yaml")
    outcome = writer.write_all(files(3), tmp_path, "streamdeploy.yaml")  # the description changed again
    assert outcome.conflicts == []
    assert (tmp_path / "a.toml").read_text().endswith("a.toml = 3\n")


def test_after_a_full_disk_the_next_render_goes_through(tmp_path, monkeypatch):
    writer.write_all(files(1), tmp_path, "streamdeploy.yaml")
    with monkeypatch.context() as patch:
        stop_after(patch, 1, OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "b.toml")))
        with pytest.raises(ProblemsError) as stopped:
            writer.write_all(files(2), tmp_path, "streamdeploy.yaml")
    [problem] = stopped.value.problems
    assert stopped.value.exit_code == 2 and "No space left" in problem.message and "space" in problem.fix
    assert writer.write_all(files(1), tmp_path, "streamdeploy.yaml").conflicts == []  # back to the first
    assert writer.write_all(files(3), tmp_path, "streamdeploy.yaml").conflicts == []


def test_a_hand_edit_is_still_refused_after_an_interrupted_render(tmp_path, monkeypatch):
    writer.write_all(files(1), tmp_path, "streamdeploy.yaml")
    with monkeypatch.context() as patch:
        stop_after(patch, 1, Stopped())
        with pytest.raises(Stopped):
            writer.write_all(files(2), tmp_path, "streamdeploy.yaml")
    (tmp_path / "c.toml").write_text("mine\n")
    outcome = writer.write_all(files(3), tmp_path, "streamdeploy.yaml")
    assert [path for path, _ in outcome.conflicts] == ["c.toml"]


KILLED_RENDER = textwrap.dedent("""
    import os, signal, sys
    from streamdeploy import cli, writer

    real = writer.atomic_write

    def atomic_write(path, text, executable=False):
        real(path, text, executable)
        if path.name == "Dockerfile":  # the first file of this render: die before the next
            os.kill(os.getpid(), signal.SIGKILL)

    writer.atomic_write = atomic_write
    sys.argv = ["streamdeploy", "render", "--target", "docker"]
    cli.main()
""")

DESCRIPTION = """\
version: 1
name: svc
services:
  api:
    build: {{python: "{python}", exclude: [{exclude}]}}
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
"""


def test_a_render_killed_with_sigkill_mid_way_is_resumed(tmp_path):
    box = Sandbox(tmp_path)
    box.reset(DESCRIPTION.format(python="3.12", exclude="one"))
    assert invoke("render", "--target", "docker", cwd=box.svc).code == 0
    (box.svc / "streamdeploy.yaml").write_text(DESCRIPTION.format(python="3.11", exclude="two"))
    killed = subprocess.run([sys.executable, "-c", KILLED_RENDER], cwd=box.svc, capture_output=True, text=True,
                            env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert "3.11" in (box.svc / "Dockerfile").read_text() and "two" not in (box.svc / ".dockerignore").read_text()
    (box.svc / "streamdeploy.yaml").write_text(DESCRIPTION.format(python="3.13", exclude="three"))
    resumed = invoke("render", "--target", "docker", cwd=box.svc)
    assert resumed.code == 0, resumed.stderr
    assert "3.13" in (box.svc / "Dockerfile").read_text() and "three" in (box.svc / ".dockerignore").read_text()
    record = json.loads((box.svc / ".streamdeploy" / "generated.json").read_text())
    assert "pending" not in record


DAMAGED = {
    "a list": "[]",
    "null": "null",
    "a string": '"files"',
    "a number": "7",
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "deep nesting in files": '{"files": ' + "{\"a\": " * 50_000 + "1" + "}" * 50_001,
    "files as a list": '{"files": ["a.toml"]}',
    "files as null": '{"files": null}',
    "digests as numbers": '{"files": {"a.toml": 1}}',
    "pending as a list": '{"files": {}, "pending": []}',
    "not JSON": "{files",
    "binary": "\x00\xff",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_record_is_rebuilt_without_overwriting_a_hand_edit(tmp_path, content):
    writer.write_all(files(1), tmp_path, "streamdeploy.yaml")
    (tmp_path / "b.toml").write_text("mine\n")
    (tmp_path / ".streamdeploy" / "generated.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    outcome = writer.write_all(files(1), tmp_path, "streamdeploy.yaml")
    assert [path for path, _ in outcome.conflicts] == ["b.toml"]  # never clobbered
    assert (tmp_path / "b.toml").read_text() == "mine\n"
    (tmp_path / "b.toml").unlink()  # the person gives it back
    assert writer.write_all(files(1), tmp_path, "streamdeploy.yaml").conflicts == []  # rebuilt: what matches is ours
    assert writer.write_all(files(2), tmp_path, "streamdeploy.yaml").conflicts == []
    assert writer.read_record(tmp_path).keys() == {"a.toml", "b.toml", "c.toml"}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_render_with_a_damaged_record_is_no_traceback(tmp_path, content):
    box = Sandbox(tmp_path)
    box.reset(DESCRIPTION.format(python="3.12", exclude="one"))
    assert invoke("render", "--target", "docker", cwd=box.svc).code == 0
    (box.svc / ".streamdeploy" / "generated.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    for args in (("render", "--target", "docker"), ("render", "--target", "docker", "--json"),
                 ("plan", "--target", "docker", "--json")):
        result = invoke(*args, cwd=box.svc)
        assert result.traceback is None, result.traceback
        assert result.code == 0, result.stdout + result.stderr
