"""What `init` puts in a description for the app's data and needs: pure decisions from the facts.

- each place the app keeps data (embedded Chroma, a SQLite file, an upload folder) becomes a
  volume whose env var tells the app where it is mounted, or a clear note when the code
  gives it no way to be told; the local copies go to ``build.exclude`` (.dockerignore);
- a Chroma server (``HttpClient``) becomes ``stores:`` + ``store:``;
- secrets: required, optional (``{name, optional: true}``) or alternatives (``{any_of: [...]}``);
- the ``verify`` block: a stream `verify` can hold (a POST chat stream with its body and
  bearer token), and a write/read pair that proves the data survives a redeploy.

``init.py`` turns these into commented YAML; nothing here writes text.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from streamdeploy.detect import AppFacts, ChromaUse, EnvRead, Route, StateUse, looks_secret
from streamdeploy.description import suggested_env

WORKDIR = "/app"  # where the generated Dockerfile runs the app from: a relative path lands under it
VOLUME_ROOT = "/data"


@dataclass
class VolumePlan:
    name: str
    mount: str
    env: str | None
    how: str  # detected | guessed
    where: str
    why: str
    comment: str
    warning: str | None = None
    env_values: dict[str, str] = field(default_factory=dict)  # service env the volume needs (a database URL)
    exclude: str | None = None  # the local copy, relative to the build context
    kind: str = "chroma"


@dataclass
class Note:
    """A volume we could not make (SQLite in the app's own directory): said, not written."""

    text: str
    exclude: str | None = None


def _context_relative(facts: AppFacts, path: str, anchored: bool) -> str | None:
    """A path as the app sees it from its working directory (the build context)."""
    if path.startswith("/"):
        return path
    if anchored and facts.context != ".":
        rel = posixpath.relpath(posixpath.normpath(path), facts.context)
        return None if rel.startswith("..") else rel
    return posixpath.normpath(path)


def _local_copy(facts: AppFacts, path: str | None, anchored: bool) -> str | None:
    if not path or path.startswith("/"):
        return None
    rel = _context_relative(facts, path, anchored)
    if rel is None or rel in (".", "") or rel.startswith(".."):
        return None
    return rel.removeprefix("./")


def volumes(facts: AppFacts) -> tuple[list[VolumePlan], list[Note]]:
    out: list[VolumePlan] = []
    notes: list[Note] = []
    seen: set[tuple] = set()
    chroma_places: set[str] = set()
    for use in facts.persistent_chroma:
        key = (use.env, use.path, use.suffix)
        if key in seen:
            continue
        seen.add(key)
        name = "chroma_data" if not any(v.kind == "chroma" for v in out) else f"chroma_data_{len(out) + 1}"
        index = sum(1 for v in out if v.kind == "chroma")
        volume = _chroma_volume(facts, use, name, index)
        chroma_places.add(volume.mount)
        if use.path:
            chroma_places.add(posixpath.normpath(use.path))
        out.append(volume)
    for state in facts.state:
        key = (state.kind, state.env, state.path, state.suffix)
        if key in seen:
            continue
        seen.add(key)
        if state.path and any(posixpath.normpath(state.path).startswith(p) for p in chroma_places if p != "."):
            continue  # the Chroma directory, created by the app before the client opens it
        made = _sqlite_volume(facts, state) if state.kind == "sqlite" else _folder_volume(facts, state, out)
        if isinstance(made, Note):
            notes.append(made)
        elif made is not None and made.name not in {v.name for v in out}:
            out.append(made)
    return out, notes


def _chroma_volume(facts: AppFacts, use: ChromaUse, name: str, index: int) -> VolumePlan:
    mount = f"{VOLUME_ROOT}/chroma" if index == 0 else f"{VOLUME_ROOT}/chroma{index + 1}"
    via = use.via if use.via != "PersistentClient" else "Chroma's PersistentClient"
    if use.env:
        default = f", default {use.default!r} in code" if use.default else ""
        below = f" (its data in {use.suffix}/ below it)" if use.suffix else ""
        why = f"{via}'s path comes from ${use.env}{default}"
        comment = (f"{via} ({use.where}) stores its data at ${use.env}{below}: the volume is mounted at {mount} "
                   f"and {use.env} is set to that path.")
        return VolumePlan(name, mount, use.env, use.how, use.where, why, comment,
                          exclude=_local_copy(facts, use.default, use.anchored))
    suggested = suggested_env(name)
    if use.path:
        rel = _context_relative(facts, use.path, use.anchored)
        if rel is not None and rel.startswith("/"):
            return VolumePlan(name, rel, None, "detected", use.where, f"{via} at {use.path!r}",
                              f"{via} ({use.where}) stores its data at {use.path!r}.")
        path = posixpath.normpath(posixpath.join(WORKDIR, rel or use.path))
        warning = (f"{via} at {use.where} uses the path {use.path!r}, fixed in the code; the volume is mounted "
                   f"at {path} (the app runs from {WORKDIR}). Safer: read it from an env var, e.g. "
                   f"os.environ.get({suggested!r}, {use.path!r}), and add `env: {suggested}` to the volume")
        return VolumePlan(name, path, None, "guessed", use.where, f"relative path {use.path!r} under {WORKDIR}",
                          f"{via} ({use.where}) stores its data at {use.path!r}, relative to {WORKDIR} where "
                          "the app runs.", warning, exclude=_local_copy(facts, use.path, use.anchored))
    warning = (f"could not tell where {via} at {use.where} stores its data; make it read "
               f"os.environ[{suggested!r}] and add `env: {suggested}` to the volume, or data will not land on it")
    return VolumePlan(name, mount, None, "guessed", use.where, "path not readable from the code",
                      f"{via} ({use.where}): its path could not be read from the code; point it at {mount}.",
                      warning)


def _sqlite_volume(facts: AppFacts, state: StateUse) -> VolumePlan | Note | None:
    mount = f"{VOLUME_ROOT}/sqlite"
    default = state.default if state.env else state.path
    filename = posixpath.basename(default or "app.db") or "app.db"
    exclude = _local_copy(facts, default, state.anchored)
    if state.env and state.url:
        value = f"sqlite:///{mount}/{filename}"
        comment = (f"SQLite at ${state.env} ({state.where}, default {state.default!r}): the database file goes "
                   f"on this volume; {state.env} is set below to a URL under {mount}.")
        return VolumePlan("sqlite_data", mount, None, state.how, state.where,
                          f"${state.env} is a SQLite URL", comment, env_values={state.env: value},
                          exclude=exclude, kind="sqlite")
    if state.env:
        comment = (f"SQLite file at ${state.env} ({state.where}): the volume is mounted at {mount} and "
                   f"{state.env} is set below to a file on it.")
        return VolumePlan("sqlite_data", mount, None, state.how, state.where, f"SQLite file from ${state.env}",
                          comment, env_values={state.env: f"{mount}/{filename}"}, exclude=exclude, kind="sqlite")
    rel = _context_relative(facts, state.path or "", state.anchored) or ""
    directory = posixpath.dirname(rel)
    if rel.startswith("/"):
        return VolumePlan("sqlite_data", posixpath.dirname(rel) or "/data", None, "detected", state.where,
                          f"SQLite file {rel}", f"SQLite file {rel} ({state.where}).", kind="sqlite")
    if directory and directory != ".":
        path = posixpath.join(WORKDIR, directory)
        warning = (f"the SQLite file {state.path!r} ({state.where}) is fixed in the code; the volume is mounted at "
                   f"{path}. Safer: read its path from an env var (DB_PATH) and set it under `env:`")
        return VolumePlan("sqlite_data", path, None, "guessed", state.where, f"SQLite file {state.path!r}",
                          f"SQLite file {state.path!r} ({state.where}), under {WORKDIR} where the app runs.",
                          warning, exclude=directory.removeprefix("./"), kind="sqlite")
    return Note(f"the SQLite file {state.path!r} ({state.where}) sits in the app's own directory, where no volume "
                "can hold it without hiding the code: every deploy starts with an empty database. Read its path "
                "from an env var (e.g. os.environ.get('DB_PATH', 'app.db')), then add a volume and "
                "`env: {DB_PATH: /data/sqlite/app.db}`", exclude=exclude)


def _folder_volume(facts: AppFacts, state: StateUse, taken: list[VolumePlan]) -> VolumePlan | None:
    label = "uploads" if state.kind == "uploads" else _volume_label(state)
    if label is None:
        return None
    mount = f"{VOLUME_ROOT}/{label}"
    what = "upload folder" if state.kind == "uploads" else "folder the app writes"
    if state.env:
        comment = (f"The {what} at ${state.env} ({state.where}): the volume is mounted at {mount} and "
                   f"{state.env} is set to that path.")
        return VolumePlan(label, mount, state.env, state.how, state.where, f"{what} from ${state.env}", comment,
                          exclude=_local_copy(facts, state.default, state.anchored), kind=state.kind)
    rel = _context_relative(facts, state.path or "", state.anchored)
    if rel is None:
        return None
    if rel.startswith("/"):
        return VolumePlan(label, rel, None, "detected", state.where, f"{what} {rel}",
                          f"The {what} {rel} ({state.where}).", kind=state.kind)
    path = posixpath.normpath(posixpath.join(WORKDIR, rel))
    suggested = suggested_env(label)
    warning = (f"the {what} {state.path!r} ({state.where}) is fixed in the code; the volume is mounted at {path}. "
               f"Safer: read it from an env var (os.environ.get({suggested!r}, {state.path!r})) and add "
               f"`env: {suggested}` to the volume")
    return VolumePlan(label, path, None, "guessed", state.where, f"{what} {state.path!r} under {WORKDIR}",
                      f"The {what} {state.path!r} ({state.where}), under {WORKDIR} where the app runs.", warning,
                      exclude=_local_copy(facts, state.path, state.anchored), kind=state.kind)


def _volume_label(state: StateUse) -> str | None:
    base = posixpath.basename((state.path or state.default or state.env or "data").rstrip("/")).lower()
    label = re.sub(r"[^a-z0-9_]+", "_", base).strip("_")
    label = re.sub(r"^[^a-z]+", "", label)[:30]
    return label or "app_data"


# --- secrets ------------------------------------------------------------------------------


@dataclass
class SecretPlan:
    entry: Any  # what the YAML list item is: a name, {name, optional}, {any_of}
    note: str
    names: tuple[str, ...]


_PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "COHERE_API_KEY", "MISTRAL_API_KEY",
                  "GOOGLE_API_KEY", "GEMINI_API_KEY", "TOGETHER_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY",
                  "AZURE_OPENAI_API_KEY", "FIREWORKS_API_KEY", "XAI_API_KEY", "HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN")


