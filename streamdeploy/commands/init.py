"""`streamdeploy init [DIR]`: read an existing app and write a commented streamdeploy.yaml.

The file is text assembled line by line, because its comments are the point: each value
says whether it was detected (and where) or guessed (and why). Every value goes through
YAML's own emitter, so a quote, colon or ``#`` in a detected name cannot break the file.
The result is loaded with the same loader as ``validate`` before anything is written.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdeploy import console, exitcodes, loader
from streamdeploy.detect import AppFacts, ChromaUse, Fact, scan_app
from streamdeploy.problems import ProblemsError, fail

# Where the generated Dockerfile runs the app from: a relative data path lands under it.
WORKDIR = "/app"
VOLUME_ROOT = "/data"
MAX_ENV_LISTED = 40
WIDTH = 100  # comments wrap here; values never do


@dataclass
class Finding:
    """One line of the 'what I found' summary, for the file's header, stderr and --json."""

    what: str
    value: str
    how: str  # detected | guessed | default
    where: str | None = None
    why: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class Draft:
    text: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run(directory: Path, force: bool = False, as_json: bool = False) -> int:
    root = Path(directory)
    shown = loader._display(root)
    if not root.exists():
        raise fail(f"{shown} does not exist", fix="pass the directory of your app: `streamdeploy init path/to/app`")
    if not root.is_dir():
        raise fail(f"{shown} is not a directory", fix="pass the directory of your app, not a file")
    target = root / loader.FILENAME
    target_shown = loader._display(target)
    if target.is_dir():
        raise fail(f"{target_shown} is a directory", fix="move it away; init writes a file by that name")
    if target.exists() and not force:
        raise fail(
            f"{target_shown} already exists; init does not overwrite it",
            file=target_shown,
            fix="edit it, check it with `streamdeploy validate`, or pass --force to replace it",
        )
    facts = scan_app(root)
    if facts.app is None:
        raise _no_app(facts, shown)
    draft = compose(facts)
    try:  # the file we hand over must pass `validate`: if it does not, that is our bug
        loader.load_text(draft.text, target.resolve(), target_shown)
    except ProblemsError as error:
        console.problems(error.problems, as_json=as_json)
        console.err().print("[bold red]streamdeploy init wrote nothing[/bold red]: the file it drafted does not "
                            "validate (a bug in init; please report it with the messages above)")
        return exitcodes.FAILED
    from streamdeploy.writer import atomic_write

    atomic_write(target, draft.text)
    if as_json:
        console.emit_json({
            "ok": True,
            "file": str(target.resolve()),
            "files_scanned": facts.files_scanned,
            "detected": [f.as_dict() for f in draft.findings if f.how == "detected"],
            "guessed": [f.as_dict() for f in draft.findings if f.how != "detected"],
            "notes": draft.notes,
        })
    else:
        _report(draft, facts, shown, target_shown)
    return exitcodes.OK


def _no_app(facts: AppFacts, shown: str) -> ProblemsError:
    if facts.files_scanned == 0:
        what = f"found no Python files in {shown}"
    else:
        what = f"found {facts.files_scanned} Python file(s) in {shown} but no FastAPI app (`app = FastAPI()`)"
    skipped = [n for n in facts.notes if "skipped" in n]
    if skipped:
        what += f"; skipped: {'; '.join(skipped[:3])}"
    return fail(
        what,
        file=shown,
        fix="run init in your FastAPI app's directory, or write streamdeploy.yaml by hand "
        "(`streamdeploy schema` lists every key)",
    )


def _report(draft: Draft, facts: AppFacts, shown: str, target_shown: str) -> None:
    err = console.err()
    esc = console.escape
    err.print(f"read {facts.files_scanned} Python file(s) in {esc(shown)} (nothing was imported or run)")
    width = max((len(f.what) for f in draft.findings), default=10)
    styles = {"detected": "green", "guessed": "yellow", "default": "yellow"}
    for f in draft.findings:
        label = "detected" if f.how == "detected" else "guessed "
        source = f.where or f.why
        source = "" if source == f.value else source
        err.print(f"  [{styles[f.how]}]{label}[/{styles[f.how]}]  {esc(f.what.ljust(width))}  "
                  f"{esc(f.value)}[dim]{'  ' + esc(source) if source else ''}[/dim]")
    for note in draft.notes:
        err.print(f"  [yellow]note[/yellow]      {esc(note)}")
    err.print(f"[green]✓[/green] wrote {esc(target_shown)}")
    flag = "" if target_shown == loader.FILENAME else f" -f {shlex.quote(target_shown)}"
    err.print(f"  next: check the guessed values in it, then `streamdeploy check{esc(flag)}`")


