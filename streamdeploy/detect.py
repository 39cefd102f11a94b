"""What an app is, learned by reading its source with ``ast``: never by importing or running it.

``scan_app(root)`` finds the FastAPI ``app`` object (``module:variable``, in packages, ``src/``
layouts, app factories and monorepos, whose own dependency file makes the build context), the
dependency file and Python version, the routes (with ``APIRouter`` prefixes and
``include_router(prefix=...)``, through re-exports and settings defaults, where they can be
worked out), a ``/health``-like route, Server-Sent-Event routes (and whether they ping), what
their requests carry (a JSON body, a bearer token), Chroma however it is opened (embedded,
LangChain, LlamaIndex, a server) and where it stores data, SQLite files and upload folders,
servers and hub models the app needs, workers that open the same data, the environment
variables the app reads, and Streamlit dashboards.

Only what the app object's module imports (transitively) is the service: helper scripts,
migrations and tests beside it say nothing about its env, routes or data.

Every fact says whether it was *detected* (read from the code or a file), *guessed* (an
inference a person should check) or a *default*, and where it came from (``file:line``).
``init`` writes them into a commented streamdeploy.yaml; ``check`` compares them with one.

The scan is bounded (file count, file size, depth) and skips virtualenvs, node_modules and
VCS folders, so it stays fast on a big tree; a file that does not parse is skipped with a note.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from collections import deque
from pathlib import Path
from typing import Any, Literal

from streamdeploy.app_tree import walks_into
from streamdeploy import records  # not `factory`: AppFacts has a field of that name

How = Literal["detected", "guessed", "default"]

MAX_FILES = 1000  # Python files read; a service is far smaller, a monorepo gets a note
MAX_FILE_BYTES = 512_000  # generated or vendored code beyond this says nothing about the app
MAX_TOTAL_BYTES = 5_000_000  # a few seconds of parsing on a slow machine; then we stop and say so
DEFAULT_PYTHON = "3.12"
DEFAULT_PORT = 8000
STREAMLIT_PORT = 8501
# Python versions a base image exists for, in the order we would pick them.
PYTHON_PREFERENCE = ("3.12", "3.13", "3.11", "3.14", "3.10", "3.9", "3.8")

_TEST_FILE = re.compile(r"^(test_.*|.*_test|conftest)\.py$")

HEALTH_PATHS = (
    "/health", "/healthz", "/healthcheck", "/health-check", "/_health", "/livez", "/readyz",
    "/ready", "/ping", "/up", "/status", "/alive",
)
# A name is a secret when it ends in one of these (STREAM_TOKEN_DELAY is not) or says SECRET/PASSWORD.
_SECRET_LAST = {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "APIKEY", "PAT", "DSN"}
_SECRET_ANY = {"SECRET", "PASSWORD", "PASSWD"}
_NOT_SECRET_LAST = {"FILE", "PATH", "DIR", "NAME", "ID", "HEADER", "LENGTH", "SIZE", "TTL", "URL"}
# Set by the platform, the shell or the server, or by streamdeploy itself: never worth listing.
_NOT_APP_ENV = {"PORT", "HOST", "PATH", "HOME", "PWD", "USER", "SHELL", "LANG", "TZ", "HOSTNAME", "TERM",
                "WEB_CONCURRENCY", "CHROMA_HOST", "CHROMA_PORT"}
_NOT_APP_ENV_PREFIXES = ("PYTHON", "UVICORN_", "GUNICORN_", "FLY_", "RAILWAY_", "RENDER_", "K_", "KUBERNETES_", "LC_")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")

_FASTAPI = {"fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette"}
_ROUTER = {"fastapi.APIRouter", "fastapi.routing.APIRouter"}
_HTTP_METHODS = {"get", "post", "put", "patch", "delete", "options", "head", "trace"}
_GETENV = {"os.getenv", "os.environ.get", "os.environ.setdefault"}
# Methods of settings helpers (environs, decouple, home-grown readers) that take an env var name.
_READER_METHODS = {"str", "text", "int", "integer", "float", "number", "bool", "boolean", "list", "json",
                   "url", "path", "secret", "required", "optional", "dict", "decimal"}
_PATH_WRAPPERS = {"str", "os.fspath", "os.path.abspath", "os.path.expanduser", "os.path.realpath",
                  "os.path.normpath", "pathlib.Path", "Path", "pathlib.PurePath"}


# --- facts ---------------------------------------------------------------------------


@records.record(frozen=True)
class Fact:
    """One thing we learned, and how sure we are of it."""

    value: Any
    how: How
    where: str | None = None  # "app/main.py:12", or a file name
    why: str = ""  # a short reason, shown to the user

    @property
    def detected(self) -> bool:
        return self.how == "detected"


@records.record(frozen=True)
class Route:
    method: str  # GET, POST, ... (an api_route with several methods gives one Route each)
    path: str  # the full path, prefixes included
    file: str
    line: int
    sse: bool = False
    function: str = ""
    resolved: bool = True  # False when a prefix it is mounted under could not be worked out
    heartbeat: bool = True  # an SSE route whose response sends keep-alive comments (sse-starlette does)
    status: int | None = None  # the decorator's status_code=
    body: Any = None  # a sample JSON body, from the pydantic model the handler takes
    auth: tuple[str, str] | None = None  # (header, value template), e.g. ("Authorization", "Bearer ${API_KEY}")
    query: dict[str, str] = records.factory(dict)  # required query parameters, with sample values

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@records.record(frozen=True)
class EnvRead:
    """An environment variable the app reads."""

    name: str
    file: str
    line: int
    default: str | None = None  # the default in code, when it is a literal
    has_default: bool = False
    how: How = "detected"  # guessed: read through a helper we recognise only by its shape
    anchored: bool = False  # the default is a path built from __file__: relative to the scanned root
    required: bool = False  # the app fails without it: os.environ["X"], a setting with no default

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def secret(self) -> bool:
        return looks_secret(self.name)


@records.record(frozen=True)
class ChromaUse:
    """A Chroma client: embedded (``PersistentClient``) needs a volume; ``HttpClient`` a server."""

    kind: Literal["persistent", "http", "ephemeral"]
    file: str
    line: int
    path: str | None = None  # the literal path, when the code spells one out
    env: str | None = None  # the env var the path comes from
    default: str | None = None  # that env var's default in code
    how: How = "detected"
    via: str = "PersistentClient"  # what the code calls: LangChain's Chroma, LlamaIndex's ChromaVectorStore
    anchored: bool = False  # path (or default) is relative to the scanned root, built from __file__
    suffix: str = ""  # the part of the path below the env var's directory ("chroma" in $DATA_DIR/chroma)
    host_env: str | None = None  # HttpClient: the env vars host and port come from
    port_env: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


StateKind = Literal["sqlite", "uploads", "files"]


@records.record(frozen=True)
class StateUse:
    """Files the app writes besides Chroma's: a SQLite database, an upload folder."""

    kind: StateKind
    file: str
    line: int
    path: str | None = None  # the file (sqlite) or directory, relative to the working directory unless anchored
    env: str | None = None  # the env var it comes from
    default: str | None = None
    how: How = "detected"
    anchored: bool = False
    url: bool = False  # the env var holds a database URL (sqlite:///...), not a path
    suffix: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@records.record(frozen=True)
class Needs:
    """Something outside the app it needs when it runs: a database server, a model from a hub."""

    kind: Literal["redis", "postgres", "mysql", "mongodb", "rabbitmq", "model"]
    file: str
    line: int
    env: str | None = None  # the env var with its address (REDIS_URL)
    what: str = ""  # "Redis", "the model all-MiniLM-L6-v2 from the Hugging Face Hub"
    at_start: bool = True  # read at import or startup (not only in one request)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@records.record(frozen=True)
class Worker:
    """A second program of the app (not reachable from the app object) that runs on its own."""

    module: str  # dotted name, from the root
    file: str
    start: str  # the command that runs it
    why: str
    shares: tuple[str, ...] = ()  # keys of the data it opens too: "chroma:<env or path>", "sqlite:..."


@records.record
class AppFacts:
    root: Path
    app: Fact | None = None  # "app.main:app" (or "app.main:create_app" when factory)
    factory: bool = False
    app_dir: str | None = None  # directory to put on sys.path (uvicorn --app-dir), relative to root
    name: Fact | None = None
    dependency_file: Fact | None = None
    dependencies: frozenset[str] = frozenset()
    python: Fact = records.factory(lambda: Fact(DEFAULT_PYTHON, "default", why="no version pinned"))
    server: Fact = records.factory(lambda: Fact("uvicorn", "default"))
    procfile: Fact | None = None  # the `web:` command of a Procfile
    port: Fact = records.factory(lambda: Fact(DEFAULT_PORT, "default", why="uvicorn's default"))
    routes: list[Route] = records.factory(list)
    health: Fact | None = None  # the health route's path
    chroma: list[ChromaUse] = records.factory(list)
    state: list[StateUse] = records.factory(list)
    needs: list[Needs] = records.factory(list)
    workers: list[Worker] = records.factory(list)
    context: str = "."  # the directory the app is built and run from (its dependency file's), relative to root
    env_reads: list[EnvRead] = records.factory(list)
    streamlit: list[Fact] = records.factory(list)  # script paths
    heartbeat: Fact | None = None  # seconds, from sse-starlette's ping=
    notes: list[str] = records.factory(list)  # things a person should know
    files_scanned: int = 0
    truncated: bool = False

    @property
    def sse_routes(self) -> list[Route]:
        return [r for r in self.routes if r.sse]

    @property
    def persistent_chroma(self) -> list[ChromaUse]:
        return [c for c in self.chroma if c.kind == "persistent"]

    def env_names(self) -> list[EnvRead]:
        """One read per variable (the first found), without the ones platforms or servers set."""
        seen: dict[str, EnvRead] = {}
        for read in self.env_reads:
            if read.name in seen or not is_app_env(read.name):
                continue
            seen[read.name] = read
        return list(seen.values())

    @property
    def secrets(self) -> list[EnvRead]:
        return [r for r in self.env_names() if r.secret]

    @property
    def plain_env(self) -> list[EnvRead]:
        return [r for r in self.env_names() if not r.secret]

    def has(self, package: str) -> bool:
        return _norm(package) in self.dependencies


def looks_secret(name: str) -> bool:
    parts = [p for p in name.upper().split("_") if p]
    if not parts or parts[-1] in _NOT_SECRET_LAST:
        return False
    return (parts[-1] in _SECRET_LAST or bool(set(parts) & _SECRET_ANY)
            or parts[-1].endswith(("APIKEY", "TOKEN", "PASSWORD")))


def is_app_env(name: str) -> bool:
    return name not in _NOT_APP_ENV and not name.startswith(_NOT_APP_ENV_PREFIXES)


# --- the scan --------------------------------------------------------------------------


