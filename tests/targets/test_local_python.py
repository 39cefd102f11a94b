"""local_python: the Python a local run uses, and how the dependencies (and their locks) get installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from streamdeploy import exitcodes
from streamdeploy.problems import ProblemsError
from streamdeploy.targets import local_python
from streamdeploy.targets.base import Probe

FRESH = Probe(("grep", "-qxF", "x", "stamp"), "exit0", reason="up to date")


def fake_python(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """No Python on PATH, an empty pyenv and uv directory: tests add what they need."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-python"))
    monkeypatch.setattr(local_python, "current_version", lambda: "3.11")
    return tmp_path


def test_this_interpreter_when_it_is_the_version_named(machine):
    found = local_python.find_python("3.11")
    assert found == local_python.Interpreter(Path(sys.executable), "3.11", "this interpreter")


def test_pyenv_versions_count_and_the_newest_patch_wins(machine):
    fake_python(machine / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.12")
    newest = fake_python(machine / "pyenv" / "versions" / "3.12.10" / "bin" / "python3.12")
    assert local_python.find_python("3.12") == local_python.Interpreter(newest, "3.12", "pyenv")


def test_pyenv_shims_on_path_are_not_taken_for_an_installed_python(machine, monkeypatch):
    # a shim answers for every version pyenv knows, and fails for the ones not installed
    fake_python(machine / "pyenv" / "shims" / "python3.13")
    monkeypatch.setenv("PATH", str(machine / "pyenv" / "shims"))
    assert local_python.find_python("3.13") is None


def test_path_then_uv_managed_pythons(machine):
    on_path = fake_python(machine / "bin" / "python3.10")
    assert local_python.find_python("3.10").path == on_path
    uv = fake_python(machine / "uv-python" / "cpython-3.14.0-linux-x86_64-gnu" / "bin" / "python3.14")
    fake_python(machine / "uv-python" / "cpython-3.14.0+freethreaded-linux-x86_64-gnu" / "bin" / "python3.14")
    assert local_python.find_python("3.14") == local_python.Interpreter(uv, "3.14", "uv")


def test_a_python_that_is_not_installed_stops_with_the_fix(machine):
    fake_python(machine / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.12")
    with pytest.raises(ProblemsError) as caught:
        local_python.choose("3.9", "services.api.build.python")
    problem = caught.value.problems[0]
    assert caught.value.exit_code == exitcodes.NOT_READY
    assert problem.message == ("Python 3.9 (services.api.build.python) is not installed on this machine "
                               "(found: 3.11, 3.12)")
    assert "pyenv install 3.9" in problem.fix and 'targets: {local: {python: "3.12"}}' in problem.fix


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


PYPROJECT_APP = """\
[project]
name = "svc"
version = "0"
dependencies = ["fastapi>=0.110", "uvicorn"]
"""
PYPROJECT_PACKAGE = PYPROJECT_APP + '\n[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
THIS = local_python.Interpreter(Path(sys.executable), "3.11", "this interpreter")


def steps(root: Path, install: str, uv: str | None):
    built = local_python.venv_steps(root / "venv", THIS, root, ".", install, uv, "services.api.build.install",
                                    FRESH, "venv")
    return [s.argv for s in built.steps], built


def test_uv_lock_is_installed_with_uv_sync_locked(tmp_path):
    write(tmp_path, {"pyproject.toml": PYPROJECT_APP, "uv.lock": "version = 1\n"})
    argvs, built = steps(tmp_path, "pyproject.toml", "/bin/uv")
    assert argvs[1] == ("/bin/uv", "sync", "--locked", "--no-dev", "--python", str(tmp_path / "venv" / "bin" / "python"),
                        "--no-install-project")  # an app, not a package: only its dependencies
    assert dict(built.steps[1].env) == {"UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}
    write(tmp_path, {"pyproject.toml": PYPROJECT_PACKAGE})
    assert steps(tmp_path, "pyproject.toml", "/bin/uv")[0][1][-1] == str(tmp_path / "venv" / "bin" / "python")


def test_uv_lock_without_uv_says_it_is_not_honoured(tmp_path):
    write(tmp_path, {"pyproject.toml": PYPROJECT_APP, "uv.lock": "version = 1\n"})
    argvs, built = steps(tmp_path, "pyproject.toml", None)
    assert "uv.lock is not honoured" in built.notes[0].message and "pip install uv" in built.notes[0].fix
    # not a package: pip gets its dependencies through a requirements file written from it
    assert argvs[1][:4] == (*local_python.HELPER, "requirements")
    assert argvs[2][-2:] == ("-r", str(tmp_path / "venv" / "requirements.pyproject.txt"))


def test_pyproject_of_a_package_is_installed_editable_and_of_an_app_by_its_dependencies(tmp_path):
    write(tmp_path, {"pyproject.toml": PYPROJECT_PACKAGE})
    assert steps(tmp_path, "pyproject.toml", None)[0][1][-2:] == ("-e", str(tmp_path))
    write(tmp_path, {"pyproject.toml": PYPROJECT_APP})
    assert steps(tmp_path, "pyproject.toml", "/bin/uv")[0][1][-2:] == ("-r", str(tmp_path / "pyproject.toml"))


def test_requirements_are_installed_as_written(tmp_path):
    write(tmp_path, {"requirements.txt": "fastapi==0.115.0 --hash=sha256:abc\n"})
    argvs, _ = steps(tmp_path, "requirements.txt", "/bin/uv")
    assert argvs == [("/bin/uv", "venv", "--python", sys.executable, "--clear", str(tmp_path / "venv")),
                     ("/bin/uv", "pip", "install", "--python", str(tmp_path / "venv" / "bin" / "python"),
                      "-r", str(tmp_path / "requirements.txt"))]


POETRY = """\
[tool.poetry]
name = "svc"
version = "0"
package-mode = false

[tool.poetry.dependencies]
python = "^3.11"
fastapi = "^0.115"
httpx = {version = "~0.27", extras = ["http2"]}

[tool.poetry.group.dev.dependencies]
pytest = "^8"
"""
POETRY_LOCK = """\
[[package]]
name = "fastapi"
version = "0.115.4"

[package.dependencies]
starlette = ">=0.40"
colorama = {version = "*", markers = "sys_platform == \\"win32\\""}

[[package]]
name = "Starlette"
version = "0.41.2"

[[package]]
name = "colorama"
version = "0.4.6"

[[package]]
name = "httpx"
version = "0.27.2"

[[package]]
name = "pytest"
version = "8.3.3"

[[package]]
name = "local-thing"
version = "1.0"
source = {type = "directory", url = "../thing"}
"""


def test_poetry_lock_pins_the_main_dependencies_and_keeps_markers(tmp_path):
    lines = local_python.poetry_lock_requirements(tomllib.loads(POETRY_LOCK), tomllib.loads(POETRY))
    assert lines == ['colorama==0.4.6 ; ((sys_platform == "win32"))', "fastapi==0.115.4", "httpx==0.27.2",
                     "Starlette==0.41.2"]  # no pytest (a dev group), no directory source


def test_poetry_constraints_become_pep_440(tmp_path):
    assert local_python.pyproject_requirements(tomllib.loads(POETRY)) == ["fastapi>=0.115,<0.116",
                                                                         "httpx[http2]>=0.27,<0.28"]
    assert local_python._poetry_constraint("a", "^1.2.3") == "a>=1.2.3,<2.0"
    assert local_python._poetry_constraint("a", "~1.2") == "a>=1.2,<1.3"
    assert local_python._poetry_constraint("a", "2.0") == "a==2.0"
    assert local_python._poetry_constraint("a", {"git": "https://example.invalid/a.git"}) is None


def test_poetry_lock_plan_and_the_helper_that_writes_the_pins(tmp_path):
    write(tmp_path, {"pyproject.toml": POETRY, "poetry.lock": POETRY_LOCK})
    argvs, built = steps(tmp_path, "pyproject.toml", None)
    assert built.steps[1].description == "Reading poetry.lock (its pins for the main dependencies)"
    out = tmp_path / "venv" / "requirements.poetry.txt"
    assert argvs[2][-2:] == ("-r", str(out)) and len(argvs) == 3  # package-mode = false: no project install
    done = subprocess.run(argvs[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[1] == "fastapi==0.115.4"


def test_the_digest_changes_with_the_lock_and_the_python(tmp_path):
    write(tmp_path, {"pyproject.toml": POETRY, "poetry.lock": POETRY_LOCK})
    before = local_python.digest(tmp_path, "pyproject.toml", [], THIS, None)
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK.replace("0.115.4", "0.115.5"))
    after = local_python.digest(tmp_path, "pyproject.toml", [], THIS, None)
    other = local_python.digest(tmp_path, "pyproject.toml", [], local_python.Interpreter(Path("/x"), "3.12", "pyenv"),
                                None)
    assert len({before, after, other}) == 3
