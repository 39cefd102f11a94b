"""`streamdeploy compare` as a user runs it."""

from __future__ import annotations

import json

from conftest import EXAMPLES, assert_no_traceback, run_cli

APP = str(EXAMPLES / "app" / "streamdeploy.yaml")


def test_table_with_verdicts_costs_and_dates():
    result = run_cli("compare", "-f", APP)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Where this description can run" in out
    assert "$7.25" in out and "$15.27" in out and "$3.34" in out
    assert "Why not" in out and "AWS App Runner: services.api.streaming.max_duration" in out
    assert "Prices as of" in out and "Railway: 2026-08-21" in out
    assert "Kubernetes: depends on your cluster" in out


def test_json_shape():
    result = run_cli("compare", "-f", APP, "--json")
    assert_no_traceback(result)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["currency"] == "USD" and data["assumptions"]
    rows = {row["name"]: row for row in data["platforms"]}
    assert set(rows) == {"railway", "render", "fly", "digitalocean", "cloudrun", "apprunner", "fargate", "kubernetes",
                         "compose", "local"}
    assert {name for name, row in rows.items() if not row["feasible"]} == {"digitalocean", "cloudrun", "apprunner"}
    assert rows["render"]["cost"]["monthly"] == 7.25
    assert rows["render"]["cost"]["prices_as_of"] == "2026-01-22"
    assert rows["kubernetes"]["cost"]["monthly"] is None
    assert rows["digitalocean"]["blocking"][0]["rule"] == "volume-unsupported"
    assert rows["digitalocean"]["cost"]["complete"] is False


def test_bad_input_exits_2(tmp_path):
    result = run_cli("compare", "-f", str(tmp_path / "missing.yaml"))
    assert_no_traceback(result)
    assert result.returncode == 2