def secrets(facts: AppFacts, reads: list[EnvRead], auth: set[str], service_urls: dict[str, str]) -> list[SecretPlan]:
    """The secrets list: the app's own key (what its routes check) required; several model
    providers read as alternatives; the rest optional when the code runs without them."""
    out: list[SecretPlan] = []
    providers = [r for r in reads if r.name in _PROVIDER_KEYS and r.name not in auth and not r.required]
    grouped = {r.name for r in providers} if len(providers) >= 2 else set()
    placed_group = False
    for read in reads:
        tag = "detected" if read.how == "detected" else "guessed"
        if read.name in grouped:
            if not placed_group:
                names = tuple(r.name for r in providers)
                wheres = ", ".join(sorted({r.where for r in providers})[:3])
                out.append(SecretPlan({"any_of": list(names)}, f"{tag}: the app reads whichever is set ({wheres})",
                                      names))
                placed_group = True
            continue
        if read.name in auth or read.name in service_urls or read.required:
            why = ("the key its routes check" if read.name in auth else
                   f"the address of {service_urls[read.name]}, with its password" if read.name in service_urls else
                   "read with no default")
            out.append(SecretPlan(read.name, f"{tag}: {read.where}, {why}", (read.name,)))
        else:
            out.append(SecretPlan({"name": read.name, "optional": True},
                                  f"{tag}: {read.where}, the app runs without it", (read.name,)))
    return out