def scan_app(root: Path) -> AppFacts:
    """Everything we can learn about the app in ``root`` without running it."""
    root = Path(root).resolve()
    facts = AppFacts(root=root)
    files, facts.truncated = _python_files(root, facts.notes)
    modules = [m for m in (_parse(root, path, facts.notes) for path in files) if m is not None]
    facts.files_scanned = len(modules)
    project = _Project(root, modules)
    project.walk()

    facts.procfile = _procfile(root)
    _choose_app(project, facts)
    # A monorepo: the app's own dependency file (backend/requirements.txt) makes its directory
    # the one it is built and run from.
    facts.context = _context(root, facts.app_dir)
    where = root / facts.context
    _read_dependencies(where, facts)
    facts.python = _python_version(where if _has_python_pin(where) else root, facts.notes)
    if facts.context != ".":
        inner = posixpath.relpath(facts.app_dir or ".", facts.context)
        facts.app_dir = None if inner == "." else inner
    app_module = project.module_for(str(facts.app.value).partition(":")[0]) if facts.app else None
    if app_module is not None:
        # Only what the app imports is the service: helper scripts, migrations and tests are not.
        project.app_modules = project.reach(app_module)
    facts.routes = project.routes(facts)
    facts.health = _health(facts.routes)
    facts.chroma = project.chroma()
    facts.state, facts.needs = project.state_and_needs()
    facts.workers = project.workers(app_module, facts.chroma, facts.state)
    facts.env_reads = [r for r in project.env_reads
                       if project.app_modules is None or _module_of_file(project, r.file) in project.app_modules]
    facts.streamlit = project.streamlit_scripts()
    facts.heartbeat = project.heartbeat
    facts.server = _server(facts)
    facts.name = _name(root, where)
    facts.notes.extend(project.notes)
    if facts.truncated:
        facts.notes.append(f"stopped after {len(files)} Python files (the scan's budget); facts from the "
                           "rest are missing: run init in the app's own directory")
    return facts


def _python_files(root: Path, notes: list[str]) -> tuple[list[Path], bool]:
    """Python files under ``root``, shallowest first (an app sits near the top; a deep
    vendored tree should not use up the budget before we get there). Sorted, so every
    scan of the same tree reads the same files."""
    found: list[Path] = []
    if not root.is_dir():
        return found, False
    total = 0
    queue = deque([(root, 0)])
    while queue:
        directory, depth = queue.popleft()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            name = entry.name
            if is_dir:
                if walks_into(name, entry.path, depth + 1):
                    queue.append((Path(entry.path), depth + 1))
            elif is_file and name.endswith(".py") and not _TEST_FILE.match(name):
                if len(found) >= MAX_FILES or total >= MAX_TOTAL_BYTES:
                    return found, True
                try:
                    total += min(entry.stat(follow_symlinks=False).st_size, MAX_FILE_BYTES)
                except OSError:
                    continue
                found.append(Path(entry.path))
    return found, False


@records.record
class _Module:
    rel: str  # posix path relative to the root
    name: str  # dotted import name as seen from the root (src/ dropped)
    is_package: bool
    tree: ast.Module
    aliases: dict[str, str] = records.factory(dict)  # local name -> qualified name
    classes: dict[str, dict[str, ast.AST]] = records.factory(dict)  # class -> attribute -> default
    imports: list[ast.Import | ast.ImportFrom] = records.factory(list)  # all of them, found by the walk

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.name.split(".")) if self.name else ()


