"""What each platform can and cannot do for this description: the facts, and `check`.

The facts live in ``platforms.toml`` (value, unit, date, source for each; read through
``platforms_table.py``, generated from it); this module loads them and turns a description
plus a list of targets into :class:`Finding` s.
A finding is an *error* when the service will not work or data is at risk, a *warning*
when it works with a caveat, and *info* when it is good to know.

Findings that do not depend on the platform (memory too small for the stack, a health
path the app does not serve) carry ``target="any"`` and are reported once.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from streamdeploy import units
from streamdeploy.records import factory, record

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
ANY = "any"  # the `target` of findings that hold on every platform

# Measured on CPython 3.11 with chromadb 1.5.9, FastAPI 0.165, uvicorn 0.54, sse-starlette 3.7
# (shared/research/feasibility.md, 2026-11-22). They set the memory thresholds below.
WEB_IDLE_RSS = 49_000_000  # uvicorn + FastAPI + sse-starlette, idle
CHROMA_IMPORT_RSS = 78_000_000  # `import chromadb` (onnxruntime, tokenizers, numpy come with it)
CHROMA_10K_RSS = 192_000_000  # PersistentClient holding 10,000 documents x 384 dims (maxrss)
STREAM_RSS = 52_000  # one open SSE stream
FEASIBILITY_SOURCE = "shared/research/feasibility.md (measured 2026-11-22)"
# Chroma's own statement that PersistentClient is not process-safe.
CHROMA_SINGLE_WRITER = "https://github.com/chroma-core/chroma/issues/421"

_EMBEDDED_HINT = re.compile(r"chroma|sqlite|lancedb|duckdb|(^|[_/-])db($|[_/-])", re.IGNORECASE)


# ----------------------------------------------------------------------------- facts


@record(frozen=True)
class Fact:
    """One statement about a platform, with where and when it was made."""

    value: Any  # None when no source states it ("unknown" in the data file)
    unit: str | None = None
    as_of: str | None = None
    source: str | None = None
    confidence: Literal["doc", "3p", "unverified"] = "doc"
    note: str | None = None
    date: str | None = None  # a date the fact is about (a cutoff)
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def none(self) -> bool:
        """The source says there is no such limit."""
        return self.value == "none"

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.extra).get(name, default)

    def why(self, summary: str | None = None) -> str:
        """The fact as a sentence for a finding's `why`, with its date and confidence."""
        text = summary or self.note or str(self.value)
        tags = [f"as of {self.as_of}"] if self.as_of else []
        if self.confidence == "3p":
            tags.append("third-party source")
        elif self.confidence == "unverified":
            tags.append("unverified")
        return f"{text} ({', '.join(tags)})" if tags else text


UNKNOWN = Fact(None)


@record(frozen=True)
class Platform:
    name: str
    title: str
    kind: str  # paas | serverless | cluster | host | local
    target: str | None  # the render/up target for it, if streamdeploy has one
    facts: dict[str, Fact]
    pricing: dict[str, Any]  # raw pricing table; pricing.py reads it
    ship_needs: tuple[str, ...] = ()  # targets.<target> settings `up` needs ("a|b": either)

    def fact(self, key: str) -> Fact:
        return self.facts.get(key, UNKNOWN)

    def price(self, key: str) -> Fact:
        raw = self.pricing.get(key)
        return _fact(raw) if isinstance(raw, dict) else UNKNOWN


def _fact(raw: dict) -> Fact:
    known = {"value", "unit", "as_of", "source", "confidence", "note", "date"}
    value = raw.get("value")
    return Fact(
        value=None if value == "unknown" else value,
        unit=raw.get("unit"),
        as_of=str(raw["as_of"]) if "as_of" in raw else None,
        source=raw.get("source"),
        confidence=raw.get("confidence", "doc"),
        note=raw.get("note"),
        date=str(raw["date"]) if "date" in raw else None,
        extra=tuple(sorted((k, v) for k, v in raw.items() if k not in known)),
    )


def _data() -> dict:
    """platforms.toml, as tools/platforms_table.py wrote it out (no TOML parsing at run time)."""
    from streamdeploy.platforms_table import DATA

    return DATA


@lru_cache(maxsize=1)
def platforms() -> dict[str, Platform]:
    """Every platform in the model, in the order of the data file."""
    out = {}
    for name, table in _data().items():
        if not isinstance(table, dict) or "facts" not in table:
            continue
        out[name] = Platform(
            name=name,
            title=table["title"],
            kind=table["kind"],
            target=table.get("target"),
            facts={key: _fact(raw) for key, raw in table["facts"].items()},
            pricing=dict(table.get("pricing", {})),
            ship_needs=tuple(table.get("ship_needs", ())),
        )
    return out


def names() -> list[str]:
    """What `check --target all` and `compare` cover: the platforms that can host a service.
    An edge layer (Cloudflare Workers) runs in front of one; `check --target cloudflare` asks about it."""
    return [name for name, p in platforms().items() if p.kind != "edge"]


def shippable(name: str, spec: Any = None) -> bool:
    """streamdeploy renders and ships to this platform (it has a target); the rest it advises on.

    A target that cannot ship without settings the description does not give (``ship_needs``
    in platforms.toml: Cloud Run's project, Fargate's image) is advice too until they are set."""
    p = platform(name)
    if p.target is None:
        return False
    if spec is None:
        return True
    config = getattr(spec.targets, p.target, None)
    return all(any(getattr(config, key, None) for key in need.split("|")) for need in p.ship_needs)


def blocked(findings: list["Finding"]) -> set[str]:
    """The targets these findings say the service cannot run on (``ANY``: none at all)."""
    return {f.target for f in findings if f.severity == "error"}


def runnable(findings: list["Finding"], names: list[str]) -> list[str]:
    """Of ``names``, the targets this service can run on as described: the one rule that
    `check`'s exit code, `render --target all`'s skipping and `compare`'s verdicts share."""
    stopped = blocked(findings)
    return [] if ANY in stopped else [n for n in names if n not in stopped]


def aliases() -> dict[str, str]:
    """Target names that run on the same kind of host as a platform (docker -> compose)."""
    return dict(_data().get("aliases", {}))


def checked_on() -> str:
    return str(_data().get("checked", ""))


def platform(name: str) -> Platform:
    """The facts for a platform or a target name (``docker`` is a single host like compose)."""
    return platforms()[aliases().get(name, name)]


def known(name: str) -> bool:
    return name in platforms() or name in aliases()


# ----------------------------------------------------------------------------- findings


@record(frozen=True)
class Finding:
    severity: Severity
    target: str  # a platform or target name, or "any"
    key: str  # dotted key path in the description, e.g. services.api.replicas
    message: str  # what is wrong
    why: str  # the fact behind it
    source: str | None  # where the fact is written
    fix: str | None
    rule: str  # a stable id, e.g. "volume-unsupported"
    file: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
        return ":".join(parts)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@record(frozen=True)
