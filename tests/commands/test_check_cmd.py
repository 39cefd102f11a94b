"""`streamdeploy check` as a user runs it: exit codes, output, --json."""

from __future__ import annotations

from pathlib import Path

import json

from conftest import EXAMPLES, assert_no_traceback, run_cli

APP = str(EXAMPLES / "app" / "streamdeploy.yaml")
FINE = """\
version: 1
name: demo
services:
  api:
    start: uvicorn app.main:app --host 0.0.0.0 --port $PORT
    port: 8000
    health: {path: /health}
    streaming: {paths: [/stream], max_duration: 100s, heartbeat: 15s}
"""


def volume_line() -> int:
    """Where the example declares its volume (findings about it point there)."""
    return next(i for i, line in enumerate(Path(APP).read_text().splitlines(), 1)
                if line.strip().startswith("- {name: chroma_data"))


def test_platforms_it_only_advises_on_are_reported_but_do_not_fail_the_check():
    result = run_cli("check", "-f", APP)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DigitalOcean App Platform" in result.stdout
    assert f"streamdeploy.yaml:{volume_line()}: error: services.api.volumes[0]" in result.stdout
    assert "source: https://docs.digitalocean.com/" in result.stdout
    assert "fix:" in result.stdout and "why:" in result.stdout
    assert "apprunner, cloudrun, digitalocean cannot run it" in result.stdout
    assert "streamdeploy only advises on them" in result.stdout


def test_named_on_purpose_an_advisory_platform_decides_the_exit_code():
    result = run_cli("check", "-f", APP, "-t", "digitalocean")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "errors on: digitalocean" in result.stdout


def test_errors_on_a_platform_it_ships_to_exit_1_and_say_where(tmp_path):
    text = (EXAMPLES / "app" / "streamdeploy.yaml").read_text().replace("max_duration: 10m", "max_duration: 30m")
    (tmp_path / "streamdeploy.yaml").write_text(text)
    result = run_cli("check", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "errors on: railway" in result.stdout


def test_check_render_and_compare_agree_on_where_it_runs():
    import json as json_

    checked = json_.loads(run_cli("check", "-f", APP, "--json").stdout)
    compared = json_.loads(run_cli("compare", "-f", APP, "--json").stdout)
    feasible = {v["name"] for v in compared["platforms"] if v["feasible"]}
    assert set(checked["runnable"]) == feasible
    rendered = run_cli("render", "-f", APP, "--target", "all", "--check", "--json")
    assert "digitalocean" not in rendered.stdout


def test_a_platform_that_runs_it_exits_0():
    result = run_cli("check", "-f", APP, "--target", "fly")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fly.io" in result.stdout and "0 errors" in result.stdout


def test_docker_target_is_checked_as_a_single_host():
    result = run_cli("check", "-f", APP, "-t", "docker")
    assert result.returncode == 0
    assert "as docker" in result.stdout


def test_a_fine_description_exits_0_everywhere(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text(FINE, encoding="utf-8")
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["counts"]["error"] == 0


def test_json_shape():
    result = run_cli("check", "-f", APP, "--json")
    assert_no_traceback(result)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert "digitalocean" not in data["judged"] and "fly" in data["judged"]
    assert "digitalocean" not in data["runnable"] and "fly" in data["runnable"]
    assert data["targets"] == ["railway", "render", "fly", "digitalocean", "cloudrun", "apprunner", "fargate",
                               "kubernetes", "compose", "local"]
    assert data["counts"]["error"] == len([f for f in data["findings"] if f["severity"] == "error"]) > 0
    finding = next(f for f in data["findings"] if f["target"] == "digitalocean" and f["severity"] == "error")
    assert set(finding) >= {"severity", "target", "key", "message", "why", "source", "fix", "rule", "file", "line"}
    assert finding["key"] == "services.api.volumes[0]" and finding["line"] == volume_line()


def test_unknown_target_is_bad_input():
    result = run_cli("check", "-f", APP, "--target", "heroku")
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "unknown target `heroku`" in result.stderr and "digitalocean" in result.stderr


def test_a_broken_description_is_bad_input(tmp_path):
    (tmp_path / "streamdeploy.yaml").write_text("version: 1\nname: x\nservices:\n  api:\n    prot: 8000\n",
                                                 encoding="utf-8")
    result = run_cli("check", "--json", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert json.loads(result.stdout)["ok"] is False


def test_missing_file_is_bad_input(tmp_path):
    result = run_cli("check", "-f", str(tmp_path / "nope.yaml"))
    assert_no_traceback(result)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_compact_findings_for_render_and_up(capsys):
    from streamdeploy import loader
    from streamdeploy.capabilities import check
    from streamdeploy.commands.check import print_findings

    findings = [f for f in check(loader.load(APP), ["apprunner"]) if f.severity == "error"]
    print_findings(findings, compact=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 * len(findings)
    assert err[0].startswith(findings[0].where) and "apprunner" in err[0]
    assert err[1].strip().startswith("fix:")
