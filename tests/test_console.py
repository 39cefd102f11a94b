"""The output layer: how a problem reads on stderr."""

from __future__ import annotations

import re
import sys

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


# --- plain lines: written directly only when rich would print exactly them ---------------------

TRICKY = ["plain", "brackets [bold]not markup[/bold] and [link=x]", "a trailing backslash \\", "\\[escaped]",
          "unicode ✓ — ü 漢字", "two\nlines", "trailing spaces   ", "", "url http://127.0.0.1:8000/x", ":rocket: emoji",
          "tab\there", "bell\x07 and cr\r", "ends with colon:", "a:b c:d", "[/]", "100% [red]"]


def corpus() -> list[tuple[str, str | None, str | None]]:
    """(message, where, fix) of every note rendering the examples for every target gives, and tricky text."""
    from conftest import example_files
    from streamdeploy import loader, targets
    from streamdeploy.commands import render

    items = []
    for path in example_files():
        loaded = loader.load(path)
        _, notes = render.collect(loaded, render.resolve_targets("all", loaded.spec), skip_refused=True)
        items += [(n.message, f"{n.target}" + (f" ({n.key})" if n.key else ""), n.fix) for n in notes]
    assert len(items) > 50 and len(targets.NAMES) > 5
    items += [(t, w, f) for t in TRICKY for w, f in [(None, None), ("fly (services.api)", t), (t, None)]]
    return items


def _both_ways(monkeypatch, capsys, show) -> tuple[str, str]:
    show()
    plain = capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(console, "_plain", lambda *_: False)
        show()
    through_rich = capsys.readouterr()
    return plain.err + plain.out, through_rich.err + through_rich.out


def test_plain_notes_warnings_and_problems_read_as_rich_prints_them(monkeypatch, capsys):
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    direct = 0
    for message, where, fix in corpus():
        direct += console._plain(sys.stderr, message, where or "", fix or "")
        for show in (lambda: console.info(message), lambda: console.warning(message, where=where, fix=fix),
                     lambda: console.problem(Problem(message, key=where, fix=fix)),
                     lambda: console.problem(Problem(message, file="streamdeploy.yaml", line=3, fix=fix), "warning")):
            plain, through_rich = _both_ways(monkeypatch, capsys, show)
            assert plain == through_rich, (message, where, fix)
    assert direct > 50  # most notes do take the direct way


@pytest.mark.parametrize("env,plain", [({}, True), ({"FORCE_COLOR": "1"}, False), ({"FORCE_COLOR": ""}, True),
                                       ({"TTY_COMPATIBLE": "1"}, False), ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True)])
def test_plain_only_where_rich_sees_no_terminal(monkeypatch, env, plain):
    import io

    from rich.console import Console

    for var in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    stream = io.StringIO()
    assert console._plain(stream, "text") is plain is (not Console(file=stream).is_terminal)


def test_an_emoji_code_goes_through_rich_and_other_colons_do_not(monkeypatch):
    import io

    for var in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(var, raising=False)
    assert not console._plain(io.StringIO(), "shipped :rocket:")
    assert console._plain(io.StringIO(), "docker run -v data:/data:ro, ${NAME:?}")
    assert not console._plain(io.StringIO(), "upper case too :ROCKET: and a variant :rocket-text:")
    assert console._plain(io.StringIO(), "a name not in the table :no_such_emoji_here:")


def test_the_characters_of_emoji_names_are_those_of_richs_table():
    from rich._emoji_codes import EMOJI

    assert console.EMOJI_NAME_CHARS == set("".join(EMOJI))


def findings_corpus() -> list:
    """Every finding `check` gives for the examples on every platform."""
    from conftest import example_files
    from streamdeploy import capabilities, loader

    items = []
    for path in example_files():
        items += capabilities.check(loader.load(path), capabilities.names())
    assert len(items) > 30
    return items


def test_compact_findings_read_the_same_written_directly_or_through_rich(monkeypatch, capsys):
    from streamdeploy.commands.check import print_findings

    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    findings = findings_corpus()
    plain, through_rich = _both_ways(monkeypatch, capsys, lambda: print_findings(findings, compact=True))
    assert plain == through_rich and plain.count("\n") >= len(findings)
    for text in TRICKY:
        plain, through_rich = _both_ways(monkeypatch, capsys, lambda: console.say(text, ("label", "bold red"), text))
        assert plain == through_rich, text


def test_on_a_terminal_say_styles_as_the_markup_it_replaced(monkeypatch):
    """Through rich (a colour terminal), `say`'s pieces print what the markup they replaced printed."""
    import io

    from rich.console import Console

    from streamdeploy.commands.check import _LABEL, _STYLE, print_findings

    def terminal_output(show) -> str:
        buffer = io.StringIO()
        terminal = Console(file=buffer, force_terminal=True, color_system="truecolor", highlight=False, soft_wrap=True)
        with monkeypatch.context() as patched:
            patched.setattr(console, "err", lambda: terminal)
            patched.setattr(console, "_plain", lambda *_: False)
            show()
        return buffer.getvalue()

    findings = findings_corpus()
    esc = console.escape

    def before() -> None:  # print_findings(compact=True) as it was written with markup
        for f in findings:
            console.err().print(f"{esc(f.where)}: [{_STYLE[f.severity]}]{_LABEL[f.severity]}[/]: "
                                f"[bold]{esc(f.target)}[/bold] {esc(f.key)}: {esc(f.message)}")
            if f.fix:
                console.err().print(f"  [dim]fix:[/dim] {esc(f.fix)}")

    assert terminal_output(lambda: print_findings(findings, compact=True)) == terminal_output(before)
    assert "\x1b[" in terminal_output(before)
    assert terminal_output(lambda: console.say(("skipped", "yellow"), " fly: why")) == terminal_output(
        lambda: console.err().print("[yellow]skipped[/yellow] fly: why"))
