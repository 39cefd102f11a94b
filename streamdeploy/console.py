"""The one output layer: rich text for people on stderr/stdout, JSON for machines.

Rich loads on first use, so commands that print nothing fancy start fast: success lines,
and notes, warnings and problems going to a pipe or file, are written directly when rich
would print exactly the same text. NO_COLOR and terminals are otherwise rich's business.
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from typing import Any

from streamdeploy.problems import Problem


@lru_cache(maxsize=None)
def out():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@lru_cache(maxsize=None)
def err():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def problem(p: Problem, level: str = "error") -> None:
    # A flag or a missing tool has no place in a file: no "<input>:" prefix that reads like one.
    place = p.where if p.file is not None or p.line is not None else None
    if _plain(sys.stderr, place or "", p.key or "", p.message, p.fix or ""):
        key = f" {p.key}:" if p.key else ""
        _write(sys.stderr, f"{place}: " if place else "", f"{level}:{key} {p.message}\n", _fix_line(p.fix))
        return
    style = {"error": "bold red", "warning": "yellow", "info": "cyan"}.get(level, "bold")
    key = f" [bold]{escape(p.key)}[/bold]:" if p.key else ""
    where = f"{escape(place)}: " if place else ""
    err().print(f"{where}[{style}]{level}[/{style}]:{key} {escape(p.message)}")
    if p.fix:
        err().print(f"  [dim]fix:[/dim] {escape(p.fix)}")


def problems(items: list[Problem], as_json: bool = False) -> None:
    if as_json:
        emit_json({"ok": False, "errors": [p.as_dict() for p in items]})
        return
    for p in items:
        problem(p)
    if len(items) > 1:
        err().print(f"[bold red]{len(items)} errors[/bold red]")


def success(message: str) -> None:
    # One line of text: plain writes spare `validate` the 30+ ms that importing rich costs.
    if sys.platform == "win32":  # rich knows how to colour a legacy Windows console
        out().print(f"[green]✓[/green] {escape(message)}")
        return
    tick = "\x1b[32m✓\x1b[0m" if _colour(sys.stdout) else "✓"
    sys.stdout.write(f"{tick} {message}\n")
    sys.stdout.flush()


def _colour(stream: Any) -> bool:
    """Rich's rule: NO_COLOR turns colour off, FORCE_COLOR on; else only on a real terminal."""
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


Segment = str | tuple[str, str]  # text, or (text, rich style)


def say(*segments: Segment, stderr: bool = True) -> None:
    """One line for people from pieces of text, some styled: written as is when rich would
    print the same, else through rich with each piece escaped (so text is never markup)."""
    texts = [s if isinstance(s, str) else s[0] for s in segments]
    stream = sys.stderr if stderr else sys.stdout
    if _plain(stream, *texts):
        _write(stream, *texts, "\n")
        return
    markup = "".join(escape(s) if isinstance(s, str) else f"[{s[1]}]{escape(s[0])}[/{s[1]}]" for s in segments)
    (err() if stderr else out()).print(markup)


def info(message: str) -> None:
    if _plain(sys.stderr, message):
        _write(sys.stderr, message, "\n")
        return
    err().print(escape(message))


def warning(message: str, where: str | None = None, fix: str | None = None) -> None:
    if _plain(sys.stderr, message, where or "", fix or ""):
        _write(sys.stderr, f"{where}: " if where else "", f"warning: {message}\n", _fix_line(fix))
        return
    prefix = f"{escape(where)}: " if where else ""
    err().print(f"{prefix}[yellow]warning[/yellow]: {escape(message)}")
    if fix:
        err().print(f"  [dim]fix:[/dim] {escape(fix)}")


# What rich may print otherwise than written: tabs (expanded), control codes (dropped),
# backslashes (escape() doubles a trailing one), and :emoji: codes (replaced, if known).
_REWRITTEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\\]")
_EMOJI_CODE = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")  # rich._emoji_replace's own pattern
# Every character of the names in rich's emoji table (tests/test_console.py keeps this equal to
# it): a `:...:` with any other character in it (`data:/data:ro`) cannot be an emoji code, and
# only the rest need the table itself (~7 ms to import).
EMOJI_NAME_CHARS = frozenset("!#&()*+-.0123456789_abcdefghijklmnopqrstuvwxyz\u00e3\u00e5\u00e7\u00e9\u00ed\u00f4\u2019")


def _plain(stream: Any, *texts: str) -> bool:
    """Whether rich would print these texts unchanged: the stream is not a terminal (so no
    styles, by rich's own rule) and they hold nothing rich rewrites. Writing them directly
    spares a command that only prints notes the ~20 ms of importing rich.console;
    tests/test_console.py compares both ways over every note the examples produce."""
    return sys.platform != "win32" and not _rich_terminal(stream) and all(_unchanged(t) for t in texts)


def _unchanged(text: str) -> bool:
    if _REWRITTEN.search(text):
        return False
    if not any(EMOJI_NAME_CHARS.issuperset(m.group(2).lower()) for m in _EMOJI_CODE.finditer(text)):
        return True
    try:  # rich's own emoji rule (its table), without loading rich.console: 3 ms, not 20
        from rich._emoji_replace import _emoji_replace
    except ImportError:
        return False
    return _emoji_replace(text) == text


def _rich_terminal(stream: Any) -> bool:
    """rich's Console.is_terminal: TTY_COMPATIBLE, then FORCE_COLOR, then isatty()."""
    import os

    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return bool(getattr(stream, "isatty", None) and stream.isatty())
    except ValueError:  # closed
        return False


def _fix_line(fix: str | None) -> str:
    return f"  fix: {fix}\n" if fix else ""


def _write(stream: Any, *parts: str) -> None:
    stream.write("".join(parts))
    stream.flush()


def table(title: str, columns: list[tuple[str, dict]], rows: list[list[str]], *, lines: bool = False) -> None:
    """Rows for people: a table when it fits the terminal (or 80 columns, piped), else one
    record per row — the first cell as its heading, then `label  value` lines — so no cell
    is squeezed to a word or two. Cells are rich markup; ``columns`` are (header, Table
    column options)."""
    from rich.table import Table

    console = out()
    grid = Table(title=title, title_justify="left", show_lines=lines)
    for header, options in columns:
        grid.add_column(header, **options)
    for row in rows:
        grid.add_row(*row)
    natural = console.measure(grid, options=console.options.update(max_width=10_000)).maximum
    if natural <= console.width:
        console.print(grid)
        return
    labels = [header for header, _ in columns[1:]]
    width = max((len(label) for label in labels), default=0)
    with console.capture() as captured:
        if title:
            console.print(f"[bold]{title}[/bold]")
        for row in rows:
            record = Table.grid(padding=(0, 2))
            record.add_column(no_wrap=True, style="dim", min_width=width)
            record.add_column(overflow="fold")
            for label, cell in zip(labels, row[1:]):
                if cell:
                    record.add_row(label, cell)
            console.print(f"\n[bold]{row[0]}[/bold]")
            console.print(record)
    # A grid pads every line to its width; piped output has no use for trailing blanks.
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    console.file.flush()