def _parse(root: Path, path: Path, notes: list[str]) -> _Module | None:
    rel = path.relative_to(root).as_posix()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            notes.append(f"{rel}: skipped, larger than {MAX_FILE_BYTES // 1000} KB")
            return None
        text = path.read_bytes().decode("utf-8-sig")
        tree = ast.parse(text, filename=rel)
    except SyntaxError as err:
        notes.append(f"{rel}:{err.lineno or 1}: skipped, it does not parse ({err.msg})")
        return None
    except UnicodeDecodeError:
        notes.append(f"{rel}: skipped, not UTF-8")
        return None
    except (OSError, ValueError, RecursionError, MemoryError) as err:
        notes.append(f"{rel}: skipped ({type(err).__name__})")
        return None
    parts = list(Path(rel).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":
        parts.pop(0)
    return _Module(rel, ".".join(parts), is_package, tree)


def _record_import(module: _Module, node: ast.Import | ast.ImportFrom) -> None:
    """Local name -> qualified name, as the import statement binds it."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                module.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                module.aliases[top] = top
        return
    base = _absolute(module, node.module, node.level)
    for alias in node.names:
        if alias.name != "*":
            module.aliases[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name


def _absolute(module: _Module, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    package = list(module.parts if module.is_package else module.parts[:-1])
    package = package[: max(0, len(package) - (level - 1))]
    return ".".join(package + ([name] if name else []))


# --- reading one module ----------------------------------------------------------------


@records.record
class _RouterDef:
    kind: Literal["app", "router"]
    prefix: str | None  # None: given but not a literal we could read
    line: int
    module_level: bool


@records.record
class _RouteDef:
    router: str  # variable the decorator hangs off
    methods: tuple[str, ...]
    path: str | None
    function: ast.AST | None
    name: str
    line: int
    sse_hint: bool  # response_class=EventSourceResponse on the decorator
    status: int | None = None  # status_code= on the decorator


@records.record
class _Include:
    parent: str
    child: str  # qualified name of the included router
    prefix: str | None
    line: int
    prefix_node: ast.AST | None = None  # when prefix is None: the expression, for settings defaults


@records.record
class _ChromaCall:
    kind: Literal["persistent", "http", "ephemeral", "client", "langchain", "llamaindex"]
    module: _Module
    call: ast.Call
    scope: ast.AST | None  # enclosing function
    cls: ast.ClassDef | None


@records.record
class _Call:
    """A call that says something about state or needs, read once every module is known."""

    kind: str  # sqlite-file | db-url | redis | postgres | mongodb | rabbitmq | write-dir | write-file | model
    module: _Module
    call: ast.Call
    scope: ast.AST | None
    cls: ast.ClassDef | None
    expr: ast.AST | None  # the path, URL or model name expression
    what: str = ""


@records.record(frozen=True)
class _Traced:
    """Where a path expression leads: a literal path, or an env var (with its default)."""

    path: str | None = None
    env: str | None = None
    default: str | None = None
    how: How = "guessed"
    anchored: bool = False  # relative to the scanned root (built from __file__), not the working directory
    suffix: str = ""  # below the env var's directory

    @property
    def found(self) -> bool:
        return self.path is not None or self.env is not None

    def join(self, piece: str) -> _Traced:
        if self.env is not None:
            return _Traced(None, self.env, self.default, self.how, self.anchored,
                           posixpath.join(self.suffix, piece) if self.suffix else piece)
        if self.path is None:
            return self
        return _Traced(posixpath.normpath(posixpath.join(self.path, piece)), None, None, self.how, self.anchored)

    def parent(self) -> _Traced:
        if self.path is None:
            return _Traced()
        up = posixpath.dirname(self.path.rstrip("/")) if self.path not in ("", ".") else ".."
        return _Traced(up or ".", None, None, self.how, self.anchored)


class _Project:
    """All modules, and what reading them turned up."""

    def __init__(self, root: Path, modules: list[_Module]):
        self.root = root
        self.modules = modules
        self.by_name: dict[str, _Module] = {m.name: m for m in modules}
        self.routers: dict[tuple[str, str], _RouterDef] = {}
        self.route_defs: dict[str, list[_RouteDef]] = {}
        self.includes: dict[str, list[_Include]] = {}
        self.factory_of: dict[tuple[str, str], tuple[tuple[str, str], int]] = {}  # var -> ((module, func), line)
        self.returns: dict[tuple[str, str], set[str]] = {}  # (module, function) -> names it returns
        self.functions: dict[tuple[str, str], ast.AST] = {}
        self.calls: dict[tuple[str, str], set[str]] = {}  # function -> qualified names it calls
        self.sse_direct: set[tuple[str, str]] = set()
        self.sse_plain: set[tuple[str, str]] = set()  # SSE through StreamingResponse: no keep-alive of its own
        self.comment_lines: set[str] = set()  # modules that write SSE comment lines (": ping") themselves
        self.models: dict[tuple[str, str], ast.ClassDef] = {}  # pydantic BaseModel classes
        self.returns_app: set[tuple[str, str]] = set()  # functions that `return FastAPI(...)`
        self.env_reads: list[EnvRead] = []
        self.attr_env: dict[str, EnvRead] = {}  # settings attribute name -> the env var it reads
        self.consts: dict[str, dict[str, ast.AST]] = {}  # module -> module-level name -> value
        self.class_defaults: dict[str, dict[str, dict[str, ast.AST]]] = {}  # module -> class -> attr -> value
        self.chroma_calls: list[_ChromaCall] = []
        self.state_calls: list[_Call] = []
        self.programs: dict[str, int] = {}  # module -> line of its `if __name__ == "__main__":`
        self.loops: set[str] = set()  # modules with a `while True:` loop (a long-running program)
        self.celery: dict[str, int] = {}  # module -> line of `Celery(...)`
        self.instances: dict[tuple[str, str], str] = {}  # (module, var) -> what was called to make it
        self.returns_call: dict[tuple[str, str], str] = {}  # (module, function) -> what it returns a call of
        self.app_modules: set[str] | None = None  # reachable from the app; None: every module counts
        self.uvicorn_runs: list[tuple[str, str | None, int | None, int]] = []  # (file, "m:v", port, line)
        self.streamlit: list[tuple[_Module, int]] = []
        self.heartbeat: Fact | None = None
        self.notes: list[str] = []

    def walk(self) -> None:
        for module in self.modules:
            self.consts[module.name] = _module_assignments(module.tree)
            self.class_defaults[module.name] = module.classes
            # Module-level imports first, so names used above a late import still resolve.
            for stmt in module.tree.body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    _record_import(module, stmt)
        for module in self.modules:  # one pass over each tree: everything else is recorded on the way
            _Walker(self, module).visit(module.tree)
            if any(v == "streamlit" or v.startswith("streamlit.") for v in module.aliases.values()):
                self.streamlit.append((module, _streamlit_calls(module)))
        self._propagate_sse()

    # -- lookups across modules

    def module_for(self, qualified: str) -> _Module | None:
        """The module an import path names, matched on whole components from the end
        (``app.routes`` finds ``backend/app/routes.py`` too)."""
        if qualified in self.by_name:
            return self.by_name[qualified]
        suffix = "." + qualified
        matches = [m for m in self.modules if m.name.endswith(suffix)]
        return min(matches, key=lambda m: (len(m.name), m.rel)) if matches else None

    def split(self, qualified: str) -> tuple[_Module, str] | None:
        """``pkg.mod.name`` -> (module pkg.mod, "name")."""
        if "." not in qualified:
            return None
        module_name, _, attr = qualified.rpartition(".")
        module = self.module_for(module_name)
        return (module, attr) if module is not None else None

    def function(self, module: _Module, called: str) -> tuple[str, str] | None:
        if (module.name, called) in self.functions:
            return (module.name, called)
        found = self.split(called)
        if found and (found[0].name, found[1]) in self.functions:
            return (found[0].name, found[1])
        return None

    def _propagate_sse(self) -> None:
        """A function is SSE if it builds an SSE response or calls one that does (any depth);
        it pings when that response is sse-starlette's (a plain StreamingResponse does not)."""
        self.sse = self._closure(self.sse_direct)
        self.sse_pinging = self._closure(self.sse_direct - self.sse_plain)

    def _closure(self, start: set[tuple[str, str]]) -> set[tuple[str, str]]:
        found = set(start)
        for _ in range(8):
            grew = False
            for key, called in self.calls.items():
                if key in found:
                    continue
                module = self.by_name.get(key[0])
                if module and any((f := self.function(module, c)) is not None and f in found for c in called):
                    found.add(key)
                    grew = True
            if not grew:
                break
        return found

    # -- routes

    def app_candidates(self) -> list[tuple[_Module, str, int, bool, str]]:
        """(module, variable, line, is_factory, why) for every app object we could import."""
        out = []
        for (module_name, var), router in sorted(self.routers.items()):
            if router.kind == "app" and router.module_level:
                out.append((self.by_name[module_name], var, router.line, False, "FastAPI() assigned here"))
        claimed = set()
        for (module_name, var), (factory, line) in sorted(self.factory_of.items()):
            if self.builds_app(factory):
                claimed.add(factory)
                out.append((self.by_name[module_name], var, line, False, f"built by {factory[1]}()"))
        for key in sorted(self.functions):
            if key not in claimed and self.builds_app(key):
                out.append((self.by_name[key[0]], key[1], _line(self.functions[key]), True,
                            f"{key[1]}() returns the app; uvicorn calls it (--factory)"))
        return out

    def builds_app(self, func: tuple[str, str]) -> bool:
        """A function that returns a FastAPI app (``return app`` or ``return FastAPI()``)."""
        if func not in self.functions:
            return False
        if func in self.returns_app:
            return True
        return any(self.routers.get((func[0], n), _NO_ROUTER).kind == "app" for n in self.returns.get(func, ()))

    def app_node(self, module: _Module, var: str) -> tuple[str, str]:
        """The router node an app variable stands for (through a factory when needed)."""
        factory = self.factory_of.get((module.name, var), (None, 0))[0]
        if factory is None and (module.name, var) in self.functions:
            factory = (module.name, var)
        if factory is not None:
            for name in sorted(self.returns.get(factory, ())):
                if self.routers.get((factory[0], name), _NO_ROUTER).kind == "app":
                    return (factory[0], name)
        return (module.name, var)

    def routes(self, facts: AppFacts) -> list[Route]:
        start = None
        if facts.app is not None:
            module_name, _, var = str(facts.app.value).partition(":")
            module = self.module_for(module_name)
            if module is not None:
                start = self.app_node(module, var)
        out: list[Route] = []
        reached: set[tuple[str, str]] = set()
        if start is not None:
            self._collect(start, "", True, out, reached, ())
        for node in sorted(self.routers):
            if node in reached or self.routers[node].kind == "app" or not self.in_app(self.by_name[node[0]]):
                continue
            own = self.routers[node].prefix
            self._emit(node, own or "", False, out)
        unresolved = sorted({r.where for r in out if not r.resolved})
        if start is not None and unresolved:
            self.notes.append(
                f"{len(unresolved)} route(s) sit on a router whose mount prefix could not be read; "
                f"their paths may lack a prefix (first: {unresolved[0]})"
            )
        return sorted(out, key=lambda r: (r.path, r.method, r.file, r.line))

    def _collect(self, node, prefix, resolved, out, reached, stack) -> None:
        if node in stack or len(stack) > 20:
            return
        reached.add(node)
        router = self.routers.get(node, _NO_ROUTER)
        here = prefix + (router.prefix or "")
        ok = resolved and (router.prefix is not None or router.kind == "app")
        self._emit(node, here, ok, out)
        module = self.by_name.get(node[0])
        for inc in self.includes.get(node[0], []):
            if inc.parent != node[1] or module is None:
                continue
            child = self._router_node(module, inc.child)
            if child is None:
                self.notes.append(f"{module.rel}:{inc.line}: include_router({inc.child}) not found in the scanned files")
                continue
            prefix, known = inc.prefix, inc.prefix is not None
            if not known:
                setting = self.setting_default(inc.prefix_node, module)
                shown = ast.unparse(inc.prefix_node) if inc.prefix_node is not None else "?"
                read = _env_call(inc.prefix_node, module, self, None, None) if inc.prefix_node is not None else None
                if setting is None and read is not None and read.has_default and read.default is not None:
                    setting = (read.default, read.name)
                if setting is not None and isinstance(setting[0], str):
                    prefix, known = setting[0], True
                    self.notes.append(f"{module.rel}:{inc.line}: the prefix {shown} is a setting; its default "
                                      f"{setting[0]!r} is used (the environment can change it)")
                else:
                    self.notes.append(f"{module.rel}:{inc.line}: the prefix {shown} could not be read from the "
                                      f"code; the routes of {inc.child.rpartition('.')[2]} are listed without it")
            if child in reached and child not in stack:
                self.notes.append(f"{module.rel}:{inc.line}: {inc.child.rpartition('.')[2]} is mounted more than "
                                  f"once; its routes are listed under each prefix")
            self._collect(child, here + (prefix or ""), ok and known, out, reached, stack + (node,))

    def _router_node(self, module: _Module, child: str) -> tuple[str, str] | None:
        if (module.name, child) in self.routers:
            return (module.name, child)
        for _ in range(6):  # through re-exports: routes/__init__.py doing `from .items import router`
            found = self.split(child)
            if found is None:
                return None
            if (found[0].name, found[1]) in self.routers:
                return (found[0].name, found[1])
            if found[1] in found[0].aliases:
                child = found[0].aliases[found[1]]
            elif self.module_for(child) is not None:  # `from app.routes import items` then items.router
                return None
            else:
                return None
        return None

    def _emit(self, node, prefix, resolved, out) -> None:
        module = self.by_name[node[0]]
        for rd in self.route_defs.get(node[0], []):
            if rd.router != node[1] or rd.path is None:
                continue
            key = (module.name, rd.name)
            sse = rd.sse_hint or key in self.sse or _returns_sse_annotation(rd.function, module)
            beats = not sse or rd.sse_hint or key in self.sse_pinging or module.name in self.comment_lines or \
                _returns_sse_annotation(rd.function, module)
            body = self.body_sample(rd.function, module) if any(m in ("POST", "PUT", "PATCH") for m in rd.methods) else None
            query = self.query_sample(rd.function, module, rd.path)
            for method in rd.methods:
                out.append(Route(method, _join(prefix, rd.path), module.rel, rd.line, sse, rd.name, resolved,
                                 beats, rd.status, body, self.auth_of(rd.function, module), query))

    # -- what a request to a route carries: its JSON body and its credentials

    def _model(self, annotation: ast.AST | None, module: _Module) -> tuple[_Module, ast.ClassDef] | None:
        if isinstance(annotation, ast.Subscript):  # Annotated[Model, ...] / Optional[Model]
            annotation = annotation.slice.elts[0] if isinstance(annotation.slice, ast.Tuple) else annotation.slice
        if isinstance(annotation, ast.BinOp):  # Model | None
            annotation = annotation.left
        name = _qualname(annotation, module)
        if not name:
            return None
        if (module.name, name) in self.models:
            return module, self.models[(module.name, name)]
        found = self.split(name)
        if found and (found[0].name, found[1]) in self.models:
            return found[0], self.models[(found[0].name, found[1])]
        return None

    def query_sample(self, func: ast.AST | None, module: _Module, path: str) -> dict[str, str]:
        """Query parameters the handler requires (``q: str`` with no default), with sample values."""
        args = getattr(func, "args", None)
        if args is None:
            return {}
        plain = args.args[len(args.args) - len(args.defaults):] if args.defaults else []
        out: dict[str, str] = {}
        for arg in args.args:
            if arg in plain or arg.arg in ("self", "request") or "{" + arg.arg in path:
                continue
            text = ast.unparse(arg.annotation) if arg.annotation is not None else "str"
            if text in ("str", "int", "float", "bool") and self._model(arg.annotation, module) is None:
                out[arg.arg] = {"int": "1", "float": "1", "bool": "false"}.get(text, "streamdeploy")
        return out

    def body_sample(self, func: ast.AST | None, module: _Module) -> Any:
        """A JSON body the handler accepts, built from the pydantic model it takes."""
        args = getattr(func, "args", None)
        for arg in (args.args + args.kwonlyargs) if args else []:
            found = self._model(arg.annotation, module)
            if found is not None:
                return self._sample(found[1], found[0], 0)
        return None

    def _sample(self, cls: ast.ClassDef, module: _Module, depth: int) -> dict:
        out: dict[str, Any] = {}
        for stmt in cls.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            name = stmt.target.id
            required = stmt.value is None or (isinstance(stmt.value, ast.Call) and _qualname(stmt.value.func, module)
                                              .endswith("Field") and (not stmt.value.args or (
                                                  isinstance(stmt.value.args[0], ast.Constant)
                                                  and stmt.value.args[0].value is Ellipsis))
                                              and _kwarg(stmt.value, "default", "default_factory") is None)
            if not required:
                continue
            out[name] = self._sample_value(stmt.annotation, name, module, depth)
        return out

    def _sample_value(self, annotation: ast.AST, name: str, module: _Module, depth: int) -> Any:
        text = ast.unparse(annotation).replace(" ", "")
        if depth < 3 and (found := self._model(annotation, module)) is not None:
            return self._sample(found[1], found[0], depth + 1)
        if isinstance(annotation, ast.Subscript) and _qualname(annotation.value, module).lower() in ("list", "typing.list"):
            inner = self._model(annotation.slice, module)
            return [self._sample(inner[1], inner[0], depth + 1)] if inner and depth < 3 else []
        if text.startswith(("list", "List", "Sequence", "tuple", "set")):
            return []
        if text.startswith(("dict", "Dict", "Mapping")):
            return {}
        if text in ("int",):
            return 1
        if text in ("float",):
            return 1.0
        if text in ("bool",):
            return False
        return "{marker}" if name.lower() in ("id", "doc_id", "document_id", "key", "session_id") else f"streamdeploy {name}"

    def auth_of(self, func: ast.AST | None, module: _Module) -> tuple[str, str] | None:
        """The header a route wants (a bearer token, an API key header) and the secret it holds."""
        if func is None:
            return None
        deps = [func]
        for default in [*func.args.defaults, *func.args.kw_defaults]:
            if isinstance(default, ast.Call) and _qualname(default.func, module).rpartition(".")[2] in (
                    "Depends", "Security") and default.args:
                dep = self.function(module, _qualname(default.args[0], module))
                if dep is not None:
                    deps.append(self.functions[dep])
        for deco in getattr(func, "decorator_list", []):
            for dependency in _calls_named(_kwarg(deco, "dependencies") if isinstance(deco, ast.Call) else None,
                                           module, ("Depends", "Security")):
                dep = self.function(module, _qualname(dependency.args[0], module)) if dependency.args else None
                if dep is not None:
                    deps.append(self.functions[dep])
        header = None
        for dep in deps:
            source = ast.unparse(dep)
            for name in (n.id for n in ast.walk(dep) if isinstance(n, ast.Name)):  # bearer = HTTPBearer()
                const = self.consts.get(module.name, {}).get(name)
                if isinstance(const, ast.Call):
                    source += "\n" + ast.unparse(const)
            bearer_words = ("HTTPBearer", "HTTPAuthorizationCredentials", "OAuth2PasswordBearer", "Bearer ")
            if any(w in source for w in bearer_words):
                header = ("Authorization", "Bearer ")
            elif (match := re.search(r"APIKeyHeader\(\s*name\s*=\s*['\"]([^'\"]+)", source)) or \
                    (match := re.search(r"Header\([^)]*alias\s*=\s*['\"]([Xx]-[^'\"]+)", source)):
                header = (match.group(1), "")
            elif re.search(r"\bx_api_key\b", source):
                header = ("X-API-Key", "")
            if header:
                secret = self._secret_in(dep, module) or self._secret_in(func, module)
                if secret:
                    return header[0], header[1] + "${" + secret + "}"
        return None

    def _secret_in(self, func: ast.AST, module: _Module) -> str | None:
        """The app's own key a function compares with (not a provider's, like OPENAI_API_KEY)."""
        names: list[str] = []
        for node in ast.walk(func):
            read = _env_call(node, module, self, func, None)
            if read is not None:
                names.append(read.name)
            elif isinstance(node, ast.Attribute) and node.attr in self.attr_env:
                names.append(self.attr_env[node.attr].name)
            elif isinstance(node, ast.Name) and isinstance(const := self.consts.get(module.name, {}).get(node.id),
                                                           (ast.Call, ast.Subscript)):
                found = _env_call(const, module, self, None, None)
                if found is not None:
                    names.append(found.name)
        own = [n for n in names if looks_secret(n) and not n.startswith(_PROVIDER_PREFIXES)]
        return own[0] if own else None

    # -- chroma

    def chroma(self) -> list[ChromaUse]:
        out = []
        for c in self.chroma_calls:
            use = self._chroma_use(c)
            if use is not None and self.in_app(c.module):
                out.append(use)
        return out

    def _chroma_use(self, c: _ChromaCall) -> ChromaUse | None:
        rel, line = c.module.rel, c.call.lineno
        call = c.call
        if c.kind == "http" or (c.kind == "llamaindex" and _kwarg(call, "host") is not None):
            host = self.trace_path(_kwarg(call, "host"), c.module, c.scope, c.cls)
            port = self.trace_path(_kwarg(call, "port"), c.module, c.scope, c.cls)
            return ChromaUse("http", rel, line, host.path, via="HttpClient" if c.kind == "http" else
                             "LlamaIndex ChromaVectorStore", host_env=host.env, port_env=port.env)
        if c.kind == "ephemeral":
            return ChromaUse("ephemeral", rel, line, via="EphemeralClient")
        if c.kind in ("client", "langchain"):
            via = "chromadb.Client(Settings(...))" if c.kind == "client" else "LangChain Chroma"
            if c.kind == "langchain":
                if _kwarg(call, "client") is not None:
                    return None  # the client it is given is found on its own
                expr = _kwarg(call, "persist_directory")
                if expr is not None:
                    return self._persistent(expr, c, "LangChain Chroma(persist_directory=...)")
            settings = _kwarg(call, "settings", "client_settings")
            if settings is None and c.kind == "client" and call.args:
                settings = call.args[0]
            found = self._settings_call(settings, c)
            if found is not None:
                persistent = self.resolve_const(_kwarg(found, "is_persistent"), c.module, c.scope, c.cls)
                impl = self.resolve_const(_kwarg(found, "chroma_db_impl"), c.module, c.scope, c.cls)
                directory = _kwarg(found, "persist_directory")
                if persistent is True or (isinstance(impl, str) and ("duckdb" in impl or "parquet" in impl)):
                    if directory is None:
                        return ChromaUse("persistent", rel, line, path="./chroma", via=via)
                    return self._persistent(directory, c, f"{via.split('(')[0]}(Settings(persist_directory=...))")
            return ChromaUse("ephemeral", rel, line, via=via)
        if c.kind == "llamaindex":
            expr = _kwarg(call, "persist_dir", "persist_directory", "path")
            if expr is None:
                return None  # over a collection of a client that is found on its own
            return self._persistent(expr, c, "LlamaIndex ChromaVectorStore(persist_dir=...)")
        expr = _kwarg(call, "path", "persist_directory")
        if expr is None and call.args:
            expr = call.args[0]
        if expr is None:  # PersistentClient() stores in ./chroma by default
            return ChromaUse("persistent", rel, line, path="./chroma", how="detected")
        return self._persistent(expr, c, "PersistentClient")

    def _persistent(self, expr, c: _ChromaCall, via: str) -> ChromaUse:
        t = self.trace_path(expr, c.module, c.scope, c.cls)
        return ChromaUse("persistent", c.module.rel, c.call.lineno, t.path, t.env, t.default, t.how, via,
                         t.anchored, t.suffix)

    def _settings_call(self, node, c: _ChromaCall) -> ast.Call | None:
        """The ``Settings(...)`` call a client is given, directly or through a variable."""
        for _ in range(4):
            if isinstance(node, ast.Call):
                return node if _qualname(node.func, c.module).endswith("Settings") else None
            if not isinstance(node, ast.Name):
                return None
            node = (_local_assignment(c.scope, node.id) if c.scope is not None else None) or \
                self.consts.get(c.module.name, {}).get(node.id)
        return None

    def trace_path(self, expr, module, scope, cls, depth: int = 0) -> _Traced:
        """Follow a path expression back to a literal or an env var, a few steps deep:
        names, settings fields, ``Path(__file__).parent / "data"``, ``os.path.join``, f-strings."""
        none = _Traced()
        if depth > 8 or expr is None:
            return none
        deeper = depth + 1
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return _Traced(expr.value, how="detected")
        if isinstance(expr, ast.Name) and expr.id == "__file__":
            return _Traced(module.rel, how="detected", anchored=True)
        read = _env_call(expr, module, self, scope, cls)
        if read is not None:
            return _Traced(None, read.name, read.default, read.how, read.anchored)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
            return self._joined(self.trace_path(expr.left, module, scope, cls, deeper), [expr.right], module, scope, cls)
        if isinstance(expr, ast.JoinedStr) and expr.values:
            first, rest = expr.values[0], expr.values[1:]
            if isinstance(first, ast.FormattedValue):
                base = self.trace_path(first.value, module, scope, cls, deeper)
                tail = "".join(v.value for v in rest if isinstance(v, ast.Constant)) if all(
                    isinstance(v, ast.Constant) for v in rest) else None
                return base.join(tail.lstrip("/")) if tail and base.found else (base if not rest else none)
            return none
        if isinstance(expr, ast.Call):
            func = _qualname(expr.func, module)
            if func in ("os.path.join", "posixpath.join") and expr.args:
                base = self.trace_path(expr.args[0], module, scope, cls, deeper)
                return self._joined(base, expr.args[1:], module, scope, cls)
            if func == "os.path.dirname" and expr.args:
                return self.trace_path(expr.args[0], module, scope, cls, deeper).parent()
            if func in _PATH_WRAPPERS and expr.args:
                return self.trace_path(expr.args[0], module, scope, cls, deeper)
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in {"resolve", "absolute", "expanduser",
                                                                          "as_posix"}:
                return self.trace_path(expr.func.value, module, scope, cls, deeper)
            if isinstance(expr.func, ast.Attribute) and expr.func.attr == "joinpath":
                base = self.trace_path(expr.func.value, module, scope, cls, deeper)
                return self._joined(base, expr.args, module, scope, cls)
            return none
        if isinstance(expr, ast.Name):
            local = _local_assignment(scope, expr.id) if scope is not None else None
            if local is not None:
                return self.trace_path(local, module, scope, cls, deeper)
            const = self.consts.get(module.name, {}).get(expr.id)
            if const is not None:
                return self.trace_path(const, module, None, None, deeper)
            imported = module.aliases.get(expr.id)
            found = self.split(imported) if imported else None
            if found and found[1] in self.consts.get(found[0].name, {}):
                return self.trace_path(self.consts[found[0].name][found[1]], found[0], None, None, deeper)
        if isinstance(expr, ast.Attribute):
            if expr.attr == "parent":
                return self.trace_path(expr.value, module, scope, cls, deeper).parent()
            read = self.attr_env.get(expr.attr)
            if read is not None:  # matched by the attribute's name only: a good guess, not proof
                return _Traced(None, read.name, read.default, "guessed", read.anchored)
            default = self.resolve_const(expr, module, scope, cls)
            if isinstance(default, str):
                return _Traced(default, how="guessed")
        return none

    def _joined(self, base: _Traced, parts, module, scope, cls) -> _Traced:
        for part in parts:
            value = self.resolve_const(part, module, scope, cls)
            if not isinstance(value, str):
                break  # a file name from a request: the directory above it is what we want
            base = base.join(value)
        return base

    def resolve_const(self, node, module, scope, cls) -> Any:
        """A literal value behind a name, module constant or class attribute; None if not one."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
            return node.value
        if isinstance(node, ast.Name):
            if scope is not None:
                local = _local_assignment(scope, node.id)
                if isinstance(local, ast.Constant):
                    return local.value
            const = self.consts.get(module.name, {}).get(node.id)
            if isinstance(const, ast.Constant):
                return const.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = node.value.id
            classes = self.class_defaults.get(module.name, {})
            if owner in ("cls", "self") and cls is not None:
                owner = cls.name
            value = classes.get(owner, {}).get(node.attr)
            if isinstance(value, ast.Constant):
                return value.value
        return None

    # -- the module graph of the app

    def imports_of(self, module: _Module) -> set[str]:
        """Project modules ``module`` imports (anywhere in it), and their parent packages.
        From the import statements ``walk`` collected: a second full pass over every tree
        cost a third of the scan."""
        out: set[str] = set()
        for node in module.imports:
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node.module, node.level)
                names = [f"{base}.{a.name}" if base else a.name for a in node.names if a.name != "*"] + [base]
            for name in names:
                found = self.module_for(name) if name else None
                if found is None and "." in name:
                    found = self.module_for(name.rpartition(".")[0])
                if found is not None:
                    out.add(found.name)
        return out

    def reach(self, start: _Module) -> set[str]:
        """Every module the app's module imports, transitively, with their packages' __init__."""
        seen: set[str] = set()
        queue = [start.name]
        while queue:
            name = queue.pop()
            if name in seen or name not in self.by_name:
                continue
            seen.add(name)
            parts = name.split(".")
            queue.extend(".".join(parts[:i]) for i in range(1, len(parts)))
            queue.extend(self.imports_of(self.by_name[name]))
        return seen

    def in_app(self, module: _Module) -> bool:
        return self.app_modules is None or module.name in self.app_modules

    # -- settings: `settings.api_prefix` is a field default of a BaseSettings class

    def setting_default(self, node: ast.AST | None, module: _Module) -> tuple[Any, str] | None:
        """(default value, attribute) for ``settings.X`` / ``get_settings().X``; None if not one."""
        if not isinstance(node, ast.Attribute):
            return None
        made: str | None = None
        if isinstance(node.value, ast.Name):
            qualified = module.aliases.get(node.value.id, f"{module.name}.{node.value.id}")
            found = self.split(qualified)
            made = self.instances.get((found[0].name, found[1])) if found else None
        elif isinstance(node.value, ast.Call):
            made = _qualname(node.value.func, module) or None
        for _ in range(3):
            found = self.split(made) if made else None
            if found is None:
                return None
            owner, name = found
            if name in owner.classes:
                value = self.resolve_const(owner.classes[name].get(node.attr), owner, None, None)
                return (value, node.attr) if value is not None else None
            made = self.returns_call.get((owner.name, name))  # get_settings() returns Settings()
        return None

    # -- state, needs and workers

    def state_and_needs(self) -> tuple[list[StateUse], list[Needs]]:
        state: list[StateUse] = []
        needs: list[Needs] = []
        for c in self.state_calls:
            if not self.in_app(c.module):
                continue
            rel, line = c.module.rel, c.call.lineno
            at_start = c.scope is None or any(w in c.scope.name.lower() for w in ("lifespan", "startup", "init"))
            if c.kind == "model":
                name = self.resolve_const(c.expr, c.module, c.scope, c.cls) if c.expr is not None else None
                if c.what == "chroma-default" or c.what in ("DefaultEmbeddingFunction", "ONNXMiniLM_L6_V2"):
                    what = "Chroma's default embedding model (all-MiniLM-L6-v2, ~80 MB)"
                else:
                    what = f"the model {name}" if isinstance(name, str) else f"a model ({c.what})"
                if isinstance(name, str) and (name.startswith(("/", "./", "../")) or name in ("", ".")):
                    continue  # a model loaded from a path the app ships
                needs.append(Needs("model", rel, line, None, what, at_start))
                continue
            traced = self.trace_path(c.expr, c.module, c.scope, c.cls)
            if c.kind in ("redis", "postgres", "mongodb", "rabbitmq"):
                needs.append(Needs(c.kind, rel, line, traced.env, c.what, at_start))
                continue
            if c.kind == "db-url":
                url = traced.path if traced.path is not None else traced.default
                if url is None and traced.env is None:
                    continue
                scheme = (url or "").split(":", 1)[0].lower()
                if scheme.startswith("sqlite"):
                    path = _sqlite_path(url)
                    if path is None:
                        continue  # :memory:
                    state.append(StateUse("sqlite", rel, line, path if traced.env is None else None, traced.env,
                                          path if traced.env else None, traced.how, traced.anchored,
                                          url=traced.env is not None))
                else:
                    kind = next((k for k, words in _SERVERS.items() if scheme.startswith(words)), "postgres")
                    needs.append(Needs(kind, rel, line, traced.env, _SERVER_NAMES[kind], at_start))
                continue
            if not traced.found:
                continue
            if c.kind == "sqlite-file":
                if traced.path == ":memory:":
                    continue
                state.append(StateUse("sqlite", rel, line, traced.path, traced.env, traced.default, traced.how,
                                      traced.anchored, suffix=traced.suffix))
                continue
            # a directory the app writes into: an upload folder or some other data
            place = traced.path if traced.path is not None else traced.default or ""
            if c.kind == "write-file" and traced.path is not None and "/" not in traced.path.strip("./"):
                continue  # a single file next to the app (a log, a cache): not a folder of data
            if place.startswith(("/tmp", "/var/tmp", "/dev")) or (traced.path in (".", "") and not traced.env):
                continue
            if c.kind == "write-file" and traced.path is not None:
                place = posixpath.dirname(traced.path) if "." in posixpath.basename(traced.path) else traced.path
            words = " ".join(filter(None, [place, traced.env, traced.suffix])).lower()
            kind: StateKind = "uploads" if any(w in words for w in ("upload", "media", "attachment")) else "files"
            path = place if traced.env is None else None
            state.append(StateUse(kind, rel, line, path, traced.env, traced.default, traced.how, traced.anchored,
                                  suffix=traced.suffix))
        return state, needs

    def workers(self, app: _Module | None, chroma: list[ChromaUse], state: list[StateUse]) -> list[Worker]:
        """Programs beside the app that run on their own and open the same data."""
        if app is None or self.app_modules is None:
            return []
        mine = {_data_key(u) for u in [*chroma, *state]}
        out = []
        for name in sorted({*self.programs, *self.celery}):
            module = self.by_name.get(name)
            if module is None or name in self.app_modules or module.rel.split("/")[0] in _UNLIKELY_DIRS:
                continue
            theirs = {_data_key(u) for u in self._data_of(module)}
            shared = tuple(sorted(mine & theirs))
            stem = name.rpartition(".")[2].lower()
            long_running = name in self.loops or name in self.celery or any(w in stem for w in _WORKER_WORDS)
            if not long_running:
                continue
            if name in self.celery:
                start = f"celery -A {name} worker --loglevel INFO"
                why = f"Celery app at {module.rel}:{self.celery[name]}"
            else:
                start = f"python -m {name}" if "." in name or module.is_package else f"python {module.rel}"
                why = f"runs on its own ({module.rel}:{self.programs[name]}: `if __name__ == \"__main__\"`" + (
                    ", with a `while True` loop)" if name in self.loops else ")")
            out.append(Worker(name, module.rel, start, why, shared))
        return out

    def _data_of(self, module: _Module) -> list:
        """Chroma and files that one module (a worker) opens, read as if it were the app."""
        saved, self.app_modules = self.app_modules, None
        try:
            mine = self.reach(module)
            uses = [u for c in self.chroma_calls if c.module.name in mine and (u := self._chroma_use(c))]
            self.app_modules = mine
            uses += self.state_and_needs()[0]
        finally:
            self.app_modules = saved
        return uses

    # -- streamlit

    def streamlit_scripts(self) -> list[Fact]:
        scripts = [(m, n) for m, n in self.streamlit if n > 0]
        scripts.sort(key=lambda mn: (-mn[1], mn[0].rel.count("/"), mn[0].rel))
        return [Fact(m.rel, "detected", m.rel, f"imports streamlit and makes {n} st.* call(s)") for m, n in scripts]


_NO_ROUTER = _RouterDef("router", None, 0, False)


class _Walker(ast.NodeVisitor):
    """One pass over a module: routers, routes, includes, env reads, Chroma, SSE markers."""

    def __init__(self, project: _Project, module: _Module):
        self.p = project
        self.m = module
        self.funcs: list[ast.AST] = []
        self.classes: list[ast.ClassDef] = []

    # scopes

    def _def(self, node) -> None:
        key = (self.m.name, node.name)
        self.p.functions.setdefault(key, node)
        self.p.calls.setdefault(key, set())
        self._route_decorators(node)
        self.funcs.append(node)
        self.generic_visit(node)
        self.funcs.pop()

    visit_FunctionDef = _def
    visit_AsyncFunctionDef = _def

    def visit_Import(self, node: ast.Import) -> None:
        self.m.imports.append(node)
        _record_import(self.m, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.m.imports.append(node)
        _record_import(self.m, node)

    def visit_Return(self, node: ast.Return) -> None:
        if self.funcs and node.value is not None:
            key = (self.m.name, self.funcs[-1].name)
            if isinstance(node.value, ast.Name):
                self.p.returns.setdefault(key, set()).add(node.value.id)
            elif isinstance(node.value, ast.Call) and _qualname(node.value.func, self.m) in _FASTAPI:
                self.p.returns_app.add(key)
            elif isinstance(node.value, ast.Call) and (called := _qualname(node.value.func, self.m)):
                self.p.returns_call.setdefault(key, called if "." in called else f"{self.m.name}.{called}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # ": ping\n\n" written by the app itself: a keep-alive of its own on a plain StreamingResponse
        if isinstance(node.value, str) and node.value.startswith(":") and node.value.endswith("\n"):
            self.p.comment_lines.add(self.m.name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.m.classes[node.name] = _class_attributes(node)
        if any(_qualname(b, self.m).endswith(("BaseModel", "SQLModel")) for b in node.bases):
            self.p.models[(self.m.name, node.name)] = node
        if any(_qualname(b, self.m).endswith("BaseSettings") for b in node.bases):
            self._settings_class(node)
        self.classes.append(node)
        self.generic_visit(node)
        self.classes.pop()

    @property
    def scope(self) -> ast.AST | None:
        return self.funcs[-1] if self.funcs else None

    @property
    def cls(self) -> ast.ClassDef | None:
        return self.classes[-1] if self.classes else None

    # assignments: apps, routers, env reads stored under a name

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assigned(node.target, node.value, node.lineno)
        self.generic_visit(node)

    def _assigned(self, target, value, line) -> None:
        name = target.id if isinstance(target, ast.Name) else (
            target.attr if isinstance(target, ast.Attribute) else None)
        if name is None or not isinstance(value, ast.Call):
            return
        func = _qualname(value.func, self.m)
        if isinstance(target, ast.Name) and (func in _FASTAPI or func in _ROUTER):
            kind = "app" if func in _FASTAPI else "router"
            prefix_node = _kwarg(value, "prefix")
            prefix = "" if prefix_node is None else self.p.resolve_const(prefix_node, self.m, self.scope, self.cls)
            self.p.routers[(self.m.name, name)] = _RouterDef(
                kind, prefix if isinstance(prefix, str) else None, line, self.scope is None and not self.classes
            )
            return
        if isinstance(target, ast.Name) and self.scope is None and not self.classes and func:
            # settings = Settings() / get_settings(): which class's defaults `settings.x` reads
            self.p.instances[(self.m.name, name)] = func if "." in func else f"{self.m.name}.{func}"
        if isinstance(target, ast.Name) and self.scope is None and not self.classes and func:
            # app = create_app(): a candidate factory, confirmed once every module is read
            if "." not in func:
                self.p.factory_of[(self.m.name, name)] = ((self.m.name, func), line)
            elif (found := self.p.split(func)) is not None:
                self.p.factory_of[(self.m.name, name)] = ((found[0].name, found[1]), line)
        read = _env_call(value, self.m, self.p, self.scope, self.cls)
        if read is not None:
            self.p.attr_env.setdefault(name, read)

    # calls: routes added by call, includes, env reads, chroma, uvicorn.run

    def visit_Call(self, node: ast.Call) -> None:
        func = _qualname(node.func, self.m)
        if self.scope is not None and func:
            self.p.calls[(self.m.name, self.scope.name)].add(func)
        if self.funcs and _is_sse_marker(node, func, self.m, self.p):
            for enclosing in self.funcs:  # the helper and every function it is nested in
                self.p.sse_direct.add((self.m.name, enclosing.name))
                if not func.endswith("EventSourceResponse"):
                    self.p.sse_plain.add((self.m.name, enclosing.name))
        read = _env_call(node, self.m, self.p, self.scope, self.cls)
        if read is not None:
            self.p.env_reads.append(read)
        for kw in node.keywords:  # Settings(chroma_path=os.getenv("CHROMA_DB_PATH"), ...)
            if kw.arg and isinstance(kw.value, ast.Call):
                kw_read = _env_call(kw.value, self.m, self.p, self.scope, self.cls)
                if kw_read is not None:
                    self.p.attr_env.setdefault(kw.arg, kw_read)
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            owner, method = node.func.value.id, node.func.attr
            if method == "include_router" and node.args:
                child = _qualname(node.args[0], self.m)
                prefix_node = _kwarg(node, "prefix")
                prefix = "" if prefix_node is None else self.p.resolve_const(prefix_node, self.m, self.scope, self.cls)
                if child:
                    self.p.includes.setdefault(self.m.name, []).append(
                        _Include(owner, child, prefix if isinstance(prefix, str) else None, node.lineno,
                                 prefix_node if not isinstance(prefix, str) else None)
                    )
            elif method in ("add_api_route", "add_route") and node.args:
                path = self.p.resolve_const(node.args[0], self.m, self.scope, self.cls)
                endpoint = node.args[1] if len(node.args) > 1 else _kwarg(node, "endpoint")
                name = endpoint.id if isinstance(endpoint, ast.Name) else ""
                methods = _methods(_kwarg(node, "methods")) or ("GET",)
                self.p.route_defs.setdefault(self.m.name, []).append(
                    _RouteDef(owner, methods, path if isinstance(path, str) else None,
                              self.p.functions.get((self.m.name, name)), name, node.lineno, False)
                )
        kind = _chroma_kind(func)
        if kind is not None:
            self.p.chroma_calls.append(_ChromaCall(kind, self.m, node, self.scope, self.cls))
        self._state_call(node, func)
        if func in ("uvicorn.run", "uvicorn.main.run"):
            target = self.p.resolve_const(node.args[0], self.m, self.scope, self.cls) if node.args else None
            port_node = _kwarg(node, "port")
            port = self.p.resolve_const(port_node, self.m, self.scope, self.cls) if port_node is not None else None
            self.p.uvicorn_runs.append((self.m.rel, target if isinstance(target, str) else None,
                                        port if isinstance(port, int) and not isinstance(port, bool) else None,
                                        node.lineno))
        if func.endswith("EventSourceResponse"):
            ping = _kwarg(node, "ping")
            value = self.p.resolve_const(ping, self.m, self.scope, self.cls) if ping is not None else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and self.p.heartbeat is None:
                self.p.heartbeat = Fact(float(value), "detected", f"{self.m.rel}:{node.lineno}", "EventSourceResponse(ping=...)")
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (not self.funcs and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == "__name__" and len(test.comparators) == 1
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"):
            self.p.programs.setdefault(self.m.name, node.lineno)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        if isinstance(node.test, ast.Constant) and node.test.value is True:
            self.p.loops.add(self.m.name)
        self.generic_visit(node)

    def _state_call(self, node: ast.Call, func: str) -> None:
        """Calls that open a database, write files, reach a server or fetch a model."""
        first = node.args[0] if node.args else None

        def add(kind: str, expr: ast.AST | None, what: str = "") -> None:
            self.p.state_calls.append(_Call(kind, self.m, node, self.scope, self.cls, expr, what))

        last = func.rpartition(".")[2]
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if func in ("sqlite3.connect", "aiosqlite.connect"):
            add("sqlite-file", first or _kwarg(node, "database"))
        elif last in ("create_engine", "create_async_engine") or func in ("databases.Database",):
            add("db-url", first or _kwarg(node, "url"))
        elif func.startswith(("redis", "aioredis")) and last in ("Redis", "StrictRedis", "from_url"):
            add("redis", first or _kwarg(node, "url", "host"), "Redis")
        elif func.startswith(("asyncpg", "psycopg", "psycopg2", "psycopg_pool")) and last in (
                "connect", "create_pool", "ConnectionPool", "AsyncConnectionPool"):
            add("postgres", first or _kwarg(node, "dsn", "conninfo"), "PostgreSQL")
        elif func.startswith(("pymongo", "motor")) and last in ("MongoClient", "AsyncIOMotorClient"):
            add("mongodb", first or _kwarg(node, "host"), "MongoDB")
        elif func.startswith(("pika", "aio_pika")) and last in ("BlockingConnection", "connect", "connect_robust"):
            add("rabbitmq", first, "RabbitMQ")
        elif func.endswith("Celery") and func.startswith("celery"):
            self.p.celery.setdefault(self.m.name, node.lineno)
            broker = _kwarg(node, "broker")
            if broker is not None:
                add("redis" if "redis" in ast.unparse(broker).lower() else "rabbitmq", broker, "the Celery broker")
        elif func in ("os.makedirs", "os.mkdir") or method == "mkdir":
            add("write-dir", first if func.startswith("os.") else node.func.value)
        elif func in ("open", "io.open", "aiofiles.open") and _write_mode(node):
            add("write-file", first)
        elif method in ("write_bytes", "write_text") and isinstance(node.func, ast.Attribute):
            add("write-file", node.func.value)
        elif (last in _MODEL_LOADERS and func.split(".")[0] in _MODEL_LIBRARIES) or (
                method == "from_pretrained" and first is not None):
            add("model", first or _kwarg(node, "model_name", "model", "repo_id", "model_name_or_path"), last)
        elif method in ("create_collection", "get_or_create_collection") and _kwarg(node, "embedding_function") is None \
                and any(v.startswith("chromadb") for v in self.m.aliases.values()):
            add("model", None, "chroma-default")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        read = _env_call(node, self.m, self.p, self.scope, self.cls)
        if read is not None and isinstance(node.ctx, ast.Load):
            self.p.env_reads.append(read)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        # "X" in os.environ
        if (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
                and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn))
                and _qualname(node.comparators[0], self.m) == "os.environ" and _ENV_NAME.match(node.left.value)):
            self.p.env_reads.append(EnvRead(node.left.value, self.m.rel, node.lineno, None, True))
        self.generic_visit(node)

    # decorators and settings classes

    def _route_decorators(self, node) -> None:
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and isinstance(deco.func.value, ast.Name)):
                continue
            method = deco.func.attr
            if method in _HTTP_METHODS:
                methods: tuple[str, ...] = (method.upper(),)
            elif method == "api_route":
                methods = _methods(_kwarg(deco, "methods")) or ("GET",)
            elif method == "route":  # Starlette's @app.route
                methods = _methods(_kwarg(deco, "methods")) or ("GET",)
            else:
                continue
            path_node = deco.args[0] if deco.args else _kwarg(deco, "path")
            path = self.p.resolve_const(path_node, self.m, self.scope, self.cls) if path_node is not None else None
            response_class = _kwarg(deco, "response_class")
            hint = response_class is not None and _qualname(response_class, self.m).endswith("EventSourceResponse")
            self.p.route_defs.setdefault(self.m.name, []).append(
                _RouteDef(deco.func.value.id, methods, path if isinstance(path, str) else None,
                          node, node.name, deco.lineno, hint, _status_code(_kwarg(deco, "status_code")))
            )

    def _settings_class(self, node: ast.ClassDef) -> None:
        """pydantic-settings: each field reads an env var named after it (plus env_prefix)."""
        prefix = ""
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "model_config" for t in stmt.targets):
                value = _kwarg(stmt.value, "env_prefix") if isinstance(stmt.value, ast.Call) else None
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    prefix = value.value
            if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
                for inner in stmt.body:
                    if (isinstance(inner, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "env_prefix" for t in inner.targets)
                            and isinstance(inner.value, ast.Constant) and isinstance(inner.value.value, str)):
                        prefix = inner.value.value
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            field_name = stmt.target.id
            if field_name == "model_config" or "ClassVar" in ast.unparse(stmt.annotation):
                continue
            env = (prefix + field_name).upper()
            default_node = stmt.value
            if isinstance(stmt.value, ast.Call) and _qualname(stmt.value.func, self.m).endswith("Field"):
                alias = _kwarg(stmt.value, "validation_alias", "alias")
                if isinstance(alias, ast.Constant) and isinstance(alias.value, str):
                    env = alias.value.upper()
                default_node = stmt.value.args[0] if stmt.value.args else _kwarg(stmt.value, "default")
                if _kwarg(stmt.value, "default_factory") is not None:
                    default_node = default_node or ast.Constant(value=None)
            has_default = default_node is not None and not (
                isinstance(default_node, ast.Constant) and default_node.value is Ellipsis)
            default = default_node.value if isinstance(default_node, ast.Constant) else None
            anchored = False
            if default is None and default_node is not None:  # Path("data") / "chroma", BASE_DIR / "db"
                traced = self.p.trace_path(default_node, self.m, None, node)
                default, anchored = (traced.path, traced.anchored) if traced.path is not None else (None, False)
            read = EnvRead(env, self.m.rel, stmt.lineno, _text(default), has_default, "detected", anchored,
                           required=not has_default)
            self.p.env_reads.append(read)
            self.p.attr_env.setdefault(field_name, read)


_MODEL_LOADERS = {"SentenceTransformer", "SentenceTransformerEmbeddingFunction", "HuggingFaceEmbeddings",
                  "HuggingFaceEmbedding", "HuggingFaceBgeEmbeddings", "hf_hub_download", "snapshot_download",
                  "pipeline", "DefaultEmbeddingFunction", "ONNXMiniLM_L6_V2", "TextEmbedding", "CrossEncoder"}


# Keys of the model providers an app calls: never the key a client of the app sends.
_PROVIDER_PREFIXES = ("OPENAI", "ANTHROPIC", "GROQ", "COHERE", "MISTRAL", "HF_", "HUGGINGFACE", "GOOGLE", "GEMINI",
                      "AZURE", "AWS", "PINECONE", "LANGCHAIN", "LANGSMITH", "TOGETHER", "VOYAGE", "JINA", "DEEPSEEK",
                      "XAI", "PERPLEXITY", "REPLICATE", "SENTRY", "FIREWORKS", "OPENROUTER", "NVIDIA", "TAVILY")


def _status_code(node: ast.AST | None) -> int | None:
    """201 from ``status_code=201`` or ``status.HTTP_201_CREATED``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    match = re.search(r"HTTP_(\d{3})", ast.unparse(node)) if node is not None else None
    return int(match.group(1)) if match else None


def _calls_named(node: ast.AST | None, module: _Module, names: tuple[str, ...]) -> list[ast.Call]:
    if node is None:
        return []
    return [n for n in ast.walk(node) if isinstance(n, ast.Call) and _qualname(n.func, module).rpartition(".")[2] in names]


_MODEL_LIBRARIES = {"sentence_transformers", "transformers", "huggingface_hub", "chromadb", "langchain_huggingface",
                    "langchain_community", "langchain", "llama_index", "fastembed"}


def _chroma_kind(func: str) -> str | None:
    """What kind of Chroma client a call makes, by its qualified name."""
    last = func.rpartition(".")[2]
    if func.startswith("chromadb."):
        return {"PersistentClient": "persistent", "HttpClient": "http", "AsyncHttpClient": "http",
                "CloudClient": "http", "EphemeralClient": "ephemeral", "Client": "client"}.get(last)
    if func.startswith("langchain") and (last == "Chroma" or func.endswith((".Chroma.from_documents",
                                                                            ".Chroma.from_texts"))):
        return "langchain"
    if func.startswith("llama_index") and (last == "ChromaVectorStore" or func.endswith(".ChromaVectorStore.from_params")):
        return "llamaindex"
    return None


def _write_mode(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else _kwarg(call, "mode")
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")


_SERVERS = {"postgres": ("postgres",), "mysql": ("mysql", "mariadb"), "mongodb": ("mongodb",),
            "redis": ("redis", "rediss")}
_SERVER_NAMES = {"postgres": "PostgreSQL", "mysql": "MySQL", "mongodb": "MongoDB", "redis": "Redis",
                 "rabbitmq": "RabbitMQ"}
_WORKER_WORDS = ("worker", "consumer", "queue", "jobs", "scheduler", "tasks", "indexer", "watcher")


def _sqlite_path(url: str | None) -> str | None:
    """The file of ``sqlite:///./app.db`` (relative) or ``sqlite:////data/app.db`` (absolute)."""
    if not url:
        return None
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:" or "mode=memory" in url:
        return None
    return rest


def _data_key(use) -> str:
    """One name for the same data, whoever opens it: chroma:CHROMA_DB_PATH, sqlite:./app.db."""
    kind = "chroma" if isinstance(use, ChromaUse) else use.kind
    where = use.env or posixpath.normpath(use.path or "")
    return f"{kind}:{where}"


# --- small AST helpers -------------------------------------------------------------------


def _qualname(node: ast.AST | None, module: _Module) -> str:
    """``fastapi.FastAPI`` for ``FastAPI`` imported from fastapi; "" when not a dotted name."""
    if isinstance(node, ast.Name):
        return module.aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _qualname(node.value, module)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _kwarg(call: ast.Call, *names: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg in names:
            return kw.value
    return None


def _methods(node: ast.AST | None) -> tuple[str, ...]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return tuple(e.value.upper() for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return ()


def _line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def _text(value: Any) -> str | None:
    if value is None or value is Ellipsis:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _join(prefix: str, path: str) -> str:
    full = (prefix or "") + (path or "")
    if not full.startswith("/"):
        full = "/" + full
    return full if full == "/" else full.rstrip("/") or "/"


def _module_assignments(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            out[stmt.target.id] = stmt.value
    return out


def _class_attributes(stmt: ast.ClassDef) -> dict[str, ast.AST]:
    """Attribute -> default value node, from one class body."""
    attrs: dict[str, ast.AST] = {}
    for item in stmt.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
            value = item.value
            if isinstance(value, ast.Call) and (default := _kwarg(value, "default")) is not None:
                value = default  # dataclasses.field(default=...) / Field(default=...)
            attrs[item.target.id] = value
        elif isinstance(item, ast.Assign):
            for target in item.targets:
                if isinstance(target, ast.Name):
                    attrs[target.id] = item.value
    return attrs


def _local_assignment(scope: ast.AST, name: str) -> ast.AST | None:
    """The value last assigned to ``name`` in this function (nested ones included: a guess)."""
    found = None
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name and node.value:
            found = node.value
    return found


def _env_call(node: ast.AST, module: _Module, project: _Project, scope, cls) -> EnvRead | None:
    """``os.getenv("X", d)``, ``os.environ["X"]``, ``os.environ.get``; and, as a guess,
    ``reader.text("X", d)`` / ``env.str("X")`` / ``config("X")`` settings helpers."""
    if isinstance(node, ast.Subscript):
        if _qualname(node.value, module) == "os.environ":
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return EnvRead(key.value, module.rel, node.lineno, None, False, "detected", required=True)
        return None
    if not isinstance(node, ast.Call) or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    name = first.value
    func = _qualname(node.func, module)
    default_node = node.args[1] if len(node.args) > 1 else _kwarg(node, "default")
    default = project.resolve_const(default_node, module, scope, cls) if default_node is not None else None
    anchored = False
    if default is None and default_node is not None and func in _GETENV:
        traced = project.trace_path(default_node, module, scope, cls, 1)  # os.getenv("X", str(BASE / "db"))
        default, anchored = (traced.path, traced.anchored) if traced.path is not None else (None, False)
    if func in _GETENV:
        return EnvRead(name, module.rel, node.lineno, _text(default), default_node is not None, "detected", anchored)
    if not _ENV_NAME.match(name) or len(name) < 2:
        return None
    receiver = func.rpartition(".")[0].lower()
    method = func.rpartition(".")[2]
    root = node.func
    while isinstance(root, ast.Attribute):
        root = root.value
    root_name = root.id if isinstance(root, ast.Name) else ""
    helper = (
        # reader.text("X"), env.str("X"): a local helper object, not an imported library (st.text)
        (isinstance(node.func, ast.Attribute) and method in _READER_METHODS and root_name not in module.aliases)
        or (isinstance(node.func, ast.Name) and node.func.id in ("config", "env", "getenv"))
        or (method == "get" and ("env" in receiver or "config" in receiver))
    )
    if helper:  # decouple's config("X") and environs' env.str("X") raise without a default
        return EnvRead(name, module.rel, node.lineno, _text(default), default_node is not None, "guessed",
                       required=default_node is None and method not in ("get", "optional"))
    return None


def _is_sse_media_type(node: ast.AST, module: _Module, project: _Project) -> bool:
    value = project.resolve_const(node, module, None, None)
    return isinstance(value, str) and value.startswith("text/event-stream")


def _is_sse_marker(call: ast.Call, name: str, module: _Module, project: _Project) -> bool:
    """A call that builds an SSE response: EventSourceResponse (sse-starlette's, FastAPI's or
    a re-export), or any response with media_type text/event-stream."""
    if name.endswith("EventSourceResponse"):
        return True
    media = _kwarg(call, "media_type")
    return media is not None and _is_sse_media_type(media, module, project)


def _returns_sse_annotation(func: ast.AST | None, module: _Module) -> bool:
    returns = getattr(func, "returns", None)
    return returns is not None and _qualname(returns, module).endswith("EventSourceResponse")


def _streamlit_calls(module: _Module) -> int:
    names = {k for k, v in module.aliases.items() if v == "streamlit"}
    return sum(
        1 for node in ast.walk(module.tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id in names
    )


# --- choosing the app ---------------------------------------------------------------------

_APP_FILES = {"main", "app", "server", "api", "asgi", "application", "__init__", "webapp", "service"}
_UNLIKELY_DIRS = {"examples", "example", "scripts", "docs", "doc", "samples", "sample", "benchmarks", "tools"}


def _choose_app(project: _Project, facts: AppFacts) -> None:
    candidates = project.app_candidates()
    if not candidates:
        return
    named: set[str] = set()
    for _, target, _, _ in project.uvicorn_runs:
        if target:
            named.add(target)
    procfile_target = None
    if facts.procfile is not None:
        match = re.search(r"([A-Za-z_][\w.]*):([A-Za-z_]\w*)", str(facts.procfile.value))
        procfile_target = f"{match.group(1)}:{match.group(2)}" if match else None

    def score(candidate) -> tuple:
        module, var, line, factory, _ = candidate
        ref = f"{module.name}:{var}"
        dirs = module.rel.split("/")[:-1]
        points = 0
        points += 20 if procfile_target and ref.endswith(procfile_target) else 0
        points += 10 if any(ref.endswith(n) or n.endswith(ref) for n in named) else 0
        points += 4 if var == "app" else 0
        points += 2 if Path(module.rel).stem in _APP_FILES else 0
        points -= 6 if any(d in _UNLIKELY_DIRS for d in dirs) else 0
        points -= 1 if factory else 0
        return (-points, len(dirs), module.rel, var)

    ranked = sorted(candidates, key=score)
    module, var, line, factory, why = ranked[0]
    app_dir, module_name = _import_root(module, project)
    facts.app = Fact(f"{module_name}:{var}", "detected", f"{module.rel}:{line}", why)
    facts.factory = factory
    facts.app_dir = app_dir
    others = [f"{m.rel}:{ln}" for m, v, ln, _, _ in ranked[1:] if (m, v) != (module, var)]
    if others:
        facts.notes.append(
            f"several FastAPI apps found; using {module.rel}:{line} ({module_name}:{var}). "
            f"Others: {', '.join(others[:5])}; add them as more services if they are"
        )
    for rel, target, port, run_line in project.uvicorn_runs:
        if port and target and target.endswith(f":{var}"):
            facts.port = Fact(port, "detected", f"{rel}:{run_line}", "uvicorn.run(port=...)")
            break
    else:
        for rel, target, port, run_line in project.uvicorn_runs:
            if port and rel == module.rel:
                facts.port = Fact(port, "detected", f"{rel}:{run_line}", "uvicorn.run(port=...)")
                break


def _import_root(module: _Module, project: _Project) -> tuple[str | None, str]:
    """(directory to import from, dotted module name), worked out from how the file imports
    its own package: ``backend/app/main.py`` doing ``from app.db import x`` imports from
    ``backend``. Relative imports need the package they climb to."""
    parts = list(Path(module.rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    start = 1 if len(parts) > 1 and parts[0] == "src" else 0
    dirs = parts[:-1] if not module.is_package else parts[:-1]
    tops = set()
    deepest_relative = 0
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
            deepest_relative = max(deepest_relative, node.level)
        elif isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
    for i, part in enumerate(dirs):
        if part in tops and (project.root / Path(*parts[: i + 1])).is_dir():
            start = i
            break
    # A relative import of level L needs L enclosing packages in the module name.
    climb = deepest_relative if not module.is_package else max(0, deepest_relative - 1)
    start = min(start, max(0, len(parts) - 1 - climb))
    # Every remaining component must be an identifier to be importable.
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isidentifier() and i >= start:
            start = i + 1
            break
    start = min(start, len(parts) - 1)
    app_dir = "/".join(parts[:start]) or None
    return app_dir, ".".join(parts[start:])


def _health(routes: list[Route]) -> Fact | None:
    best = None
    for route in routes:
        if route.method not in ("GET", "HEAD") or "{" in route.path:
            continue
        last = "/" + route.path.rstrip("/").rsplit("/", 1)[-1]
        if last not in HEALTH_PATHS:
            continue
        rank = (HEALTH_PATHS.index(last), route.path.count("/"), route.path)
        if best is None or rank < best[0]:
            best = (rank, route)
    if best is None:
        return None
    route = best[1]
    return Fact(route.path, "detected" if route.resolved else "guessed", route.where,
                f"{route.method} {route.path} in {route.function or 'a route'}")


def _server(facts: AppFacts) -> Fact:
    source = facts.dependency_file.value if facts.dependency_file else None
    if facts.has("uvicorn"):
        return Fact("uvicorn", "detected", source, f"uvicorn is in {source}")
    if facts.has("gunicorn") and facts.has("uvicorn-worker"):
        return Fact("uvicorn", "guessed", source, "gunicorn with uvicorn workers; uvicorn runs it directly")
    if facts.has("hypercorn"):
        return Fact("hypercorn", "detected", source, f"hypercorn is in {source}")
    why = f"no ASGI server in {source}: add uvicorn to it" if source else "no dependency file: add one listing uvicorn"
    return Fact("uvicorn", "guessed", source, why)


# Directory names that say where code sits in a repository, not what the project is called.
_GENERIC_NAMES = {"backend", "api", "server", "app", "apps", "service", "services", "src", "web", "python", "core",
                  "project", "code", "main", "site", "application", "fastapi", "py"}


def _name(root: Path, context: Path | None = None) -> Fact:
    for where in dict.fromkeys([context or root, root]):
        data = _pyproject(where) if (where / "pyproject.toml").is_file() else {}
        project = data.get("project", {}) if isinstance(data.get("project"), dict) else {}
        poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
        project_name = project.get("name") or (poetry.get("name") if isinstance(poetry, dict) else None)
        label = dns_label(project_name) if isinstance(project_name, str) else ""
        if label and label not in _GENERIC_NAMES:
            rel = (where / "pyproject.toml").relative_to(root).as_posix() if where != root else "pyproject.toml"
            return Fact(label, "detected", rel, "[project].name")
    repo = _repository_root(root)
    if repo is not None and dns_label(repo.name) and dns_label(repo.name) not in _GENERIC_NAMES:
        return Fact(dns_label(repo.name), "guessed", None, f"from the repository's directory name {repo.name!r}")
    for directory in (root, *root.parents[:3]):
        label = dns_label(directory.name)
        if label and label not in _GENERIC_NAMES:
            why = f"from the directory name {directory.name!r}"
            return Fact(label, "guessed", None, why if directory == root else why + f" ({root.name!r} says where, not what)")
    return Fact(dns_label(root.name) or "app", "guessed", None, f"from the directory name {root.name!r}")


def _repository_root(root: Path) -> Path | None:
    for directory in (root, *list(root.parents)[:6]):
        if (directory / ".git").exists():
            return directory
    return None


def _has_python_pin(where: Path) -> bool:
    return any((where / n).is_file() for n in (".python-version", "runtime.txt", "pyproject.toml"))


def _context(root: Path, app_dir: str | None) -> str:
    """The nearest directory at or above the app's import root with a dependency file."""
    start = root / (app_dir or ".")
    for directory in (start, *start.parents):
        if directory != root and root not in directory.parents:
            break
        if any((directory / n).is_file() for n in ("requirements.txt", "pyproject.toml")):
            return directory.relative_to(root).as_posix() or "."
    return "."


def _module_of_file(project: _Project, rel: str) -> str | None:
    for module in project.modules:
        if module.rel == rel:
            return module.name
    return None


def dns_label(text: str) -> str:
    """A name every platform accepts: lowercase letters, digits and -, starting with a letter."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    label = re.sub(r"^[^a-z]+", "", label)[:30].strip("-")
    return label


# --- dependency files, Python version, Procfile ------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", ".", "/")) or "://" in line.split("@")[0]:
            continue
        match = _REQ_NAME.match(line)
        if match:
            name = _norm(match.group(1))
            names.add(name)
            extras = {_norm(e) for e in (match.group(3) or "").split(",") if e.strip()}
            if name == "fastapi" and extras & {"standard", "all"}:
                names.add("uvicorn")  # fastapi[standard] brings uvicorn[standard]
    return names


def _requirements_file(path: Path, seen: set[Path]) -> set[str]:
    if path in seen or len(seen) > 20 or not path.is_file():
        return set()
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[:5000]
    except OSError:
        return set()
    names = _requirement_names(lines)
    for line in lines:  # -r other.txt
        match = re.match(r"^\s*(-r|--requirement)\s*=?\s*(\S+)", line)
        if match:
            names |= _requirements_file((path.parent / match.group(2)).resolve(), seen)
    return names


def _pyproject(root: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def _read_dependencies(root: Path, facts: AppFacts) -> None:
    pyproject = _pyproject(root) if (root / "pyproject.toml").is_file() else {}
    if (root / "pyproject.toml").is_file() and not pyproject:
        facts.notes.append("pyproject.toml: skipped, it is not valid TOML")
    project = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
    poetry = pyproject.get("tool", {}).get("poetry", {}) if isinstance(pyproject.get("tool"), dict) else {}
    pyproject_deps: set[str] = set()
    if isinstance(project.get("dependencies"), list):
        pyproject_deps |= _requirement_names([str(d) for d in project["dependencies"]])
    if isinstance(poetry.get("dependencies"), dict):
        pyproject_deps |= {_norm(k) for k in poetry["dependencies"] if k.lower() != "python"}
    if (root / "requirements.txt").is_file():
        facts.dependency_file = Fact("requirements.txt", "detected", "requirements.txt", "a requirements file")
        facts.dependencies = frozenset(_requirements_file((root / "requirements.txt").resolve(), set()))
    elif project.get("dependencies") is not None or poetry:
        facts.dependency_file = Fact("pyproject.toml", "detected", "pyproject.toml",
                                     "[project].dependencies" if project else "[tool.poetry]")
        facts.dependencies = frozenset(pyproject_deps)
    else:
        others = sorted(
            p.relative_to(root).as_posix()
            for p in [*root.glob("requirements*.txt"), *root.glob("requirements/*.txt")] if p.is_file()
        )
        preferred = sorted(others, key=lambda p: (not any(w in p for w in ("prod", "base", "main")), len(p), p))
        if preferred:
            chosen = preferred[0]
            facts.dependency_file = Fact(chosen, "guessed", chosen, f"no requirements.txt; chose {chosen} of {len(others)}")
            facts.dependencies = frozenset(_requirements_file((root / chosen).resolve(), set()))
        elif (root / "Pipfile").is_file():
            facts.notes.append("Pipfile found: export it with `pipenv requirements > requirements.txt`")
    facts.dependencies = facts.dependencies | pyproject_deps  # both describe the app


def _python_version(root: Path, notes: list[str]) -> Fact:
    for name, pattern in ((".python-version", r"^\s*(?:cpython-|python-?)?(3)\.(\d{1,2})"),
                          ("runtime.txt", r"^\s*python-(3)\.(\d{1,2})")):
        path = root / name
        if path.is_file():
            try:
                lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
                         if ln.strip() and not ln.lstrip().startswith("#")]
            except OSError:
                continue
            match = re.match(pattern, lines[0]) if lines else None
            if match:
                return Fact(f"3.{int(match.group(2))}", "detected", name, f"{name} says {lines[0].strip()}")
            notes.append(f"{name}: could not read a CPython 3.x version from it")
    data = _pyproject(root) if (root / "pyproject.toml").is_file() else {}
    spec = data.get("project", {}).get("requires-python") if isinstance(data.get("project"), dict) else None
    source = "requires-python"
    if spec is None:
        poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
        deps = poetry.get("dependencies", {}) if isinstance(poetry, dict) else {}
        spec = deps.get("python") if isinstance(deps, dict) else None
        source = "[tool.poetry.dependencies].python"
    if isinstance(spec, str) and spec.strip():
        version = pick_python(spec)
        if version is not None:
            return Fact(version, "detected", "pyproject.toml", f"{source} {spec.strip()!r}")
        notes.append(f"pyproject.toml: {source} {spec!r} matches no Python from 3.8 to 3.14; using {DEFAULT_PYTHON}")
    return Fact(DEFAULT_PYTHON, "default", None, "no .python-version, runtime.txt or requires-python")


def pick_python(spec: str) -> str | None:
    """The version we would build with for a requires-python spec (PEP 440, or Poetry's ^ ~ ||)."""
    for alternative in spec.split("||"):
        for version in PYTHON_PREFERENCE:
            minor = int(version.split(".")[1])
            if all(_clause_ok(c.strip(), minor) for c in alternative.split(",") if c.strip()):
                return version
    return None


def _clause_ok(clause: str, minor: int) -> bool:
    match = re.match(r"^(~=|===|==|!=|<=|>=|<|>|\^|~)?\s*(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?", clause)
    if not match:
        return True  # something we do not understand does not rule a version out
    op, major, mn, patch = match.group(1) or "==", int(match.group(2)), match.group(3), match.group(4)
    want = (major, int(mn) if mn and mn != "*" else 0)
    have = (3, minor)
    has_patch = patch not in (None, "*") and int(patch) > 0
    if op == "^":  # Poetry: ^3.11 means >=3.11,<4
        return have >= want and major == 3
    if op == "~":  # Poetry: ~3.11 means >=3.11,<3.12
        return have == want if mn else major == 3
    if op == "~=":
        return have >= want and (have[1] == want[1] if patch is not None else major == 3)
    if op in (">=", ">"):
        return have >= want if op == ">=" or has_patch or mn is None else have > want or have == want
    if op == "<=":
        return have <= want
    if op == "<":
        return have <= want if has_patch else have < want
    if op in ("==", "==="):
        return have == want if mn not in (None, "*") else major == 3
    if op == "!=":
        return have != want if (patch == "*" or patch is None) and mn not in (None, "*") else True
    return True


def _procfile(root: Path) -> Fact | None:
    path = root / "Procfile"
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, 1):
        if line.startswith("web:") and line[4:].strip():
            return Fact(line[4:].strip(), "detected", f"Procfile:{number}", "the Procfile's web process")
    return None
