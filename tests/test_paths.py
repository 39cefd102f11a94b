"""Issue 10: every path a description names, and every file `render` writes, stays inside the
project (the folder holding .git, else the description's folder) or the --out directory;
symlinks never carry a write out of the tree, and a refusal never shows the outside file."""

from __future__ import annotations

import pytest

from fuzzing import Sandbox, changes, invoke

DESCRIPTION = """\
version: 1
name: svc
services:
  api:
    build: {{context: {context}}}
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
"""


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


@pytest.mark.parametrize("context", ["../../somewhere", "'..\\\\..\\\\somewhere'", "/tmp/somewhere-else",
                                     "'C:\\\\somewhere'", "../../outer"])
@pytest.mark.parametrize("command", [("validate",), ("render", "--target", "docker"), ("render", "--force"),
                                     ("check",), ("plan", "--target", "docker")])
def test_a_build_context_outside_the_project_is_bad_input_at_its_line(box, context, command):
    box.reset(DESCRIPTION.format(context=context))
    before = box.snapshot()
    result = invoke(*command, "--json", cwd=box.svc)
    assert result.traceback is None, result.traceback
    assert result.code == 2, result.stdout + result.stderr
    [error] = result.json()["errors"]
    assert (error["file"], error["line"], error["key"]) == ("streamdeploy.yaml", 5, "services.api.build.context")
    assert "outside the project" in error["message"] or "absolute" in error["message"]
    assert "inside the project" in error["fix"]
    assert changes(before, box.snapshot()) == []


@pytest.mark.parametrize("field, value", [("dockerfile", "../../Dockerfile.outside"), ("install", "../../../etc/passwd"),
                                          ("dockerfile", "/etc/Dockerfile")])
def test_a_dockerfile_or_install_file_outside_the_project_is_bad_input(box, field, value):
    box.reset(DESCRIPTION.format(context=".").replace("{context: .}", f"{{context: ., {field}: '{value}'}}"))
    result = invoke("validate", "--json", cwd=box.svc)
    assert result.code == 2, result.stdout
    [error] = result.json()["errors"]
    assert error["key"] == f"services.api.build.{field}" and error["line"] == 5 and error["fix"]


def test_a_sibling_folder_inside_the_repository_is_a_build_context(box):
    """examples/multi builds its API from ../app: inside the repository, so it is fine."""
    box.reset(DESCRIPTION.format(context="../api"))
    (box.repo / "api").mkdir()
    (box.repo / "api" / "requirements.txt").write_text("fastapi\n")
    result = invoke("render", "--target", "docker", cwd=box.svc)
    assert result.code == 0, result.stderr
    assert (box.repo / "api" / "Dockerfile").is_file()


def test_without_a_repository_the_project_is_the_descriptions_folder(tmp_path):
    from streamdeploy import paths

    (tmp_path / "app").mkdir()
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "streamdeploy.yaml").write_text(DESCRIPTION.format(context="../app"))
    if paths.project_root(tmp_path / "svc") != (tmp_path / "svc").resolve():
        pytest.skip("the temporary folder is inside a git repository here")
    result = invoke("render", "--target", "docker", cwd=tmp_path / "svc")
    assert result.code == 2
    assert not (tmp_path / "app" / "Dockerfile").exists()


def test_render_out_bounds_the_writes_to_that_directory(box, tmp_path):
    box.reset(DESCRIPTION.format(context="../api"))
    (box.repo / "api").mkdir()
    (box.repo / "api" / "requirements.txt").write_text("fastapi\n")
    out = tmp_path / "out"
    result = invoke("render", "--target", "docker", "--out", str(out), "--json", cwd=box.svc)
    assert result.code == 2, result.stdout
    assert "outside" in result.json()["errors"][0]["message"]
    assert not (tmp_path / "api").exists() and not (box.repo / "api" / "Dockerfile").exists()


@pytest.mark.parametrize("folder, target", [("k8s", "kubernetes"), (".railway", "railway"), (".streamdeploy", "docker")])
def test_a_symlinked_output_directory_pointing_outside_is_refused(box, folder, target):
    box.reset(DESCRIPTION.format(context="."))
    elsewhere = box.outer / "elsewhere"
    elsewhere.mkdir()
    (box.svc / folder).symlink_to(elsewhere, target_is_directory=True)
    for check in ([], ["--check"]) if folder != ".streamdeploy" else ([],):  # --check reads no record
        result = invoke("render", "--target", target, "--force", *check, "--json", cwd=box.svc)
        assert result.traceback is None, result.traceback
        assert result.code == 2, result.stdout + result.stderr
        [error] = result.json()["errors"]
        assert "symlink" in error["message"] and folder in error["message"] and error["fix"]
        assert list(elsewhere.iterdir()) == []


def test_a_symlinked_file_pointing_outside_is_refused_without_showing_its_content(box):
    box.reset(DESCRIPTION.format(context="."))
    secret = box.outer / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- do not print me\n")
    (box.svc / "Dockerfile").symlink_to(secret)
    for args in (("render", "--target", "docker"), ("render", "--target", "docker", "--json"),
                 ("render", "--target", "docker", "--force")):
        result = invoke(*args, cwd=box.svc)
        assert result.code == 2, result.stdout + result.stderr
        assert "do not print me" not in result.stdout + result.stderr
        assert "symlink" in result.stdout + result.stderr
        assert secret.read_text() == "-----BEGIN PRIVATE KEY----- do not print me\n"


def test_a_symlink_inside_the_project_is_written_through_the_tree_only(box):
    """A link to another file of the project is replaced by the generated file; nothing leaves."""
    box.reset(DESCRIPTION.format(context="."))
    (box.repo / "shared.Dockerfile").write_text("mine\n")
    (box.svc / "Dockerfile").symlink_to(box.repo / "shared.Dockerfile")
    result = invoke("render", "--target", "docker", cwd=box.svc)
    assert result.code == 1  # not ours: kept, shown as a diff
    assert (box.repo / "shared.Dockerfile").read_text() == "mine\n"


def test_paths_inside_follows_symlinks(tmp_path):
    from streamdeploy import paths

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link").symlink_to(tmp_path)
    assert paths.inside(tmp_path / "in" / "a", tmp_path / "in")
    assert not paths.inside(tmp_path / "in" / "link" / "a", tmp_path / "in")
    assert not paths.inside(tmp_path / "in" / ".." / "a", tmp_path / "in")


def test_project_root_is_the_nearest_folder_holding_git(tmp_path):
    from streamdeploy import paths

    (tmp_path / "r" / "a" / "b").mkdir(parents=True)
    (tmp_path / "r" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert paths.project_root(tmp_path / "r" / "a" / "b") == (tmp_path / "r").resolve()
