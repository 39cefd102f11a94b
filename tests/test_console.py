"""The output layer: how a problem reads on stderr."""

from __future__ import annotations

import re

import pytest

from conftest import run_cli
from streamdeploy import console
from streamdeploy.problems import Problem


def test_problem_with_a_place_starts_with_file_line_col(capsys):
    console.problem(Problem("bad port", file="streamdeploy.yaml", line=3, column=9, key="services.api.port"))
    assert capsys.readouterr().err.startswith("streamdeploy.yaml:3:9: error: services.api.port: bad port")


def test_problem_without_a_file_has_no_made_up_place(capsys):
    console.problem(Problem("unknown target `bogus`", fix="use one of: fly, all"))
    err = capsys.readouterr().err
    assert err.startswith("error: unknown target `bogus`\n"), err
    assert "<input>" not in err


# --- tables: readable at 80 columns and piped -------------------------------------------------


def _table_output(monkeypatch, width: int) -> str:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    monkeypatch.setattr(console, "out", lambda: Console(file=buffer, width=width, highlight=False, soft_wrap=True))
    console.table("Where", [("Platform", {}), ("Notes", {})],
                  [["Fly.io", "scale to zero: yes\ncold starts: only when auto-stop is on, which is not the default "
                    "for a service that holds streams"], ["Render", "free plan only"]])
    return buffer.getvalue()


def test_a_table_that_fits_is_a_table(monkeypatch):
    text = _table_output(monkeypatch, 200)
    assert "┃ Platform" in text and "Fly.io" in text


def test_a_table_that_does_not_fit_becomes_records_without_squeezed_cells(monkeypatch):
    text = _table_output(monkeypatch, 60)
    assert "┃" not in text
    assert "\nFly.io\nNotes  scale to zero: yes\n" in text
    assert all(len(line) <= 60 and line == line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize("argv", [["compare", "-f", "examples/app/streamdeploy.yaml"], ["doctor"]])
def test_commands_read_well_at_80_columns_when_piped(argv):
    result = run_cli(*argv, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "┃" not in result.stdout  # five columns do not fit in 80: records instead
    records = re.split(r"\n(?:Why not|Prices as of|. git \()", result.stdout)[0]
    long = [line for line in records.splitlines() if len(line) > 80]
    assert not long, long