class _Raw:
    severity: Severity
    path: tuple
    message: str
    why: str
    source: str | None
    fix: str | None
    rule: str


def check(loaded: Any, targets: list[str], *, today: date | None = None) -> list[Finding]:
    """Findings for these targets (platform or target names), most severe first.

    ``loaded`` is a :class:`streamdeploy.loader.Loaded`. ``today`` decides date-bound
    facts such as Railway's legacy config cutoff; it defaults to :func:`clock.today`.
    """
    from streamdeploy import clock, loader

    for name in targets:
        if not known(name):
            raise ValueError(f"no capability facts for target {name!r}")
    ctx = _Context(loaded=loaded, today=today or clock.today())
    display = loader._display(loaded.path)
    raw: list[tuple[str, _Raw]] = [(ANY, r) for r in _general(ctx)]
    # A platform's own name before an alias of it, so `docker` + `compose` report once, as compose.
    asked = sorted(dict.fromkeys(targets), key=lambda n: n in aliases())
    for name in asked:
        raw.extend((name, r) for r in _for_platform(ctx, name, platform(name)))
    findings, seen = [], set()
    for target, r in raw:
        line_col = loaded.positions.of(r.path)
        finding = Finding(
            severity=r.severity,
            target=target,
            key=loader.dotted(r.path),
            message=r.message,
            why=r.why,
            source=r.source,
            fix=r.fix,
            rule=r.rule,
            file=display,
            line=line_col[0] if line_col else None,
            column=line_col[1] if line_col else None,
        )
        same_facts = target if target == ANY else platform(target).name
        identity = (same_facts, finding.key, finding.rule, finding.message)
        if identity not in seen:
            seen.add(identity)
            findings.append(finding)
    order = {t: i for i, t in enumerate([ANY, *dict.fromkeys(targets)])}
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), order[f.target], f.line or 0))
    return findings


# ----------------------------------------------------------------------------- context


@record
class _Context:
    loaded: Any
    today: date
    _deps: dict = factory(dict)
    _routes: dict = factory(dict)

    @property
    def spec(self) -> Any:
        return self.loaded.spec

    @property
    def root(self) -> Path:
        return self.loaded.root

    def app_dir(self, service: Any) -> Path:
        return (self.root / service.build.context).resolve()

    def dependencies(self, service: Any) -> set[str]:
        """Distribution names in the service's dependency file (empty if it is not at hand)."""
        path = self.app_dir(service) / service.build.install
        if path not in self._deps:
            self._deps[path] = _read_dependencies(path)
        return self._deps[path]

    def facts(self, service: Any) -> Any:
        """What `detect.scan_app` reads in the service's source; None when it is not at hand."""
        where = self.app_dir(service)
        if where not in self._routes:
            self._routes[where] = _scan(where)
        return self._routes[where]

    def routes(self, service: Any) -> list | None:
        """Routes the app serves, from `detect.scan_app`; None when the source is not at hand."""
        facts = self.facts(service)
        return list(facts.routes) or None if facts is not None else None


