"""One clock for every date-bound rule, and a suite that passes on any day."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import date

import pytest

from conftest import REPO, TEST_TODAY, assert_no_traceback, run_cli
from streamdeploy import clock
from streamdeploy.problems import ProblemsError

# The tests that reach a date-bound rule: check (cutoffs, closures), compare, render, up.
DATE_BOUND_TESTS = [
    "tests/test_capabilities.py",
    "tests/test_compare.py",
    "tests/commands/test_check_cmd.py",
    "tests/commands/test_compare_cmd.py",
    "tests/targets/test_railway.py",
    "tests/test_golden.py",
    "tests/test_up_fakes.py",
]


def test_the_suite_pins_the_clock():
    assert os.environ["STREAMDEPLOY_TODAY"] and clock.today() == date.fromisoformat(os.environ["STREAMDEPLOY_TODAY"])


def test_today_comes_from_the_environment_or_the_calendar(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2031-02-03")
    assert clock.today() == date(2031, 2, 3)
    monkeypatch.delenv(clock.ENV)
    assert clock.today() == date.today()


def test_a_bad_date_is_bad_input(monkeypatch):
    monkeypatch.setenv(clock.ENV, "next tuesday")
    with pytest.raises(ProblemsError) as caught:
        clock.today()
    assert "YYYY-MM-DD" in caught.value.problems[0].fix


def test_the_cli_says_a_bad_date_is_bad_input():
    result = run_cli("check", "-f", "examples/app/streamdeploy.yaml", env={"STREAMDEPLOY_TODAY": "2026-13-01"})
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "STREAMDEPLOY_TODAY" in result.stderr and "YYYY-MM-DD" in result.stderr


CALENDAR_READS = {("date", "today"), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
                  ("time", "localtime"), ("time", "gmtime"), ("time", "strftime")}


def test_nothing_but_the_clock_reads_the_calendar():
    offenders = []
    for path in sorted((REPO / "streamdeploy").rglob("*.py")):
        if path.name == "clock.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in CALENDAR_READS):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not offenders, "read the date through streamdeploy.clock: " + ", ".join(offenders)


@pytest.mark.slow
@pytest.mark.timeout(620)  # seven test files in a subprocess (3 min idle; more on a loaded machine)
@pytest.mark.parametrize("day", ["2025-01-01", "2030-01-01"])
def test_the_date_bound_tests_pass_on_any_day(day):
    assert day != TEST_TODAY
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DATE_BOUND_TESTS],
                            cwd=REPO, env={**os.environ, "STREAMDEPLOY_TODAY": day}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