# --- composing the file -------------------------------------------------------------------


def scalar(value: Any) -> str:
    """``value`` as one YAML flow scalar/collection, quoted exactly as YAML needs."""
    import yaml

    def dump(**style: Any) -> str:
        text = yaml.dump(value, Dumper=yaml.SafeDumper, default_flow_style=True, width=10**9,
                         allow_unicode=True, sort_keys=False, **style).rstrip("\n")
        return text[: -len("\n...")] if text.endswith("\n...") else text

    text = dump()
    if "\n" in text:  # a newline in a value: double quotes keep it on one line as \n
        text = dump(default_style='"')
    return text


def _comment(text: str) -> str:
    """Comment text from detected data: one line, no control characters (indentation kept)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).rstrip()


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, indent: int = 0, wrap: bool = True) -> None:
        import textwrap

        for paragraph in text.splitlines() or [""]:
            paragraph = _comment(paragraph)
            lead = len(paragraph) - len(paragraph.lstrip())
            pieces = textwrap.wrap(paragraph.lstrip(), width=WIDTH - indent - 2, initial_indent=" " * lead,
                                   subsequent_indent=" " * (lead + 2 if lead else 0), break_long_words=False,
                                   break_on_hyphens=False) if wrap and paragraph else [paragraph]
            for line in pieces or [""]:
                self.lines.append(" " * indent + ("# " + line if line else "#"))

    def entry(self, indent: int, key: str, value: Any = None, note: str | None = None, raw: str | None = None) -> None:
        rendered = raw if raw is not None else ("" if value is None else scalar(value))
        line = " " * indent + f"{key}:" + (f" {rendered}" if rendered else "")
        if note:
            line += "  # " + _comment(note)
        self.lines.append(line)

    def item(self, indent: int, value: Any, note: str | None = None) -> None:
        line = " " * indent + f"- {scalar(value)}"
        if note:
            line += "  # " + _comment(note)
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _how(fact: Fact) -> str:
    where = f" ({fact.where})" if fact.where else ""
    if fact.how == "detected":
        return f"detected{where}"
    return f"guessed: {fact.why}" if fact.why else "guessed"


def compose(facts: AppFacts) -> Draft:
    """The commented streamdeploy.yaml for these facts, and the summary of what was found."""
    from streamdeploy import units
    from streamdeploy.commands.validate import SCHEMA_ID

    findings: list[Finding] = []
    notes = list(facts.notes)

    def found(what: str, fact: Fact, value: Any = None) -> None:
        findings.append(Finding(what, str(fact.value if value is None else value),
                                "detected" if fact.how == "detected" else fact.how, fact.where, fact.why))

    name = facts.name.value if facts.name else "app"
    port = int(facts.port.value)
    start, start_fact, start_notes = start_command(facts, port)
    notes.extend(start_notes)
    found("app", facts.app)
    if facts.procfile is not None:
        found("start", start_fact)
    else:
        found("server", facts.server)
    if facts.dependency_file:
        found("dependencies", facts.dependency_file)
    else:
        notes.append("no requirements.txt or pyproject.toml: create one listing fastapi and uvicorn; "
                     "`install:` assumes requirements.txt")
    if not facts.server.detected:
        notes.append(facts.server.why)
    found("python", facts.python)
    found("port", facts.port)
    if facts.health:
        found("health check", facts.health)
    else:
        notes.append("no /health-like route: add one so platforms can tell a healthy service from a stuck one")
    sse = facts.sse_routes
    sse_paths = sorted({r.path for r in sse})
    if sse:
        findings.append(Finding("SSE routes", ", ".join(sse_paths), "detected",
                                ", ".join(sorted({r.where for r in sse})[:4])))
    volumes = _volumes(facts, port)
    for volume in volumes:
        findings.append(Finding("volume", f"{volume.name} at {volume.mount}" + (f" (${volume.env})" if volume.env else ""),
                                volume.how, volume.where, volume.why))
        if volume.warning:
            notes.append(volume.warning)
    if any(c.kind == "http" for c in facts.chroma) and not facts.persistent_chroma:
        notes.append("the app uses a Chroma server (HttpClient): describe it under `stores:` "
                     "(see examples/scaled/streamdeploy.yaml)")
    volume_envs = {v.env for v in volumes if v.env}
    secrets = [r for r in facts.secrets if r.name not in volume_envs]
    plain = [r for r in facts.plain_env if r.name not in volume_envs]
    for read in secrets:
        findings.append(Finding("secret", read.name, read.how, read.where,
                                "" if read.how == "detected" else "read through a settings helper"))
    required_plain = [r for r in plain if not r.has_default]
    for read in required_plain:
        notes.append(f"the app reads {read.name} ({read.where}) with no default: set it under `env:`")
    if facts.name:
        found("name", facts.name)
    chroma = bool(facts.persistent_chroma) or facts.has("chromadb")
    dashboards = facts.streamlit if facts.has("streamlit") else []
    for extra in dashboards[1:]:
        notes.append(f"another Streamlit script: {extra.value}; add it as a service if it is one")

    doc = _Lines()
    doc.lines.append(f"# yaml-language-server: $schema={SCHEMA_ID}")
    doc.comment(
        f"streamdeploy.yaml for {name}, written by `streamdeploy init` from reading the code in this\n"
        "directory (nothing was imported or run). Values marked \"guessed\" are inferences or defaults:\n"
        "check them, then run `streamdeploy validate` and `streamdeploy check`.\n"
        "Every key is listed by `streamdeploy schema`.",
        wrap=False,
    )
    doc.comment("")
    _summary(doc, findings, notes)

    doc.entry(0, "version", 1)
    doc.entry(0, "name", name, _how(facts.name) if facts.name else None)
    doc.entry(0, "services")
    doc.entry(2, "api")
    doc.entry(4, "build")
    doc.entry(6, "context", ".")
    doc.entry(6, "python", str(facts.python.value), _how(facts.python))
    install = str(facts.dependency_file.value) if facts.dependency_file else "requirements.txt"
    doc.entry(6, "install", install, _how(facts.dependency_file) if facts.dependency_file else
              "guessed: no dependency file found; create it")
    doc.comment(f"{'Your Procfile' if facts.procfile else facts.server.value.capitalize()} serving {facts.app.value} "
                f"({facts.app.where}).", 4)
    if facts.procfile is None and facts.server.value == "uvicorn":  # the flags we chose, explained
        if facts.persistent_chroma:
            doc.comment("--workers 1: embedded Chroma lets one process own its data directory (uvicorn would "
                        "otherwise take the count from $WEB_CONCURRENCY).", 4)
        doc.comment("--forwarded-allow-ips '*': trust the platform's proxy for the client address and https.", 4)
        if sse:
            doc.comment("--timeout-graceful-shutdown: open SSE streams would otherwise hold up every redeploy.", 4)
    doc.entry(4, "start", start)
    doc.entry(4, "port", port, "platforms pass $PORT; the app listens on this one when they do not"
              if facts.port.how != "detected" else _how(facts.port))
    if facts.health:
        doc.entry(4, "health", note=_how(facts.health))
        doc.entry(6, "path", facts.health.value)
        doc.entry(6, "interval", "15s")
        doc.entry(6, "timeout", "5s")
        doc.entry(6, "grace", "30s" if chroma else "20s", "guessed: time to start before checks count")
    else:
        doc.comment("No /health-like route was found. Platforms restart a service whose check fails, so add one,", 4)
        doc.comment('e.g. `@app.get("/health")` returning {"ok": true}, then uncomment:', 4)
        doc.comment("health: {path: /health, interval: 15s, timeout: 5s, grace: 20s}", 4, wrap=False)
    if sse:
        doc.entry(4, "streaming", note=f"detected: SSE at {', '.join(sorted({r.where for r in sse})[:3])}")
        doc.entry(6, "paths", raw=scalar(sse_paths))
        doc.entry(6, "max_duration", "10m", "guessed: the longest a client stays on one stream")
        heartbeat = facts.heartbeat
        doc.entry(6, "heartbeat", units.format_duration(heartbeat.value) if heartbeat else "15s",
                  _how(heartbeat) if heartbeat else "guessed: sse-starlette's default ping; proxies close idle streams")
    if volumes:
        doc.entry(4, "volumes")
        for volume in volumes:
            doc.comment(volume.comment, 6)
            doc.lines.append(" " * 6 + f"- name: {scalar(volume.name)}")
            doc.entry(8, "mount", volume.mount)
            doc.entry(8, "size", "1GB", "guessed: grow it later; shrinking is rarely possible")
            if volume.env:
                doc.entry(8, "env", volume.env, f"the app reads its data path from {volume.env}")
    if plain:
        doc.comment("Settings the app reads from the environment. Those with a default in code work as they are;", 4)
        doc.comment("uncomment one to set it (the value shown is the default in code).", 4)
        doc.comment("env:", 4)
        for read in plain[:MAX_ENV_LISTED]:
            value = read.default if read.default is not None else ""
            tail = f"{read.where}" + ("" if read.has_default else ", no default: set it") + (
                ", guessed" if read.how != "detected" else "")
            doc.comment(f"  {read.name}: {scalar(value)}  # {tail}", 4, wrap=False)
        if len(plain) > MAX_ENV_LISTED:
            doc.comment(f"  ... and {len(plain) - MAX_ENV_LISTED} more", 4)
    if secrets:
        doc.entry(4, "secrets", note="names only: values go to each platform's secret store, never in this file")
        for read in secrets:
            doc.item(6, read.name, f"{read.how}: {read.where}")
    else:
        doc.comment("secrets: [OPENAI_API_KEY]  # names only; none found in the code", 4, wrap=False)
    doc.entry(4, "resources")
    doc.comment("guessed: the smallest size every platform sells with a disk (Render starter, Fly shared-cpu-1x)"
                + ("; Chroma keeps its index in memory, so raise memory as the data grows" if chroma else ""), 6)
    doc.entry(6, "cpu", 0.5)
    doc.entry(6, "memory", "512MB")
    doc.entry(4, "replicas", 1, "embedded Chroma allows one; examples/scaled runs Chroma as a server"
              if facts.persistent_chroma else None)
    if dashboards:
        _dashboard(doc, facts, dashboards[0], findings)
    doc.entry(0, "targets", note="per-platform settings; all optional")
    doc.entry(2, "fly", raw=scalar({"app": name, "region": "iad"}))
    doc.entry(2, "railway", raw=scalar({"project": name, "format": "iac"}))
    doc.entry(2, "render", raw=scalar({"plan": "starter", "region": "oregon"}))
    return Draft(doc.text(), findings, notes)


def _summary(doc: _Lines, findings: list[Finding], notes: list[str]) -> None:
    width = max((len(f.what) for f in findings), default=10)
    for title, how in (("Detected:", ("detected",)), ("Guessed (check these):", ("guessed", "default"))):
        chosen = [f for f in findings if f.how in how]
        if not chosen:
            continue
        doc.comment(title)
        for f in chosen:
            source = f.where if f.how == "detected" else (f.why or f.where)
            shown = f"  ({source})" if source and source != f.value else ""
            doc.comment(f"  {f.what.ljust(width)}  {f.value}{shown}")
    if notes:
        doc.comment("Notes:")
        for note in notes:
            doc.comment(f"  - {note}")


def start_command(facts: AppFacts, port: int) -> tuple[str, Fact, list[str]]:
    """The start command, how we know it, and notes about it."""
    notes: list[str] = []
    if facts.procfile is not None:
        command = str(facts.procfile.value)
        if "$PORT" not in command and "${PORT" not in command:
            notes.append(f"the Procfile's command ({facts.procfile.where}) does not use $PORT; "
                         "platforms that assign a port will not reach it")
        return command, facts.procfile, notes
    target = str(facts.app.value)
    if facts.server.value == "hypercorn":
        argv = ["hypercorn", target, "--bind", f"0.0.0.0:${{PORT:-{port}}}"]
        return " ".join(argv), Fact(" ".join(argv), "guessed", None, "hypercorn, from the dependencies"), notes
    argv = ["uvicorn", shlex.quote(target)]
    if facts.factory:
        argv.append("--factory")
    if facts.app_dir:
        argv += ["--app-dir", shlex.quote(facts.app_dir)]
    argv += ["--host", "0.0.0.0", "--port", f"${{PORT:-{port}}}"]
    if facts.persistent_chroma:
        argv += ["--workers", "1"]
    argv += ["--proxy-headers", "--forwarded-allow-ips", "'*'"]
    if facts.sse_routes:
        argv += ["--timeout-graceful-shutdown", "10"]
    command = " ".join(argv)
    why = "uvicorn on all interfaces, on the port the platform assigns"
    return command, Fact(command, "guessed" if not facts.server.detected else "detected", facts.server.where, why), notes


@dataclass
class _Volume:
    name: str
    mount: str
    env: str | None
    how: str
    where: str
    why: str
    comment: str
    warning: str | None = None


def _volumes(facts: AppFacts, port: int) -> list[_Volume]:
    out: list[_Volume] = []
    seen: set[tuple] = set()
    for use in facts.persistent_chroma:
        key = (use.env, use.path)
        if key in seen:
            continue
        seen.add(key)
        name = "chroma_data" if not out else f"chroma_data_{len(out) + 1}"
        out.append(_chroma_volume(use, name, len(out)))
    return out


def _chroma_volume(use: ChromaUse, name: str, index: int) -> _Volume:
    mount = f"{VOLUME_ROOT}/chroma" if index == 0 else f"{VOLUME_ROOT}/chroma{index + 1}"
    if use.env:
        default = f", default {use.default!r} in code" if use.default else ""
        how = use.how
        why = f"PersistentClient's path comes from ${use.env}{default}"
        comment = (f"Chroma's PersistentClient ({use.where}) stores its data at ${use.env}: the volume is "
                   f"mounted at {mount} and {use.env} is set to that path.")
        return _Volume(name, mount, use.env, how, use.where, why, comment)
    if use.path:
        absolute = use.path.startswith("/")
        path = posixpath.normpath(use.path if absolute else posixpath.join(WORKDIR, use.path))
        comment = f"Chroma's PersistentClient ({use.where}) stores its data at {use.path!r}"
        if absolute:
            return _Volume(name, path, None, "detected", use.where, f"PersistentClient(path={use.path!r})",
                           comment + ".")
        warning = (f"PersistentClient at {use.where} uses the relative path {use.path!r}; the volume is mounted at "
                   f"{path} (the app runs from {WORKDIR}). Safer: read the path from an env var, e.g. "
                   f"os.environ.get('CHROMA_DB_PATH', {use.path!r}), and add `env: CHROMA_DB_PATH` to the volume")
        return _Volume(name, path, None, "guessed", use.where, f"relative path {use.path!r} under {WORKDIR}",
                       comment + f", relative to {WORKDIR} where the app runs.", warning)
    warning = (f"could not tell where PersistentClient at {use.where} stores its data; make it read "
               f"os.environ['CHROMA_DB_PATH'] and add `env: CHROMA_DB_PATH` to the volume, or data will not "
               f"land on it")
    return _Volume(name, mount, None, "guessed", use.where, "path not readable from the code",
                   f"Chroma's PersistentClient ({use.where}): its path could not be read from the code; "
                   f"point it at {mount}.", warning)


def _dashboard(doc: _Lines, facts: AppFacts, script: Fact, findings: list[Finding]) -> None:
    from streamdeploy.detect import STREAMLIT_PORT

    findings.append(Finding("dashboard", str(script.value), "detected", str(script.value), script.why))
    install = _nearest_requirements(facts.root, str(script.value)) or (
        str(facts.dependency_file.value) if facts.dependency_file else "requirements.txt")
    doc.entry(2, "admin", note=f"detected: Streamlit app {script.value} ({script.why})")
    doc.entry(4, "build")
    doc.entry(6, "python", str(facts.python.value))
    doc.entry(6, "install", install)
    start = (f"streamlit run {shlex.quote(str(script.value))} --server.port ${{PORT:-{STREAMLIT_PORT}}} "
             "--server.address 0.0.0.0 --server.headless true")
    doc.entry(4, "start", start)
    doc.entry(4, "port", STREAMLIT_PORT)
    doc.entry(4, "health", raw=scalar({"path": "/_stcore/health", "interval": "30s", "timeout": "10s", "grace": "30s"}),
              note="Streamlit's own health endpoint")
    doc.entry(4, "resources", raw=scalar({"cpu": 0.5, "memory": "512MB"}), note="guessed")


def _nearest_requirements(root: Path, script: str) -> str | None:
    """requirements.txt next to the script or in a folder above it (below the root)."""
    parts = Path(script).parts[:-1]
    for depth in range(len(parts), 0, -1):
        candidate = root.joinpath(*parts[:depth], "requirements.txt")
        if candidate.is_file():
            return Path(*parts[:depth], "requirements.txt").as_posix()
    return None
