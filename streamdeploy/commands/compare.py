"""`streamdeploy compare`: which platforms can run this description, and at what monthly cost.

Verdicts come from `check` (a platform with an error finding cannot run it as described)
and costs from `pricing`; nothing here ranks platforms by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from streamdeploy import console, exitcodes, loader

ASSUMPTIONS = (
    "running all month at the described cpu and memory, times replicas; per-second and per-hour prices x 730 h",
    "Railway bills actual use per minute, so its figure is a ceiling",
    "a service with scale_to_zero is priced awake all month; `idle` is its cost asleep, where the platform stops it",
    "excludes egress, build minutes, free tiers and workspace seats; includes plan minimums",
)


@dataclass(frozen=True)
class Verdict:
    platform: Any  # capabilities.Platform
    feasible: bool
    blocking: tuple  # error findings (for this platform, or for every platform)
    warnings: tuple
    estimate: Any  # pricing.Estimate
    notes: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "name": self.platform.name,
            "title": self.platform.title,
            "feasible": self.feasible,
            "blocking": [f.as_dict() for f in self.blocking],
            "warnings": [f.as_dict() for f in self.warnings],
            "cost": self.estimate.as_dict(),
            "notes": list(self.notes),
        }


def verdicts(loaded: loader.Loaded, *, today: date | None = None) -> list[Verdict]:
    """One verdict per platform in the model: runnable ones first, cheapest first."""
    from streamdeploy import capabilities, clock, pricing

    today = today or clock.today()
    findings = capabilities.check(loaded, capabilities.names(), today=today)
    out = []
    runnable = set(capabilities.runnable(findings, capabilities.names()))
    for p in (capabilities.platform(name) for name in capabilities.names()):
        mine = [f for f in findings if f.target in (p.name, capabilities.ANY)]
        blocking = tuple(f for f in mine if f.severity == "error")
        warnings = tuple(f for f in mine if f.severity == "warning")
        out.append(Verdict(p, p.name in runnable, blocking, warnings, pricing.estimate(loaded.spec, p),
                           _notes(p, today)))
    position = {name: i for i, name in enumerate(capabilities.names())}

    def rank(v: Verdict) -> tuple:
        cost = v.estimate.monthly if v.estimate.monthly is not None and v.estimate.complete else float("inf")
        return (not v.feasible, v.platform.kind == "local", cost, position[v.platform.name])

    return sorted(out, key=rank)


def _notes(p: Any, today: date) -> tuple[str, ...]:
    notes = []
    customers = p.fact("new_customers")
    if customers.value is False:
        closed = not customers.date or today >= date.fromisoformat(customers.date)
        notes.append(f"closed to new customers since {customers.date}" if closed
                     else f"closes to new customers on {customers.date}")
    for key, label in (("scale_to_zero", "scale to zero"), ("cold_start", "cold starts")):
        fact = p.fact(key)
        if fact.known:
            notes.append(f"{label}: {str(fact.value).split(':', 1)[0]}")
        else:
            notes.append(f"{label}: unknown")
    return tuple(notes)


def run(file: Path | None, as_json: bool = False) -> int:
    from streamdeploy import capabilities

    loaded = loader.load(file)
    results = verdicts(loaded)
    if as_json:
        console.emit_json({
            "file": str(loaded.path),
            "facts_checked": capabilities.checked_on(),
            "currency": "USD",
            "assumptions": list(ASSUMPTIONS),
            "platforms": [v.as_dict() for v in results],
        })
        return exitcodes.OK
    _print(results)
    return exitcodes.OK


def _money(estimate: Any) -> str:
    if estimate.monthly is None:
        return "unknown"
    text = f"${estimate.monthly:,.2f}"
    text = text if estimate.complete else text + " + ?"
    saved = sum(i.monthly - i.idle_monthly for i in estimate.items if i.idle is not None and i.monthly is not None)
    return f"{text}\n${estimate.monthly - saved:,.2f} idle" if saved else text


def _sized(estimate: Any) -> str:
    parts = []
    for item in estimate.items:
        name = item.what.split(".", 2)
        if item.what == "plan minimum":
            parts.append(f"plan minimum ${item.monthly:,.2f}")
        elif len(name) == 2:  # services.api / stores.chroma: each priced on its own
            count = f" x{item.count}" if item.count > 1 else ""
            price = "" if item.monthly is None else f" ${item.monthly:,.2f}"
            parts.append(f"{name[1]}{count}: {item.detail}{price}")
            if item.idle is not None:
                parts.append(f"  idle: ${item.idle_monthly:,.2f} ({item.idle.split(',')[0]})")
        else:  # a volume or a store's data
            parts.append(f"  + disk {item.detail}")
    return "\n".join(parts)


def _print(results: list[Verdict]) -> None:
    rows = []
    for v in results:
        if v.feasible:
            verdict = "[green]yes[/green]"
            if v.warnings:
                verdict += f" ({len(v.warnings)} warning{'s' if len(v.warnings) != 1 else ''})"
        else:
            verdict = f"[red]no[/red] ({len(v.blocking)} error{'s' if len(v.blocking) != 1 else ''})"
        rows.append([console.escape(v.platform.title), verdict, console.escape(_money(v.estimate)),
                     console.escape(_sized(v.estimate)), console.escape("\n".join(v.notes))])
    console.table("Where this description can run", [
        ("Platform", {"style": "bold", "no_wrap": True}), ("Runs it?", {}),
        ("Per month", {"justify": "right", "no_wrap": True}), ("Sized as", {}), ("Notes", {}),
    ], rows, lines=True)
    out = console.out()
    blocked = [v for v in results if not v.feasible]
    if blocked:
        out.print("\n[bold]Why not[/bold]")
        for v in blocked:
            for f in v.blocking:
                out.print(f"  [red]{console.escape(v.platform.title)}[/red]: {console.escape(f.key)}: "
                          f"{console.escape(f.message)} [dim]({console.escape(f.where)})[/dim]")
    out.print("\n[bold]Prices as of[/bold]")
    for v in results:
        e = v.estimate
        if e.model == "free":
            out.print(f"  {console.escape(v.platform.title)}: free")
        elif e.as_of:
            third = " (some from third-party copies)" if any("third-party" in n for n in e.notes) else ""
            out.print(f"  {console.escape(v.platform.title)}: {e.as_of}{third}; "
                      f"{console.escape(', '.join(e.sources[:2]))}")
        else:
            note = e.notes[0] if e.notes else "no price in the model"
            out.print(f"  {console.escape(v.platform.title)}: {console.escape(note)}")
    out.print("[dim]Estimates assume " + console.escape("; ".join(ASSUMPTIONS)) + ".[/dim]")
    out.print("[dim]`streamdeploy check --target NAME` explains each finding, with its source.[/dim]")