# --- the verify block ---------------------------------------------------------------------


def _no_params(path: str) -> bool:
    return "{" not in path


def stream_route(facts: AppFacts) -> Route | None:
    """The stream `verify` holds: a GET without parameters first, else a POST with a body."""
    sse = [r for r in facts.sse_routes if _no_params(r.path)]
    gets = [r for r in sse if r.method == "GET"]
    posts = [r for r in sse if r.method == "POST"]
    return (gets or posts or [None])[0]


def stream_check(route: Route | None) -> dict | None:
    """verify.stream when verify's default (GET of the first streaming path) would not do."""
    if route is None or (route.method == "GET" and route.auth is None and not route.query):
        return None
    from urllib.parse import urlencode

    path = route.path + ("?" + urlencode(route.query) if route.query else "")
    check: dict[str, Any] = {"method": route.method, "path": path}
    if route.auth:
        check["headers"] = {route.auth[0]: route.auth[1]}
    if route.method != "GET":
        check["json"] = route.body if route.body is not None else {}
    return check


def _carries_marker(value: Any) -> bool:
    if isinstance(value, str):
        return "{marker}" in value
    if isinstance(value, list):
        return any(_carries_marker(v) for v in value)
    if isinstance(value, dict):
        return any(_carries_marker(v) for v in value.values())
    return False


def _mark_text(value: Any) -> Any:
    """Text fields say the marker too, so the read can find it whatever it returns."""
    if isinstance(value, str):
        return value.replace("streamdeploy ", "streamdeploy marker {marker} ") if "{marker}" not in value else value
    if isinstance(value, list):
        return [_mark_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _mark_text(v) for k, v in value.items()}
    return value


def write_read(facts: AppFacts) -> tuple[dict, dict] | None:
    """A POST that stores a document under an id the client picks, and the GET that reads it back."""
    posts = [r for r in facts.routes if r.method in ("POST", "PUT") and not r.sse and r.body is not None
             and _carries_marker(r.body) and _no_params(r.path)]
    # the current API before one kept for old clients
    posts.sort(key=lambda r: any(w in r.path for w in ("legacy", "deprecated", "/old")))
    for post in posts:
        base = post.path.rstrip("/")
        for get in facts.routes:
            if get.method != "GET" or get.sse:
                continue
            match = re.fullmatch(re.escape(base) + r"/\{[A-Za-z_]\w*\}", get.path)
            if match is None:
                continue
            write: dict[str, Any] = {"method": post.method, "path": post.path}
            if post.auth:
                write["headers"] = {post.auth[0]: post.auth[1]}
            write["json"] = _mark_text(post.body)
            write["expect_status"] = post.status or 200
            read: dict[str, Any] = {"path": re.sub(r"\{[A-Za-z_]\w*\}$", "{marker}", get.path)}
            if get.auth:
                read["headers"] = {get.auth[0]: get.auth[1]}
            read["expect_text"] = "{marker}"
            return write, read
    return None
