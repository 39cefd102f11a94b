"""`streamdeploy verify URL`: run the checks of ``streamdeploy.verify`` and show the report.

``print_report`` is shared with `up`, which verifies after every deploy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from streamdeploy import console, loader
from streamdeploy.problems import ProblemsError


def run(
    url: str,
    file: Path | None,
    service: str | None = None,
    expect_marker: str | None = None,
    timeout: float = 120.0,
    as_json: bool = False,
) -> int:
    from streamdeploy import verify

    check_timeout(timeout)
    loaded = _load(file)
    report = verify.run_checks(
        url,
        loaded,
        service=service,
        timeout=timeout,
        expect_marker=expect_marker,
        progress=None if as_json else progress,
        mask=_masker(loaded),
    )
    print_report(report, as_json)
    return report.exit_code


MAX_TIMEOUT = 24 * 3600.0


def check_timeout(value: float, flag: str = "--timeout") -> None:
    """A number of seconds a user gave: finite, not negative, at most a day (nan and inf
    would make every deadline meaningless: a check that never ends)."""
    from streamdeploy.problems import fail

    if not math.isfinite(value) or value < 0 or value > MAX_TIMEOUT:
        raise fail(f"{flag} must be a number of seconds from 0 to {MAX_TIMEOUT:g}, not {value:g}",
                   fix=f"e.g. {flag} 120")


def _masker(loaded: loader.Loaded | None):
    """Every secret the description names that is set here, and the platforms' tokens."""
    from streamdeploy import secrets

    names = secrets.declared_names(loaded.spec) if loaded is not None else []
    values = [os.environ[n] for n in names if os.environ.get(n)]
    return secrets.Masker([*values, *secrets.platform_tokens(os.environ)])


def _load(file: Path | None) -> loader.Loaded | None:
    """The description; without -f and with none found, verify the URL with defaults."""
    if file is not None:
        return loader.load(file)
    try:
        path = loader.find_description()
    except ProblemsError:
        return None
    return loader.load(path)


def progress(message: str) -> None:
    console.err().print(f"[dim]… {console.escape(message)}[/dim]")


_MARK = {"ok": "[green]✓ ok[/green]", "failed": "[bold red]✗ failed[/bold red]", "skipped": "[yellow]– skipped[/yellow]"}


def print_report(report, as_json: bool = False) -> None:
    """A table for people (stdout), or the report as JSON for machines."""
    if as_json:
        console.emit_json(report.as_dict())
        return
    from streamdeploy.verify import duration_text

    title = f"verify {report.url}" + (f" (service {report.service})" if report.service else "")
    rows = [[check.name, _MARK[check.status], "" if check.seconds is None else duration_text(check.seconds),
             console.escape(check.detail)] for check in report.checks]
    console.table(console.escape(title), [("check", {}), ("result", {}), ("time", {"justify": "right"}),
                                          ("detail", {"overflow": "fold"})], rows)
    for note in report.notes:
        console.info(f"note: {note}")
    if report.marker:
        console.out().print(
            f"marker [bold]{console.escape(report.marker)}[/bold] written and read back. After a redeploy, "
            f"`streamdeploy verify {console.escape(report.url)} --expect-marker {console.escape(report.marker)}` "
            "(or `--expect-marker last`) proves it survived; `up` checks it by itself."
        )
    failed = [c.name for c in report.checks if c.status == "failed"]
    if failed:
        console.err().print(f"[bold red]verify failed:[/bold red] {', '.join(failed)}")
    else:
        console.success("verified")