def _read_dependencies(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    lines: list[str] = []
    if path.suffix == ".toml":
        import tomllib

        try:
            project = tomllib.loads(text).get("project", {})
        except tomllib.TOMLDecodeError:
            return set()
        lines = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            lines.extend(extra)
    else:
        lines = text.splitlines()
    out = set()
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match:
            out.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return out


def _scan(where: Path) -> Any:
    """What check needs from the app's source (routes, the app object, what it needs at run
    time), from `detect.scan_app` or the cache of its last answer for the same files."""
    from streamdeploy import source_facts

    return source_facts.read(where)


# ----------------------------------------------------------------------------- what is being deployed


@record(frozen=True)
class _Disk:
    """A volume a platform must provide: a service's volume or a store's data."""

    path: tuple  # key path of the volume entry / the store
    owner: str  # services.<name> or stores.<name>
    name: str
    mount: str | None
    size: int


def _disks(ctx: _Context, p: Platform | None = None) -> list[_Disk]:
    """Volumes the platform must provide; a store that runs elsewhere for it
    (`targets.<target>.store_urls`) needs none there."""
    from streamdeploy.description import store_urls

    elsewhere = store_urls(ctx.spec, p.target) if p is not None and p.target else {}
    out = []
    for name, service in ctx.spec.services.items():
        for i, volume in enumerate(service.volumes):
            out.append(_Disk(("services", name, "volumes", i), f"services.{name}", volume.name, volume.mount,
                             volume.size))
    for name, store in ctx.spec.stores.items():
        if name not in elsewhere:
            out.append(_Disk(("stores", name), f"stores.{name}", name, None, store.size))
    return out


def _embedded_store(ctx: _Context, service: Any) -> bool:
    """Does this service keep a database in its own files (Chroma PersistentClient, SQLite)?"""
    if service.store is not None:
        return any(_EMBEDDED_HINT.search(v.name + " " + v.mount + " " + (v.env or "")) for v in service.volumes)
    if not service.volumes:
        return False
    return "chromadb" in ctx.dependencies(service) or any(
        _EMBEDDED_HINT.search(v.name + " " + v.mount + " " + (v.env or "")) for v in service.volumes
    )


def _chroma_fix(service_name: str) -> str:
    return (f"run Chroma as a server: add `stores: {{chroma: {{engine: chroma}}}}` and `store: chroma` to "
            f"services.{service_name} (drop its volume), as in examples/scaled; or keep replicas: 1 and one worker")


# ----------------------------------------------------------------------------- rules that hold everywhere


def _general(ctx: _Context) -> Iterator[_Raw]:
    for name, service in ctx.spec.services.items():
        yield from _build_files(ctx, name, service)
        yield from _workers_with_embedded(ctx, name, service)
        yield from _memory_for_stack(ctx, name, service)
        yield from _routes_served(ctx, name, service)
        yield from _app_needs(ctx, name, service)
        yield from _ipv6_only(name, service)
    yield from _shared_volumes(ctx)
    for name, store in ctx.spec.stores.items():
        yield from _store_memory(name, store)


def _build_files(ctx: _Context, name: str, service: Any) -> Iterator[_Raw]:
    """What every build reads is there: the context, and the dependency file or your Dockerfile."""
    build, base = service.build, ("services", name, "build")
    here = f"next to {ctx.loaded.path.name}"
    fix = f"put {ctx.loaded.path.name} next to the app's code, or point build.context and build.install at it"
    context = ctx.app_dir(service)
    if not context.is_dir():
        yield _Raw("error", base + ("context",), f"build context `{build.context}` is not a folder {here}",
                   "every image build and `up --target local` start there", None, fix, "build-context-missing")
    elif build.dockerfile != "auto":
        if not (ctx.root / build.dockerfile).is_file():
            yield _Raw("error", base + ("dockerfile",), f"`{build.dockerfile}` does not exist {here}",
                       "the image is built from it", None, "fix build.dockerfile, or use `auto`",
                       "build-dockerfile-missing")
    elif not (context / build.install).is_file():
        where = "" if build.context in (".", "./") else f" in `{build.context}`"
        yield _Raw("error", base + ("install",), f"`{build.install}` does not exist{where} {here}",
                   "the generated Dockerfile copies it to install the dependencies, so every build stops "
                   "there, as does `up --target local`", None, fix, "build-install-missing")


# Servers whose `::` listener takes IPv6 only: asyncio's create_server sets IPV6_V6ONLY (uvicorn),
# and so does tornado's bind_sockets (streamlit). Measured here: uvicorn --host :: refuses 127.0.0.1.
_V6ONLY_ON_WILDCARD = {"uvicorn", "streamlit run"}


def _ipv6_only(name: str, service: Any) -> Iterator[_Raw]:
    from streamdeploy import consistency

    try:
        listened = consistency._listen(service)
    except ValueError:
        return
    if (listened and listened[0] in _V6ONLY_ON_WILDCARD and service.is_web
            and consistency.listen_host(service) == "::"):
        yield _Raw("warning", ("services", name, "start"),
                   f"`{name}` listens on `::`, which {listened[0].split()[0]} takes as IPv6 only: IPv4 clients are "
                   "refused, so the image's HEALTHCHECK (127.0.0.1), Kubernetes probes on an IPv4 pod address and "
                   "proxies that connect over IPv4 never reach it",
                   "Python's asyncio (uvicorn) and tornado (streamlit) set IPV6_V6ONLY on a `::` socket", None,
                   "bind 0.0.0.0 (`--host ${HOST:-0.0.0.0}` with no HOST in env); on Fly, reach a private "
                   "service through Flycast (`public: false`)", "ipv6-only-listener")


def _workers_with_embedded(ctx: _Context, name: str, service: Any) -> Iterator[_Raw]:
    workers = service.workers
    if workers <= 1 or not service.volumes:
        return
    base = ("services", name, "start")
    if _embedded_store(ctx, service):
        yield _Raw("error", base, f"{workers} worker processes share one embedded database on a volume",
                   "Chroma's PersistentClient (like SQLite) is not process-safe: one process may write its files",
                   CHROMA_SINGLE_WRITER, _chroma_fix(name), "workers-embedded-store")
    else:
        yield _Raw("warning", base, f"{workers} worker processes write to the same volume",
                   "several processes writing the same files need their own locking", None,
                   "make sure the app can share these files between processes, or run one worker", "workers-volume")


def _stack_need(ctx: _Context, service: Any) -> tuple[int, int, str] | None:
    """(bytes to start, bytes to work comfortably, what) for the stack the service declares."""
    deps = ctx.dependencies(service)
    if "chromadb" in deps:
        start = WEB_IDLE_RSS + CHROMA_IMPORT_RSS
        if service.store is None and service.volumes:
            return start, 512_000_000, "embedded Chroma"
        return start, 256_000_000, "the Chroma client"
    if deps & {"fastapi", "uvicorn", "starlette", "sse-starlette"}:
        return WEB_IDLE_RSS, 128_000_000, "uvicorn + FastAPI"
    return None


def _memory_for_stack(ctx: _Context, name: str, service: Any) -> Iterator[_Raw]:
    need = _stack_need(ctx, service)
    if need is None:
        return
    start, comfortable, what = need
    workers = max(1, service.workers)
    memory = service.resources.memory
    path = ("services", name, "resources", "memory")
    have = units.format_size(memory)
    why = (f"measured: uvicorn + FastAPI + sse-starlette idle at {WEB_IDLE_RSS // 1_000_000} MB, "
           f"`import chromadb` {CHROMA_IMPORT_RSS // 1_000_000} MB, an embedded collection of 10k documents "
           f"{CHROMA_10K_RSS // 1_000_000} MB, each open stream ~{STREAM_RSS // 1000} KB")
    if memory < start * workers:
        yield _Raw("error", path, f"{have} is less than {what} needs to start "
                   f"(~{start * workers // 1_000_000} MB for {workers} worker{'s' if workers > 1 else ''})",
                   why, FEASIBILITY_SOURCE, f"give it at least {units.format_size(comfortable * workers)}",
                   "memory-below-start")
    elif memory < comfortable * workers:
        yield _Raw("warning", path, f"{have} leaves little room for {what} once data and streams grow",
                   why + f"; {units.format_size(comfortable)} per worker keeps headroom for the index, "
                   "an embedding model and streams", FEASIBILITY_SOURCE,
                   f"resources.memory: {units.format_size(comfortable * workers)}", "memory-tight")


def _store_memory(name: str, store: Any) -> Iterator[_Raw]:
    memory = store.resources.memory
    path = ("stores", name, "resources", "memory")
    why = (f"an embedded Chroma collection of 10k documents measured {CHROMA_10K_RSS // 1_000_000} MB; "
           "the server keeps the same index in memory (the server itself was not measured)")
    if memory < CHROMA_IMPORT_RSS:
        yield _Raw("error", path, f"{units.format_size(memory)} is too little for a Chroma server to start",
                   why, FEASIBILITY_SOURCE, "resources: {memory: 1GB}", "memory-below-start")
    elif memory < 512_000_000:
        yield _Raw("warning", path, f"{units.format_size(memory)} leaves little room for the Chroma index",
                   why, FEASIBILITY_SOURCE, "resources: {memory: 1GB}", "memory-tight")


def _route_pattern(path: str) -> re.Pattern:
    pattern = ""
    for part in re.split(r"(\{[^}]*\})", path.rstrip("/") or "/"):
        if part.startswith("{"):
            pattern += ".+" if part.endswith(":path}") else "[^/]+"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$")


def _serves(routes: list, path: str) -> Any:
    for route in routes:
        if _route_pattern(str(getattr(route, "path", ""))).match(path):
            return route
    return None


# Servers that run the ASGI/WSGI app whose routes the scanner reads. Other programs
# (streamlit, a Node server) serve routes of their own that no scan of Python code sees.
_APP_SERVERS = {"uvicorn", "gunicorn", "hypercorn", "granian", "daphne", "fastapi"}


def _runs_scanned_app(service: Any) -> bool:
    try:
        argv = shlex.split(service.start)
    except ValueError:
        return False
    words = [Path(a).name for a in argv if "=" not in a][:4]
    return bool(_APP_SERVERS.intersection(words))


def _routes_served(ctx: _Context, name: str, service: Any) -> Iterator[_Raw]:
    if not service.is_web or (service.health is None and service.streaming is None):
        return
    if not _runs_scanned_app(service):
        return
    routes = ctx.routes(service)
    if not routes:
        return
    where = ctx.app_dir(service)
    seen = ", ".join(sorted({str(r.path) for r in routes})[:8])
    why = f"routes found in {_shown(where)}: {seen}"
    # A router mounted under a prefix the scanner could not work out may serve the path after all.
    unsure = any(getattr(r, "resolved", True) is False for r in routes)
    level: Severity = "info" if unsure else "warning"
    if unsure:
        why += "; some routers' prefixes could not be worked out"
    if service.health is not None and _serves(routes, service.health.path) is None:
        yield _Raw(level, ("services", name, "health", "path"),
                   f"the app does not seem to serve {service.health.path}",
                   why, None, "point health.path at a route that answers 200, or add one "
                   "(e.g. @app.get('/health'))", "health-path-not-served")
    if service.streaming is None:
        return
    for i, path in enumerate(service.streaming.paths):
        if _serves(routes, path) is None:
            yield _Raw(level, ("services", name, "streaming", "paths", i),
                       f"the app does not seem to serve the stream {path}", why, None,
                       "list the paths that answer with text/event-stream", "stream-path-not-served")
    for route in routes:
        if getattr(route, "sse", False) and not any(_route_pattern(str(route.path)).match(p) or p == route.path
                                                     for p in service.streaming.paths):
            yield _Raw("info", ("services", name, "streaming", "paths"),
                       f"{route.path} streams SSE ({_shown(Path(str(route.file)))}:{route.line}) but is not "
                       "in streaming.paths", "platform limits are checked for listed stream paths only", None,
                       f"add {route.path} to streaming.paths", "stream-path-unlisted")


def _app_needs(ctx: _Context, name: str, service: Any) -> Iterator[_Raw]:
    """What the app's code needs when it runs that no platform gives it by itself."""
    if not service.is_web or not _runs_scanned_app(service):
        return
    facts = ctx.facts(service)
    if facts is None or not facts.app:
        return
    given = set(service.secrets) | set(service.env)
    for need in facts.needs:
        where = f"{_shown(Path(facts.root) / need.file)}:{need.line}"
        when = "when it starts" if need.at_start else "when a request needs it"
        if need.kind == "model":
            baked = bool(service.build.commands)
            yield _Raw("info" if baked else "warning", ("services", name, "build", "commands"),
                       f"the app downloads {need.what} from a model hub {when} ({where})",
                       "egress at boot: every cold start needs the network and waits for the download, and fails "
                       "where the hub cannot be reached", None,
                       "make sure build.commands load it into the image" if baked else
                       "load it once at build time: a build.commands step that downloads it, with HF_HOME set to "
                       "a folder of the app", "app-downloads-model")
            continue
        if need.env and need.env not in given:
            yield _Raw("warning", ("services", name, "secrets"),
                       f"the app connects to {need.what} at ${need.env} {when} ({where}), and the description "
                       f"gives it no {need.env}", "without it the app tries its default address and fails to start",
                       None, f"create {need.what} on the platform and list {need.env} under secrets",
                       "app-needs-server")
        else:
            yield _Raw("warning", ("services", name), f"the app needs {need.what} {when} ({where})",
                       "streamdeploy deploys the app, not the servers it talks to", None,
                       f"create {need.what} on the platform" + (f" and set {need.env}" if need.env else ""),
                       "app-needs-server")


def _shared_volumes(ctx: _Context) -> Iterator[_Raw]:
    """Two services that mount one volume: a second process on a single-writer directory."""
    first: dict[str, str] = {}
    for name, service in ctx.spec.services.items():
        for i, volume in enumerate(service.volumes):
            owner = first.setdefault(volume.name, name)
            if owner == name:
                continue
            embedded = _embedded_store(ctx, service)
            yield _Raw("warning", ("services", name, "volumes", i),
                       f"services {owner} and {name} both mount volume {volume.name}",
                       ("an embedded database (Chroma's PersistentClient, SQLite) takes one writing process; " if
                        embedded else "") + "Fly, Railway and Render attach a volume to one service, so each would "
                       "get its own empty copy", CHROMA_SINGLE_WRITER if embedded else None,
                       _chroma_fix(owner) + f"; then `store: chroma` on {name} too" if embedded else
                       "keep the shared data in a store both reach, or run both in one service",
                       "volume-shared-by-services")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- rules per platform


def _stores_here(ctx: _Context, p: Platform) -> list[tuple[str, Any]]:
    """The stores this platform runs itself (not those it reaches at a URL)."""
    from streamdeploy.description import store_urls

    elsewhere = store_urls(ctx.spec, p.target) if p.target else {}
    return [(n, st) for n, st in ctx.spec.stores.items() if n not in elsewhere]


def _for_platform(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    if p.kind == "edge":
        yield from _edge(ctx, p)
        return
    yield from _workers(ctx, p)
    yield from _cpu_for_streams(ctx, p)
    yield from _volumes(ctx, name, p)
    yield from _replicas(ctx, name, p)
    yield from _deploys_with_volume(ctx, name, p)
    yield from _streams(ctx, name, p)
    yield from _plan(ctx, name, p)
    yield from _sizes(ctx, name, p)
    yield from _status(ctx, name, p)
    yield from _peers(ctx, name, p)
    yield from _privacy(ctx, name, p)
    yield from _sleep(ctx, name, p)


DISK_KINDS = ("block", "pvc", "host", "efs")  # `volume` fact values that keep a database's files safe


def _volumes(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    kind = p.fact("volume")
    disks = _disks(ctx, p)
    if not disks:
        return
    with_volumes = [q.title for q in platforms().values() if q.fact("volume").value in DISK_KINDS
                    and q.kind != "local"]
    elsewhere = f"choose a platform with volumes ({', '.join(with_volumes)}); `streamdeploy compare` shows them"
    for disk in disks:
        what = f"volume `{disk.name}`" if disk.owner.startswith("services") else f"store `{disk.name}` (its data)"
        fix = _no_disk_fix(ctx, p, disk, elsewhere)
        if kind.value == "none":
            yield _Raw("error", disk.path, f"{p.title} has no persistent volumes for {what}",
                       kind.why(), kind.source, fix, "volume-unsupported")
        elif kind.value == "network":
            yield _Raw("error", disk.path, f"{p.title} has no disk for {what}: only network mounts, which lose "
                       "or corrupt a database's files", kind.why(), kind.source, fix, "volume-network-only")
    if kind.value in ("none", "network"):
        return
    yield from _volume_limits(ctx, name, p, disks)


def _no_disk_fix(ctx: _Context, p: Platform, disk: _Disk, elsewhere: str) -> str:
    """How to run this description on a platform without disks: the store as a server that runs
    where disks are, named by URL; or another platform."""
    urls = p.target is not None and hasattr(getattr(ctx.spec.targets, p.target, None), "store_urls")
    if disk.owner.startswith("stores"):
        if not urls:
            return elsewhere
        return (f"run the `{disk.name}` server where it can keep a disk (a VM, Kubernetes, a managed Chroma) and "
                f"set targets.{p.target}.store_urls.{disk.name}: https://HOST[:PORT]; or {elsewhere}")
    service = ctx.spec.services[disk.owner.split(".", 1)[1]]
    if not (urls and _embedded_store(ctx, service)):
        return elsewhere
    return (f"store mode: run Chroma as a server (`stores: {{chroma: {{engine: chroma}}}}`, `store: chroma` on "
            f"{disk.owner}, drop the volume, as in examples/scaled) and point {p.title} at it with "
            f"targets.{p.target}.store_urls.chroma; or {elsewhere}")


def _volume_limits(ctx: _Context, name: str, p: Platform, disks: list[_Disk]) -> Iterator[_Raw]:
    per_service = p.fact("volumes_per_service")
    if isinstance(per_service.value, int):
        for service_name, service in ctx.spec.services.items():
            if len(service.volumes) > per_service.value:
                yield _Raw("error", ("services", service_name, "volumes"),
                           f"{p.title} mounts {per_service.value} volume per service; "
                           f"`{service_name}` has {len(service.volumes)}", per_service.why(), per_service.source,
                           "keep one volume and use subdirectories of it", "volume-count")
    maximum, default = p.fact("volume_max"), p.fact("volume_default")
    for disk in disks:
        size_path = disk.path + ("size",)
        gb = disk.size / 1000**3
        if isinstance(maximum.value, (int, float)) and gb > maximum.value:
            yield _Raw("error", size_path, f"{units.format_size(disk.size)} is above {p.title}'s largest volume "
                       f"({maximum.value} GB)", maximum.why(), maximum.source,
                       f"size: {maximum.value}GB or less, or a platform with bigger disks", "volume-too-big")
        elif isinstance(default.value, (int, float)) and gb > default.value:
            yield _Raw("info", size_path, f"{units.format_size(disk.size)} is above {p.title}'s default volume "
                       f"size ({default.value} GB)", default.why(), default.source,
                       "resize the volume after it is created, or use a plan whose default is larger",
                       "volume-above-default")
    forbidden = p.fact("disallowed_mounts")
    if isinstance(forbidden.value, list):
        for disk in disks:
            if disk.mount and (disk.mount.rstrip("/") or "/") in forbidden.value:
                yield _Raw("error", disk.path + ("mount",), f"{p.title} cannot mount a disk at {disk.mount}",
                           forbidden.why(f"disallowed mount paths: {', '.join(forbidden.value)}"), forbidden.source,
                           f"mount it in a subdirectory, e.g. /data/{disk.name}", "mount-disallowed")
    build_volume = p.fact("build_time_volume")
    if build_volume.value is False:
        for service_name, service in ctx.spec.services.items():
            for volume in service.volumes:
                if any(volume.mount in command for command in service.build.commands):
                    yield _Raw("warning", ("services", service_name, "build", "commands"),
                               f"a build command uses {volume.mount}, which {p.title} does not mount while building",
                               build_volume.why(), build_volume.source,
                               "write to the volume at start-up, not at build time", "volume-at-build")


def _replicas(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    mode = p.fact("replicas_with_volume")
    if p.fact("volume").value in ("none", "network", None):
        return
    for service_name, service in ctx.spec.services.items():
        if service.replicas <= 1 or not service.volumes:
            continue
        path = ("services", service_name, "replicas")
        embedded = _embedded_store(ctx, service)
        fix = _chroma_fix(service_name) if embedded else "replicas: 1, or keep shared data out of the volume"
        lead = f"{service.replicas} replicas with a volume"
        if mode.value == "forbidden":
            yield _Raw("error", path, f"{lead}: {p.title} runs a service with a volume as one instance",
                       mode.why(), mode.source, fix, "replicas-volume")
        elif mode.value == "separate":
            yield _Raw("error" if embedded else "warning", path,
                       f"{lead}: each {p.title} replica gets its own empty volume, so the data splits",
                       mode.why(), mode.source, fix, "replicas-volume")
        elif mode.value == "single-node":
            yield _Raw("error", path, f"{lead}: a ReadWriteOnce volume mounts on one node only",
                       mode.why(), mode.source, fix, "replicas-volume")
        elif mode.value == "shared" and embedded:
            yield _Raw("error", path, f"{lead}: every replica writes the same embedded database",
                       "Chroma's PersistentClient (like SQLite) is not process-safe; concurrent writers "
                       "corrupt its index", CHROMA_SINGLE_WRITER, fix, "replicas-volume")


def _deploys_with_volume(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    volume_services = [(n, s) for n, s in ctx.spec.services.items() if s.volumes]
    if not volume_services or p.fact("volume").value in ("none", "network", None) or p.kind == "local":
        return
    zero_downtime, overlap = p.fact("zero_downtime_with_volume"), p.fact("deploy_overlap")
    for service_name, service in volume_services:
        path = ("services", service_name, "volumes")
        if overlap.value is True and _embedded_store(ctx, service):
            yield _Raw("error", path, f"{p.title} runs the old and new instance together during a deploy: two "
                       "writers on one embedded database", overlap.why(), overlap.source, _chroma_fix(service_name),
                       "deploy-overlap")
        if zero_downtime.value is False:
            yield _Raw("warning", path, f"deploys on {p.title} have downtime: the instance with the volume stops "
                       "before its replacement starts, and open streams end", zero_downtime.why(),
                       zero_downtime.source, "expect a short outage per deploy; clients reconnect with "
                       "Last-Event-ID, or move the data to a store server to deploy without downtime",
                       "deploy-downtime")
    replication = p.fact("volume_replication")
    if replication.value is False:
        snapshots = p.fact("volume_snapshots")
        scale = p.fact("scale_with_volume")
        kept = getattr(getattr(ctx.spec.targets, p.target or "", None), "snapshot_retention", None) or 5
        for service_name, service in volume_services:
            yield _Raw("warning", ("services", service_name, "volumes"),
                       f"one {p.title} Machine with one volume has no replica: if its host fails, what was written "
                       f"since the last snapshot is lost (snapshots: {snapshots.value or 'unknown'}, kept {kept} days)",
                       replication.why(),
                       replication.source, f"targets.{p.target}.snapshot_retention: up to 60 days, and copy backups "
                       "off the volume; two Machines would mean two separate databases, not a replica",
                       "volume-not-replicated")
            if scale.known:
                yield _Raw("info", ("services", service_name, "replicas"),
                           f"never `fly scale count` `{service_name}`: every Machine it adds gets a new, empty volume, "
                           "so the app becomes several databases behind one address (`up` stops when it finds more "
                           "than one Machine)", scale.why(), scale.source, None, "scale-count-splits-data")
    pinned = p.fact("region_pinned")
    if pinned.value is True:
        yield _Raw("info", ("services", volume_services[0][0], "volumes"),
                   f"a volume pins the app to one {p.title} region", pinned.why(), pinned.source, None,
                   "region-pinned")


def _streams(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    for service_name, service in ctx.spec.services.items():
        if service.streaming is None or not service.is_web:
            continue
        base = ("services", service_name, "streaming")
        yield from _stream_length(p, base, service.streaming.max_duration)
        yield from _stream_idle(ctx, name, p, base, service.streaming.heartbeat)
        edge = p.fact("edge_cache")
        domain = getattr(getattr(ctx.spec.targets, p.target or "", None), "domain", None)
        if edge.value is True and domain:
            yield _Raw("info", base, f"{p.title} puts a CDN in front of the app; with the custom domain {domain} "
                       "the generated app spec turns its cache off (disable_edge_cache), so SSE is not buffered",
                       edge.why(), edge.source, None, "edge-cache")
        elif edge.value is True:
            fix = (f"set targets.{p.target}.domain to a custom domain: the generated spec then sets "
                   "disable_edge_cache" if p.target else "set disable_edge_cache: true in the app spec (needs a "
                   "custom domain)")
            yield _Raw("warning", base, f"{p.title} puts a CDN in front of the app, which can buffer SSE",
                       edge.why(), edge.source, fix, "edge-cache")


def _stream_length(p: Platform, base: tuple, wanted: float) -> Iterator[_Raw]:
    cap, default = p.fact("max_request"), p.fact("default_request")
    path = base + ("max_duration",)
    shown = units.format_duration(wanted)
    if isinstance(cap.value, (int, float)) and wanted > cap.value:
        successor = f"; or {_successor(p)}" if p.fact("successor").known else ""
        yield _Raw("error", path, f"streams of {shown} are cut at {units.format_duration(cap.value)} on {p.title}",
                   cap.why(), cap.source, f"max_duration: {units.format_duration(cap.value)} or less, with clients "
                   f"that reconnect with Last-Event-ID{successor}", "stream-too-long")
    elif isinstance(default.value, (int, float)) and wanted > default.value and p.target:
        yield _Raw("info", path, f"{p.title}'s default request timeout ({units.format_duration(default.value)}) "
                   f"would cut {shown} streams: the generated config sets it to {int(wanted)} s", default.why(),
                   default.source, None, "stream-default-timeout")
    elif isinstance(default.value, (int, float)) and wanted > default.value:
        seconds = int(wanted)
        yield _Raw("warning", path, f"{p.title}'s default request timeout ({units.format_duration(default.value)}) "
                   f"cuts {shown} streams", default.why(), default.source,
                   f"deploy with a request timeout of at least {seconds} s (timeoutSeconds: {seconds}, "
                   f"or `gcloud run deploy --timeout={seconds}`)", "stream-default-timeout")
    elif not cap.known:
        yield _Raw("info", path, f"{p.title} documents no limit on a stream's length", cap.why(), cap.source,
                   "test a stream held for max_duration after deploying (`streamdeploy verify`)",
                   "stream-limit-unknown")


# The reverse proxies people put in front of Docker and Compose, and what ends an idle stream.
_PROXY_IDLE = {  # server: (setting, default seconds or None, source)
    "nginx": ("proxy_read_timeout", 60.0, "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout"),
    "haproxy": ("timeout server", None, "https://docs.haproxy.org/2.8/configuration.html#4.2-timeout%20server"),
}
_HAPROXY_NO_DELAY = "https://docs.haproxy.org/2.8/configuration.html#4.2-option%20http-no-delay"


def _proxy(ctx: _Context, name: str) -> Any:
    """targets.docker.proxy / targets.compose.proxy: the same host, so either one counts for both."""
    if platform(name).name != "compose":
        return None
    own, other = ("docker", "compose") if name == "docker" else ("compose", "docker")
    return getattr(ctx.spec.targets, own).proxy or getattr(ctx.spec.targets, other).proxy


def _stream_idle(ctx: _Context, name: str, p: Platform, base: tuple, heartbeat: float | None) -> Iterator[_Raw]:
    cutoff = p.fact("idle_cutoff")
    limit, why, source, fix_key = cutoff.value, cutoff.why(), cutoff.source, "heartbeat"
    who, setting = p.title, ""
    proxy = _proxy(ctx, name)
    if proxy is not None:
        setting, default, source = _PROXY_IDLE.get(proxy.server, ("its idle timeout", None, None))
        limit = proxy.idle_timeout if proxy.idle_timeout is not None else default
        who = f"the {proxy.server} proxy in front" if proxy.server != "other" else "the proxy in front"
        why = (f"targets.{name}.proxy: {who} ends a response after {setting} without a byte"
               + (f" ({setting} {default:g}s by default)" if default is not None else ""))
        if proxy.server == "haproxy":
            yield _Raw("warning", base, "HAProxy holds back each event for about 200 ms unless told not to",
                       "without `option http-no-delay` HAProxy waits to merge small writes (measured here: ~205 ms "
                       "added per event)", _HAPROXY_NO_DELAY, "add `option http-no-delay` to the backend",
                       "haproxy-no-delay")
    if p.name == "kubernetes" and isinstance(limit, (int, float)):
        generated = _ingress_read_timeout(ctx)
        if generated == "not-nginx":
            return  # another ingress controller: its timeouts are not in the model
        if generated == "no-ingress":
            return
        if isinstance(generated, (int, float)):
            limit = generated
            why = (f"the generated Ingress sets nginx.ingress.kubernetes.io/proxy-read-timeout to {int(generated)} s "
                   f"(ingress-nginx default {cutoff.value} s)")
    if not isinstance(limit, (int, float)):
        return
    path = base + (fix_key,)
    shown = units.format_duration(limit)
    if heartbeat is None:
        yield _Raw("warning", path, f"the app sends no heartbeat: {who} closes a stream after {shown} without "
                   "bytes, so a quiet stream (a slow model, a long tool call) ends there", why, source,
                   "send a comment line (`: ping`) every 15 s while streaming (sse-starlette's EventSourceResponse "
                   "does: ping=15), then set heartbeat: 15s", "heartbeat-none")
        return
    suggest = units.format_duration(15 if limit > 45 else max(1, int(limit // 3)))
    raise_it = f", or raise {setting} on the proxy above {units.format_duration(heartbeat * 2)}" if proxy else ""
    if heartbeat >= limit:
        yield _Raw("error", path, f"a heartbeat every {units.format_duration(heartbeat)} is too slow: {who} closes "
                   f"a stream after {shown} without bytes", why, source,
                   f"heartbeat: {suggest} (well under {shown}){raise_it}", "heartbeat-too-slow")
    elif heartbeat > limit / 2:
        yield _Raw("warning", path, f"a heartbeat every {units.format_duration(heartbeat)} is close to the {shown} "
                   f"idle cutoff of {who}: one late beat ends the stream", why, source,
                   f"heartbeat: {suggest}{raise_it}", "heartbeat-close")


def _ingress_read_timeout(ctx: _Context) -> float | str | None:
    """What the kubernetes target's generated Ingress sets, since a fixed default would mislead."""
    ingress_class = ctx.spec.targets.kubernetes.ingress_class
    if ingress_class is None:
        return None  # an HTTPRoute: Gateway API has no idle timeout field; judge by the fact
    if ingress_class != "nginx":
        return "not-nginx"
    try:
        from streamdeploy import targets
        from streamdeploy.targets.base import Context

        target = targets.get("kubernetes")
    except (ImportError, KeyError, AttributeError):
        return None  # no kubernetes target yet: judge by the ingress-nginx default
    import yaml

    from streamdeploy.problems import ProblemsError

    try:
        rendering = target.render(ctx.spec, Context(root=ctx.root, description=ctx.loaded.path.name))
    except ProblemsError:
        return None  # `render --target kubernetes` reports that; judge by the default here
    ingresses = []
    for file in rendering.files:
        if not file.path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(file.content):
            if isinstance(doc, dict) and doc.get("kind") == "Ingress":
                ingresses.append(doc)
    if not ingresses:
        return "no-ingress"
    values = []
    for doc in ingresses:
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        raw = annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout")
        try:
            values.append(float(raw) if raw is not None else None)
        except (TypeError, ValueError):
            values.append(None)
    known_values = [v for v in values if v is not None]
    if len(known_values) < len(values):
        return None  # some Ingress keeps the default
    return min(known_values)


def _plan(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    """The instance the target config pins (Render's `plan`, one for all or one per service or
    store) against what the description asks; a workload with no plan set gets one that fits."""
    from streamdeploy import pricing

    key = p.pricing.get("plan_key")
    target_config = getattr(ctx.spec.targets, p.target or "", None) if p.target else None
    if not key or target_config is None:
        return
    setting = getattr(target_config, key, None)
    sizes = p.price("instances")
    disk_plans = p.fact("disk_plans")
    scale = p.fact("scale_to_zero")
    workloads = [(("services", n, "resources"), s.resources, n, s) for n, s in ctx.spec.services.items()]
    workloads += [(("stores", n, "resources"), st.resources, n, None) for n, st in _stores_here(ctx, p)]
    for res_path, res, workload, service in workloads:
        chosen = setting.get(workload) if isinstance(setting, dict) else setting
        size = pricing.size_named(p, chosen) if isinstance(chosen, str) else None
        if size is None:
            continue
        path = ("targets", p.target, key) + ((workload,) if isinstance(setting, dict) else ())
        has_disk = service is None or bool(service.volumes)
        if size.disk is False and has_disk:
            yield _Raw("error", path, f"the {p.title} `{chosen}` plan has no persistent disks ({workload} has one)",
                       disk_plans.why(), disk_plans.source, f"{key}: starter (or larger)", "plan-no-disk")
        if size.disk is False and service is not None and service.streaming:
            yield _Raw("warning", path, f"the {p.title} `{chosen}` plan spins down when idle, ending streams",
                       scale.why(), scale.source, f"{key}: starter (or larger) keeps it running", "plan-spins-down")
        if res.memory > size.memory:
            need = _stack_need(ctx, service) if service is not None else None
            below_start = need is not None and size.memory < need[0]
            yield _Raw("error" if below_start else "warning", path,
                       f"the {p.title} `{chosen}` plan has {units.format_size(size.memory)} of memory; "
                       f"{workload} asks for {units.format_size(res.memory)}",
                       sizes.why(f"{chosen}: {size.cpu:g} CPU, {units.format_size(size.memory)}"), sizes.source,
                       f"{key}: {pricing.smallest_name(p, res.cpu, res.memory) or 'a larger plan'}, "
                       f"or lower {'.'.join(map(str, res_path))}.memory", "plan-memory")
        elif res.cpu > size.cpu:
            yield _Raw("info", path, f"the {p.title} `{chosen}` plan has {size.cpu:g} CPU; {workload} asks for "
                       f"{res.cpu:g}", sizes.why(f"{chosen}: {size.cpu:g} CPU"), sizes.source,
                       f"{key}: {pricing.smallest_name(p, res.cpu, res.memory) or 'a larger plan'}", "plan-cpu")


def _sizes(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    from streamdeploy import pricing

    if not pricing.has_sizes(p):
        return
    workloads = [(("services", n, "resources"), s.resources, s.replicas) for n, s in ctx.spec.services.items()]
    workloads += [(("stores", n, "resources"), st.resources, 1) for n, st in _stores_here(ctx, p)]
    for path, res, replicas in workloads:
        if pricing.fit(p, res.cpu, res.memory, replicas=replicas) is None:
            largest = pricing.largest(p)
            yield _Raw("error", path, f"no {p.title} instance has {res.cpu:g} CPU and "
                       f"{units.format_size(res.memory)}", p.price("instances").why(f"the largest is {largest}")
                       if largest else "no size fits", p.price("instances").source or None,
                       "lower cpu/memory, or split the work across services", "no-size-fits")


def _successor(p: Platform) -> str:
    """What to use instead of a platform that is closing or too limited: its `successor` fact."""
    successor = p.fact("successor")
    if not successor.known:
        return "pick another platform (`streamdeploy compare`)"
    other = platforms().get(str(successor.value))
    title = other.title if other else str(successor.value)
    return f"{title} (`--target {successor.value}`){': ' + successor.note if successor.note else ''}"


def _workers(ctx: _Context, p: Platform) -> Iterator[_Raw]:
    """A service without a port on a platform that only runs request-driven services."""
    fact = p.fact("background_workers")
    if fact.value is not False:
        return
    for service_name, service in ctx.spec.services.items():
        if not service.is_web:
            yield _Raw("error", ("services", service_name), f"`{service_name}` has no port: {p.title} runs services "
                       "that answer HTTP requests", fact.why(), fact.source,
                       "give it a port and a health path, or run it on another platform", "worker-unsupported")


def _cpu_for_streams(ctx: _Context, p: Platform) -> Iterator[_Raw]:
    """Below a platform's full-CPU threshold, one request at a time: one open stream per instance."""
    fact = p.fact("fractional_cpu")
    if not isinstance(fact.value, (int, float)):
        return
    for service_name, service in ctx.spec.services.items():
        if service.is_web and service.resources.cpu < fact.value:
            yield _Raw("warning", ("services", service_name, "resources", "cpu"),
                       f"{service.resources.cpu:g} vCPU on {p.title} means one request per instance and CPU only "
                       f"during requests: streams would each need an instance; it gets {fact.value:g} vCPU",
                       fact.why(), fact.source, f"resources.cpu: {fact.value:g}", "cpu-fractional")


def _edge(ctx: _Context, p: Platform) -> Iterator[_Raw]:
    """An edge platform runs code in front of the service, never the service itself."""
    runtime, fits = p.fact("runtime"), p.fact("fits")
    hosts = [q.title for q in platforms().values() if q.target and q.kind in ("paas", "serverless", "cluster")]
    for service_name, service in ctx.spec.services.items():
        what = "the Python ASGI service" if service.is_web else "the background worker"
        disk = f" with {len(service.volumes)} volume(s)" if service.volumes else ""
        yield _Raw("error", ("services", service_name), f"{what} `{service_name}`{disk} cannot run on {p.title}",
                   runtime.why(), runtime.source, f"run it on a platform that runs containers ({', '.join(hosts)}) "
                   f"and put {p.title} in front of it", "edge-runs-no-service")
    for store_name in ctx.spec.stores:
        yield _Raw("error", ("stores", store_name), f"the `{store_name}` store cannot run on {p.title}: no disk, "
                   "no long-running server", p.fact("volume").why(), p.fact("volume").source,
                   "keep it with the service", "edge-runs-no-service")
    streaming = [n for n, s in ctx.spec.services.items() if s.streaming is not None and s.is_web]
    yield _Raw("info", ("targets",), f"what fits on {p.title}: {fits.value}", fits.why(fits.note or str(fits.value)),
               fits.source, None, "edge-layer")
    if streaming:
        sse = p.fact("sse_passthrough")
        yield _Raw("info", ("services", streaming[0], "streaming"), f"SSE through {p.title}: {sse.value}",
                   sse.why(sse.note or str(sse.value)), sse.source, None, "edge-sse")


def _status(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    legacy = p.fact("legacy_config")
    if legacy.known and p.target == "railway" and ctx.spec.targets.railway.format == "toml":
        cutoff = date.fromisoformat(legacy.date) if legacy.date else None
        path = ("targets", "railway", "format")
        fix = ("format: iac (writes .railway/railway.ts, applied with `railway config apply`); an existing "
               "service moves with `railway config migrate`")
        if cutoff and ctx.today >= cutoff:
            yield _Raw("error", path, f"Railway stopped reading railway.toml on {cutoff.isoformat()}",
                       legacy.why(), legacy.source, fix, "railway-legacy-config")
        else:
            left = f" (in {(cutoff - ctx.today).days} days)" if cutoff else ""
            yield _Raw("warning", path, f"railway.toml is deprecated: Railway stops reading it on "
                       f"{legacy.date}{left}, and new services cannot use it", legacy.why(), legacy.source, fix,
                       "railway-legacy-config")
    customers = p.fact("new_customers")
    if customers.value is False:
        closes = date.fromisoformat(customers.date) if customers.date else None
        if closes is None or ctx.today >= closes:
            yield _Raw("warning", ("targets",), f"{p.title} takes no new customers since {customers.date}",
                       customers.why(), customers.source, "only an existing account can use it; otherwise "
                       + _successor(p), "closed-to-new-customers")
        else:
            yield _Raw("warning", ("targets",), f"{p.title} stops taking new customers on {customers.date} "
                       f"(in {(closes - ctx.today).days} days)", customers.why(), customers.source,
                       "an account opened before then keeps working; otherwise " + _successor(p),
                       "closed-to-new-customers")
    health = p.fact("health_checks")
    if health.value == "deploy-only" and p.kind != "local":
        for service_name, service in ctx.spec.services.items():
            if service.health is not None:
                yield _Raw("info", ("services", service_name, "health"),
                           f"{p.title} checks health only while deploying; a hung process is not restarted",
                           health.why(), health.source, None, "health-deploy-only")


# ----------------------------------------------------------------------------- services that use each other


def _peers(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    """Addresses of other services: a bare name where it does not resolve, a reference the platform
    cannot write as asked."""
    from streamdeploy.targets import peers

    address = p.fact("peer_address")
    if not address.known:
        return
    for user in ctx.spec.services:
        if address.get("bare_names") is False:
            for key, other, value in peers.bare_name_urls(ctx.spec, user):
                yield _Raw("error", ("services", user, "env", key),
                           f"{key}={value!r} addresses `{other}` by its bare name, which does not resolve on "
                           f"{p.title}", address.why(), address.source,
                           f"write `{key}: {{service: {other}}}`: streamdeploy puts {p.title}'s own address of "
                           f"`{other}` there ({address.value})", "peer-bare-name")
        for key, ref in ctx.spec.services[user].env_refs.items():
            path = ("services", user, "env", key)
            if ref.network == "public" and address.get("public") is False:
                yield _Raw("error", path + ("network",), f"{p.title} cannot write another service's public URL "
                           f"into {key}", address.why(), address.source,
                           "use the private address (`network: private`), or set the value by hand in the "
                           "platform's dashboard", "peer-public-unsupported")
            elif ref.property == "url" and address.get("urls") is False:
                yield _Raw("warning", path, f"on {p.title}, {key} of `{user}` is `{ref.service}`'s host:port "
                           "without http://", address.why(), address.source,
                           "have the app add http:// when it is missing (the example dashboard does), or ask for "
                           "`property: hostport` and build the URL in the app", "peer-url-without-scheme")


def _privacy(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    """A private service for people (no other service uses it) where people cannot reach private ones."""
    from streamdeploy.targets import peers

    reachable = p.fact("private_reachable")
    if reachable.value is not False:
        return
    for user, service in ctx.spec.services.items():
        if not peers.for_people(ctx.spec, user):
            continue
        logins = [s for s in service.secrets if re.search(r"PASSWORD|PASSWD|TOKEN|AUTH", s, re.IGNORECASE)]
        guard = (f"its own login is what protects it (it has {', '.join(logins)})" if logins
                 else "nothing in the description protects it")
        yield _Raw("warning", ("services", user, "public"),
                   f"`{user}` is `public: false`, but {p.title} gives people no way into its private network: "
                   f"`{user}` gets a public address after all, and {guard}", reachable.why(), reachable.source,
                   "keep a strong password in its secrets" if logins else
                   "give it a login (a password secret it checks), or deploy it where it can stay private "
                   "(fly, kubernetes)", "private-not-reachable")


def _sleep(ctx: _Context, name: str, p: Platform) -> Iterator[_Raw]:
    fact = p.fact("scale_to_zero")
    if fact.get("idle") or p.kind == "local":
        return
    for user, service in ctx.spec.services.items():
        if service.scale_to_zero:
            yield _Raw("info", ("services", user, "scale_to_zero"),
                       f"{p.title} does not stop `{user}` when idle: it runs, and is billed, all month",
                       fact.why(), fact.source, None, "no-scale-to-zero")
