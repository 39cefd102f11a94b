"""The output layer: how a problem reads on stderr."""

from __future__ import annotations

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
