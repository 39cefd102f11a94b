"""`streamdeploy render` end to end: files, --check, --stdout, hand edits, gates."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import EXAMPLES, assert_no_traceback, run_cli


@pytest.fixture
def project(tmp_path):
    """A copy of the example's description in a scratch directory."""
    shutil.copy(EXAMPLES / "app" / "streamdeploy.yaml", tmp_path / "streamdeploy.yaml")
    return tmp_path


def test_render_writes_each_target_and_records_it(project):
    result = run_cli("render", "-t", "fly", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    for name in ("fly.toml", "Dockerfile", ".dockerignore"):
        assert (project / name).is_file(), name
    record = json.loads((project / ".streamdeploy" / "generated.json").read_text())
    assert "fly.toml" in record["files"]
    assert "wrote fly.toml" in result.stdout


def test_second_render_is_byte_identical_and_says_so(project):
    run_cli("render", "-t", "all", cwd=project)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    again = run_cli("render", "-t", "all", cwd=project)
    assert again.returncode == 0
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert before == after
    assert "already up to date" in again.stderr


def test_check_reports_drift_and_writes_nothing(project):
    missing = run_cli("render", "-t", "render", "--check", cwd=project)
    assert missing.returncode == 1
    assert "missing" in missing.stderr and "render.yaml" in missing.stderr
    assert not (project / "render.yaml").exists()
    run_cli("render", "-t", "render", cwd=project)
    assert run_cli("render", "-t", "render", "--check", cwd=project).returncode == 0
    (project / "render.yaml").write_text((project / "render.yaml").read_text() + "# edit\n")
    drifted = run_cli("render", "-t", "render", "--check", cwd=project)
    assert drifted.returncode == 1 and "differs" in drifted.stderr


def test_hand_edit_is_kept_with_a_diff_until_force(project):
    run_cli("render", "-t", "fly", cwd=project)
    fly = project / "fly.toml"
    edited = fly.read_text().replace('primary_region = "iad"', 'primary_region = "ams"')
    fly.write_text(edited)
    (project / "streamdeploy.yaml").write_text(
        (project / "streamdeploy.yaml").read_text().replace("region: iad", "region: fra"))
    refused = run_cli("render", "-t", "fly", cwd=project)
    assert_no_traceback(refused)
    assert refused.returncode == 1
    assert "refusing to overwrite" in refused.stderr and "fly.toml" in refused.stderr
    assert '-primary_region = "ams"' in refused.stderr and '+primary_region = "fra"' in refused.stderr
    assert fly.read_text() == edited
    forced = run_cli("render", "-t", "fly", "--force", cwd=project)
    assert forced.returncode == 0
    assert 'primary_region = "fra"' in fly.read_text()


def test_stdout_prints_files_and_writes_nothing(project):
    result = run_cli("render", "-t", "render", "--stdout", cwd=project)
    assert result.returncode == 0
    assert "==> render.yaml <==" in result.stdout
    assert "# yaml-language-server: $schema=" in result.stdout
    assert not (project / "render.yaml").exists()


def test_out_directory(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli("render", "-t", "docker", "--out", str(out), cwd=project)
    assert result.returncode == 0, result.stderr
    assert (out / "Dockerfile").is_file() and not (project / "Dockerfile").exists()


def test_secret_values_in_the_environment_never_reach_any_file(project):
    values = {"OPENAI_API_KEY": "sk-very-secret-value-1", "API_KEY": "api-very-secret-value-2"}
    (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    result = run_cli("render", "-t", "all", cwd=project, env=values)
    assert result.returncode == 0, result.stderr
    for path in project.rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(errors="replace")
            for value in values.values():
                assert value not in text, path
    for value in values.values():
        assert value not in result.stdout + result.stderr


def test_unknown_target_is_bad_input(project):
    result = run_cli("render", "-t", "heroku", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "unknown target `heroku`" in result.stderr and "fly" in result.stderr


def test_named_target_with_check_errors_stops_until_force(project):
    text = (project / "streamdeploy.yaml").read_text().replace("replicas: 1", "replicas: 3")
    (project / "streamdeploy.yaml").write_text(text)
    stopped = run_cli("render", "-t", "fly", cwd=project)
    assert stopped.returncode == 1
    assert "stopped" in stopped.stderr and "replicas" in stopped.stderr
    assert not (project / "fly.toml").exists()
    assert run_cli("render", "-t", "fly", "--force", cwd=project).returncode == 0
    assert (project / "fly.toml").exists()


def test_all_skips_platforms_that_cannot_run_the_service(tmp_path):
    shutil.copy(EXAMPLES / "scaled" / "streamdeploy.yaml", tmp_path / "streamdeploy.yaml")
    result = run_cli("render", cwd=tmp_path)  # --target all is the default
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and "railway" in result.stderr
    assert (tmp_path / "k8s" / "kustomization.yaml").is_file()
    assert not (tmp_path / ".railway").exists()


def test_all_renders_the_new_targets_where_they_can_run(tmp_path):
    shutil.copy(EXAMPLES / "scaled" / "streamdeploy.yaml", tmp_path / "streamdeploy.yaml")
    result = run_cli("render", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for path in ("cloudrun/api.yaml", ".do/app.yaml", "terraform/main.tf.json", "terraform/chroma.tf.json"):
        assert (tmp_path / path).is_file(), path


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_all_leaves_out_a_target_that_cannot_express_a_volume_even_with_force(tmp_path, force):
    shutil.copytree(EXAMPLES / "app", tmp_path / "app", ignore=shutil.ignore_patterns(".venv", ".streamdeploy"))
    result = run_cli("render", *force, cwd=tmp_path / "app")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "app" / "cloudrun").exists() and not (tmp_path / "app" / ".do").exists()
    assert (tmp_path / "app" / "terraform" / "main.tf.json").is_file()  # Fargate keeps the volume on EFS
    if force:
        assert "skipped: Google Cloud Run cannot keep volume" in result.stderr


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_out_pointing_at_a_file_is_bad_input(project, force):
    (project / "taken").write_text("mine\n")
    result = run_cli("render", "-t", "fly", "--out", "taken", *force, cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "taken is a file, not a directory" in result.stderr
    assert (project / "taken").read_text() == "mine\n"


def test_out_that_cannot_be_written_is_bad_input(project):
    result = run_cli("render", "-t", "fly", "--out", "/proc/self/streamdeploy-out", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "cannot write" in result.stderr


def test_stdout_with_json_is_json(project):
    result = run_cli("render", "-t", "fly", "--stdout", "--json", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {f["path"] for f in report["files"]} >= {"fly.toml", "Dockerfile"}
    assert all("Generated by streamdeploy" in f["content"] for f in report["files"] if f["path"] == "fly.toml")
    assert not (project / "fly.toml").exists()


def test_a_targets_own_rule_points_at_the_line_of_its_key(project):
    path = project / "streamdeploy.yaml"
    path.write_text(path.read_text().replace("fly: {app: stream-gen-ui, region: iad}",
                                             "fly: {app: stream-gen-ui, region: iad, vm_size: huge-9000}"))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "huge-9000" in text)
    result = run_cli("render", "-t", "fly", cwd=project)
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert f"streamdeploy.yaml:{line}:" in result.stderr
    assert "targets.fly.vm_size: 'huge-9000' is not a Fly Machine size" in result.stderr


def test_check_after_render_all_agrees_about_skipped_platforms(tmp_path):
    # examples/scaled cannot run on Railway: `render --target all` skips it, so --check must too.
    shutil.copy(EXAMPLES / "scaled" / "streamdeploy.yaml", tmp_path / "streamdeploy.yaml")
    rendered = run_cli("render", cwd=tmp_path)
    assert rendered.returncode == 0 and "skipped railway" in rendered.stderr, rendered.stderr
    checked = run_cli("render", "--check", cwd=tmp_path)
    assert_no_traceback(checked)
    assert checked.returncode == 0, checked.stderr
