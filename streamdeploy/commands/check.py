"""`streamdeploy check`: what each platform cannot do for this description, why, and the fix."""

from __future__ import annotations

from pathlib import Path

from streamdeploy import console, exitcodes, loader
from streamdeploy.problems import fail

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_LABEL = {"error": "error", "warning": "warning", "info": "note"}


def resolve(target: str) -> list[str]:
    """``all`` -> every platform in the model; otherwise the one platform or target name."""
    from streamdeploy import capabilities

    if target == "all":
        return capabilities.names()
    if not capabilities.known(target):
        from streamdeploy import targets

        raise targets.unknown(target, [*capabilities.names(), *capabilities.aliases(), "all"])
    return [target]


def judged(names: list[str], target: str, spec=None) -> list[str]:
    """The targets whose errors decide the exit code: a platform named on purpose always;
    with `all`, the ones streamdeploy ships to as described (the rest are advice)."""
    from streamdeploy import capabilities

    return names if target != "all" else [n for n in names if capabilities.shippable(n, spec)]


def run(file: Path | None, target: str = "all", as_json: bool = False) -> int:
    from streamdeploy import capabilities

    loaded = loader.load(file)
    names = resolve(target)
    findings = capabilities.check(loaded, names)
    decisive = judged(names, target, loaded.spec)
    failed = set(decisive) - set(capabilities.runnable(findings, decisive))
    if as_json:
        console.emit_json({
            "ok": not failed,
            "file": str(loaded.path),
            "targets": names,
            "judged": decisive,
            "runnable": capabilities.runnable(findings, names),
            "facts_checked": capabilities.checked_on(),
            "counts": {s: sum(f.severity == s for f in findings) for s in capabilities.SEVERITIES},
            "findings": [f.as_dict() for f in findings],
        })
    else:
        print_findings(findings)
        _summary(findings, names, decisive)
    return exitcodes.FAILED if failed else exitcodes.OK


def print_findings(findings: list, compact: bool = False) -> None:
    """Findings for people. Compact (render/up, on stderr): one line and the fix each.
    Full (`check`, on stdout): grouped by platform, with the fact and its source."""
    if compact:
        for f in findings:
            console.say(f.where, ": ", (_LABEL[f.severity], _STYLE[f.severity]), ": ", (f.target, "bold"), " ", f.key,
                        ": ", f.message)
            if f.fix:
                console.say("  ", ("fix:", "dim"), " ", f.fix)
        return
    from streamdeploy import capabilities

    out = console.out()
    current = None
    for f in sorted(findings, key=_group_order(findings)):
        if f.target != current:
            current = f.target
            title = "Every platform" if f.target == capabilities.ANY else capabilities.platform(f.target).title
            if f.target != capabilities.ANY and capabilities.platform(f.target).name != f.target:
                title += f" (as {f.target})"
            out.print(f"\n[bold]{console.escape(title)}[/bold]")
        out.print(f"  {console.escape(f.where)}: [{_STYLE[f.severity]}]{_LABEL[f.severity]}[/]: "
                  f"[bold]{console.escape(f.key)}[/bold]: {console.escape(f.message)}")
        out.print(f"    [dim]why:[/dim] {console.escape(f.why)}")
        if f.source:
            out.print(f"    [dim]source:[/dim] {console.escape(f.source)}")
        if f.fix:
            out.print(f"    [dim]fix:[/dim] {console.escape(f.fix)}")


def _group_order(findings: list):
    targets = list(dict.fromkeys(f.target for f in findings))
    from streamdeploy import capabilities

    # "any" first, then platforms in the order they were asked for; inside a group, worst first.
    order = {t: (0 if t == capabilities.ANY else 1, i) for i, t in enumerate(targets)}
    return lambda f: (order[f.target], capabilities.SEVERITIES.index(f.severity), f.line or 0)


def _summary(findings: list, names: list[str], decisive: list[str]) -> None:
    from streamdeploy import capabilities

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    stopped = capabilities.blocked(findings)
    advice = sorted(t for t in stopped if t != capabilities.ANY and t not in decisive)
    advice_errors = sum(f.severity == "error" and f.target in advice for f in findings)
    errors = sum(f.severity == "error" for f in findings) - advice_errors
    parts = [count(errors, "error"), count(sum(f.severity == "warning" for f in findings), "warning"),
             count(sum(f.severity == "info" for f in findings), "note")]
    scope = names[0] if len(names) == 1 else f"{len(names)} platforms"
    tail = (f"; {', '.join(advice)} cannot run it ({count(advice_errors, 'error')}; streamdeploy only advises "
            "on them)" if advice else "")
    deciding = sorted("every platform" if t == capabilities.ANY else t for t in stopped
                      if t == capabilities.ANY or t in decisive)
    if deciding:
        console.out().print(f"\n[bold red]✗[/bold red] {', '.join(parts)} for {console.escape(scope)}; "
                            f"errors on: {console.escape(', '.join(deciding) + tail)}")
        return
    runs = capabilities.runnable(findings, decisive)
    ready = f"; runs on: {', '.join(runs)}" if len(names) > 1 and runs else ""
    console.out().print(f"\n[green]✓[/green] {', '.join(parts)} for {console.escape(scope)}"
                        f"{console.escape(ready + tail)}")
