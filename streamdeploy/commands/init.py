"""`streamdeploy init [DIR]`: read an existing app and write a commented streamdeploy.yaml.

The file is text assembled line by line, because its comments are the point: each value
says whether it was detected (and where) or guessed (and why). Every value goes through
YAML's own emitter, so a quote, colon or ``#`` in a detected name cannot break the file.
The result is loaded with the same loader as ``validate`` before anything is written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamdeploy import console, exitcodes, loader
from streamdeploy.commands import init_state
from streamdeploy.detect import AppFacts, Fact, dns_label, scan_app
from streamdeploy.problems import ProblemsError, fail

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
    volumes, volume_notes = init_state.volumes(facts)
    for volume in volumes:
        findings.append(Finding("volume", f"{volume.name} at {volume.mount}" + (f" (${volume.env})" if volume.env else ""),
                                volume.how, volume.where, volume.why))
        if volume.warning:
            notes.append(volume.warning)
    notes.extend(n.text for n in volume_notes)
    for use in facts.chroma:
        if use.kind == "ephemeral":
            notes.append(f"{use.via} at {use.where} keeps its data in memory: it is gone at every restart "
                         "and deploy (give it a persist directory to keep it)")
    servers = [c for c in facts.chroma if c.kind == "http"]
    store = "chroma" if servers and not facts.persistent_chroma else None
    if store:
        first = servers[0]
        findings.append(Finding("Chroma server", "stores.chroma (a server of its own)", "detected", first.where,
                                f"{first.via}"))
        other = [e for e in (first.host_env, first.port_env) if e and e not in ("CHROMA_HOST", "CHROMA_PORT")]
        if other:
            notes.append(f"the app reads the Chroma server's address from {' and '.join(other)} ({first.where}); "
                         "`store: chroma` sets CHROMA_HOST and CHROMA_PORT: read those, or the app will not find it")
        elif not (first.host_env or first.port_env):
            notes.append(f"{first.via} at {first.where} does not read its host from the environment; make it read "
                         "CHROMA_HOST and CHROMA_PORT, which `store: chroma` sets")
    excludes = list(dict.fromkeys(x for x in [*(v.exclude for v in volumes), *(n.exclude for n in volume_notes)] if x))
    service_urls = {n.env: n.what for n in facts.needs if n.env and n.kind != "model"}
    for need in facts.needs:
        notes.append(_need_note(need))
    volume_envs = {v.env for v in volumes if v.env}
    set_env: dict[str, str] = {k: v for vol in volumes for k, v in vol.env_values.items()}
    stream = init_state.stream_route(facts)
    auth = {_secret_of(r.auth) for r in facts.routes if r.auth}
    reads = [r for r in facts.env_names() if r.name not in volume_envs and r.name not in set_env
             and (r.secret or r.name in service_urls)]
    secret_plans = init_state.secrets(facts, reads, auth, service_urls)
    secret_names = {n for plan in secret_plans for n in plan.names}
    plain = [r for r in facts.plain_env if r.name not in volume_envs and r.name not in set_env
             and r.name not in secret_names]
    for plan in secret_plans:
        findings.append(Finding("secret", scalar(plan.entry), plan.note.split(":")[0], None, plan.note))
    required_plain = [r for r in plain if not r.has_default]
    for read in required_plain:
        notes.append(f"the app reads {read.name} ({read.where}) with no default: set it under `env:`")
    if facts.name:
        found("name", facts.name)
    for worker in facts.workers:
        findings.append(Finding("worker", worker.start, "detected", worker.file, worker.why))
        if worker.shares:
            notes.append(f"the worker {worker.file} opens the same data as the app ({', '.join(worker.shares)}): "
                         "embedded Chroma and SQLite take one writer, and most platforms attach a volume to one "
                         "service only; run Chroma as a server (stores:) so both can use it")
    chroma = bool(facts.persistent_chroma) or facts.has("chromadb")
    dashboards = facts.streamlit if facts.has("streamlit") else []
    for extra in dashboards[1:]:
        notes.append(f"another Streamlit script: {extra.value}; add it as a service if it is one")
    heartbeat_none = any(not r.heartbeat for r in sse)
    if heartbeat_none:
        plain_routes = ", ".join(sorted({f"{r.method} {r.path}" for r in sse if not r.heartbeat}))
        notes.append(f"{plain_routes} stream{'s' if ',' not in plain_routes else ''} with a plain StreamingResponse, "
                     "which sends no heartbeat: proxies with an idle cutoff end a quiet stream (`check` says where); "
                     "sse-starlette's EventSourceResponse sends one every 15 s")

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
    _build(doc, facts, excludes)
    doc.comment(f"{'Your Procfile' if facts.procfile else facts.server.value.capitalize()} serving {facts.app.value} "
                f"({facts.app.where}).", 4)
    if facts.procfile is None and facts.server.value == "uvicorn":  # the flags we chose, explained
        doc.comment("--host ${HOST:-0.0.0.0}: all interfaces on a platform; `up --target local` sets HOST=127.0.0.1.", 4)
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
        if heartbeat_none:
            doc.entry(6, "heartbeat", raw="null", note="detected: a plain StreamingResponse sends no keep-alive")
        else:
            doc.entry(6, "heartbeat", units.format_duration(heartbeat.value) if heartbeat else "15s",
                      _how(heartbeat) if heartbeat else "guessed: sse-starlette's default ping; proxies close idle streams")
    if volumes:
        doc.entry(4, "volumes")
        for volume in volumes:
            _volume(doc, volume, 6)
    if store:
        doc.entry(4, "store", store, "the app talks to a Chroma server; stores.chroma runs it, CHROMA_HOST/PORT point at it")
    _env(doc, set_env, plain)
    if secret_plans:
        doc.entry(4, "secrets", note="names only: values go to each platform's secret store, never in this file")
        for plan in secret_plans:
            doc.item(6, plan.entry, plan.note)
    else:
        doc.comment("secrets: [OPENAI_API_KEY]  # names only; none found in the code", 4, wrap=False)
    doc.entry(4, "resources")
    doc.comment("guessed: the smallest size every platform sells with a disk (Render starter, Fly shared-cpu-1x)"
                + ("; Chroma keeps its index in memory, so raise memory as the data grows" if chroma else ""), 6)
    doc.entry(6, "cpu", 0.5)
    doc.entry(6, "memory", "512MB")
    doc.entry(4, "replicas", 1, "embedded Chroma allows one; examples/scaled runs Chroma as a server"
              if facts.persistent_chroma else None)
    _verify(doc, facts, stream)
    for worker in facts.workers:
        _worker(doc, facts, worker, volumes, excludes)
    if dashboards:
        _dashboard(doc, facts, dashboards[0], findings)
    if store:
        doc.entry(0, "stores", note="Chroma as a server of its own, on its own volume")
        doc.entry(2, "chroma", raw=scalar({"engine": "chroma"}))
    doc.entry(0, "targets", note="per-platform settings; all optional")
    doc.entry(2, "fly", raw=scalar({"app": name, "region": "iad"}))
    doc.entry(2, "railway", raw=scalar({"project": name, "format": "iac"}))
    doc.entry(2, "render", raw=scalar({"plan": "starter", "region": "oregon"}))
    return Draft(doc.text(), findings, notes)


def _secret_of(auth: tuple[str, str] | None) -> str:
    match = re.search(r"\$\{([A-Za-z_]\w*)\}", auth[1]) if auth else None
    return match.group(1) if match else ""


def _need_note(need) -> str:
    when = "when it starts" if need.at_start else "when a request needs it"
    if need.kind == "model":
        who = "every cold start needs the network and waits" if need.at_start else \
            "the first request after each deploy needs the network and waits"
        return (f"the app downloads {need.what} from a model hub {when} ({need.where}): {who} for it. Bake it "
                "into the image (a build command that loads it once, with HF_HOME set to a folder of the app) or "
                "keep the cache on a volume")
    address = f" at ${need.env}" if need.env else ""
    return (f"the app connects to {need.what}{address} {when} ({need.where}); nothing here creates it: add one on "
            f"your platform" + (f" and set {need.env} (listed under secrets: it carries a password)" if need.env else
                                 ", and read its address from an env var"))


def _build(doc: _Lines, facts: AppFacts, excludes: list[str], indent: int = 4) -> None:
    doc.entry(indent, "build")
    doc.entry(indent + 2, "context", facts.context, "detected: the app's own dependency file is here"
              if facts.context != "." else None)
    doc.entry(indent + 2, "python", str(facts.python.value), _how(facts.python))
    install = str(facts.dependency_file.value) if facts.dependency_file else "requirements.txt"
    doc.entry(indent + 2, "install", install, _how(facts.dependency_file) if facts.dependency_file else
              "guessed: no dependency file found; create it")
    if excludes:
        doc.entry(indent + 2, "exclude", raw=scalar(excludes),
                  note="the app's local data: kept out of the image (.dockerignore)")


def _volume(doc: _Lines, volume: init_state.VolumePlan, indent: int) -> None:
    doc.comment(volume.comment, indent)
    doc.lines.append(" " * indent + f"- name: {scalar(volume.name)}")
    doc.entry(indent + 2, "mount", volume.mount)
    doc.entry(indent + 2, "size", "1GB", "guessed: grow it later; shrinking is rarely possible")
    if volume.env:
        doc.entry(indent + 2, "env", volume.env, f"the app reads its data path from {volume.env}")


def _env(doc: _Lines, set_env: dict[str, str], plain: list) -> None:
    if set_env:
        doc.entry(4, "env")
        for key, value in set_env.items():
            doc.entry(6, key, value, "on the volume; a local run points it at the local volume directory")
    if plain:
        doc.comment("Settings the app reads from the environment. Those with a default in code work as they are;", 4)
        doc.comment("uncomment one to set it (the value shown is the default in code).", 4)
        if not set_env:
            doc.comment("env:", 4)
        for read in plain[:MAX_ENV_LISTED]:
            value = read.default if read.default is not None else ""
            tail = f"{read.where}" + ("" if read.has_default else ", no default: set it") + (
                ", guessed" if read.how != "detected" else "")
            doc.comment(f"  {read.name}: {scalar(value)}  # {tail}", 4, wrap=False)
        if len(plain) > MAX_ENV_LISTED:
            doc.comment(f"  ... and {len(plain) - MAX_ENV_LISTED} more", 4)


def _verify(doc: _Lines, facts: AppFacts, stream) -> None:
    pair = init_state.write_read(facts)
    check = init_state.stream_check(stream)
    if pair is None and check is None:
        return
    doc.entry(4, "verify", note="how `streamdeploy verify` proves the service works and keeps its data")
    if pair is not None:
        write, read = pair
        doc.entry(6, "write", raw=scalar(write), note="guessed: stores a document under the marker")
        doc.entry(6, "read", raw=scalar(read), note="guessed: reads it back")
    if check is not None:
        doc.entry(6, "stream", raw=scalar(check), note=f"guessed: {stream.method} {stream.path} ({stream.where})")


def _worker(doc: _Lines, facts: AppFacts, worker, volumes: list, excludes: list[str]) -> None:
    name = "worker" if worker is facts.workers[0] else dns_label(worker.module.rpartition(".")[2]) or "worker"
    doc.entry(2, name, note=f"detected: {worker.why}")
    _build(doc, facts, excludes)
    doc.entry(4, "start", worker.start)
    shared = [v for v in volumes if any(key.split(":", 1)[1] in (v.env, v.mount) or v.kind in key
                                        for key in worker.shares)]
    if shared:
        doc.entry(4, "volumes", note="the same data as api: one writer at a time (see the notes above)")
        for volume in shared:
            _volume(doc, volume, 6)
    doc.entry(4, "resources", raw=scalar({"cpu": 0.5, "memory": "512MB"}), note="guessed")


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
        argv = ["hypercorn", target, "--bind", f"${{HOST:-0.0.0.0}}:${{PORT:-{port}}}"]
        return " ".join(argv), Fact(" ".join(argv), "guessed", None, "hypercorn, from the dependencies"), notes
    argv = ["uvicorn", shlex.quote(target)]
    if facts.factory:
        argv.append("--factory")
    if facts.app_dir:
        argv += ["--app-dir", shlex.quote(facts.app_dir)]
    argv += ["--host", "${HOST:-0.0.0.0}", "--port", f"${{PORT:-{port}}}"]
    if facts.persistent_chroma:
        argv += ["--workers", "1"]
    argv += ["--proxy-headers", "--forwarded-allow-ips", "'*'"]
    if facts.sse_routes:
        argv += ["--timeout-graceful-shutdown", "10"]
    command = " ".join(argv)
    why = "uvicorn on all interfaces, on the port the platform assigns"
    return command, Fact(command, "guessed" if not facts.server.detected else "detected", facts.server.where, why), notes


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
