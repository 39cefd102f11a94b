"""Prove a running service works: health, an SSE stream held past a heartbeat, data that persists.

The checks, in order (each one a :class:`Check` in the :class:`Report`):

- ``health``     GET the service's ``health.path`` until it answers 2xx, backing off
                 exponentially up to the timeout (a fresh deploy takes a while to start).
- ``stream``     open an SSE path and hold it until a heartbeat comment (a line starting
                 with ``:``) arrives, and at least ``verify.stream.hold``: proves the content
                 type, that nothing buffers the stream, and that it survives an idle gap.
- ``persisted``  with an expected marker: read back a marker written before a redeploy.
- ``write``/``read``  write a fresh marker with the description's ``verify.write`` request
                 and read it back with ``verify.read``.

The marker written this time is remembered in ``.streamdeploy/verify.json`` (per URL and
service), so ``up`` can check it after the next deploy, and ``verify --expect-marker last``
can too. ``${NAME}`` in a request header is read from the environment at run time; when
NAME is unset the header is left out (a local run without API_KEY talks to an app that
does not require one) and the check says so. Secret values never appear in a report.

httpx is imported inside functions: the CLI imports this module only for `verify`/`up`.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

from streamdeploy import clock, exitcodes
from streamdeploy.problems import fail

STATE = Path(".streamdeploy") / "verify.json"
LAST = "last"  # --expect-marker last: the marker stored for this URL; an error when there is none
AUTO = "auto"  # what `up` passes: the stored marker when there is one, else no persisted check

_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MARKER = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
_DEFAULT_HEARTBEAT = 15.0
# What a guessed stream path answers when it needs more than a bare GET (a 404 still fails:
# the description names a path the app does not serve).
_NEEDS_MORE_THAN_GET = {400, 401, 403, 405, 422}
_BODY_SHOWN = 200  # characters of a response body quoted in a failure

Status = Literal["ok", "failed", "skipped"]
Progress = Callable[[str], None]


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    seconds: float | None = None  # wall time of the check
    facts: dict[str, Any] = field(default_factory=dict)  # measured values, for --json

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class Report:
    url: str
    service: str | None
    checks: list[Check] = field(default_factory=list)
    marker: str | None = None  # written and read back this time: pass it to --expect-marker next time
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return exitcodes.OK if self.ok else exitcodes.FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "url": self.url,
            "service": self.service,
            "marker": self.marker,
            "checks": [{**asdict(c), "ok": c.ok} for c in self.checks],
            "notes": self.notes,
        }


def new_marker() -> str:
    """Unique, sortable, safe in a URL path and a JSON string: sd-20261122t101500-3f9a1c."""
    stamp = clock.now().strftime("%Y%m%dt%H%M%S")
    return f"sd-{stamp}-{_random.token_hex(3)}"


# --- which service, which paths -------------------------------------------------------


def pick_service(spec: Any, name: str | None) -> tuple[str, Any]:
    """The named service, or the first one that serves HTTP."""
    if name is not None:
        if name not in spec.services:
            raise fail(
                f"no service `{name}` in the description",
                key="services",
                fix=f"use one of: {', '.join(spec.services)}",
            )
        return name, spec.services[name]
    for service_name, service in spec.services.items():
        if service.is_web:
            return service_name, service
    first = spec.first_service
    return first, spec.services[first]


# --- the marker store: .streamdeploy/verify.json --------------------------------------


def _state_key(url: str) -> str:
    return url.rstrip("/")


def read_state(root: Path) -> dict[str, Any]:
    """The stored markers: {"version": 1, "markers": {url: {service: {"marker", "written_at"}}}}.

    A file that is not that (hand-edited, truncated, another program's) is bad input, never a
    traceback and never silently replaced: it may hold the marker a redeploy is checked by."""
    path = root / STATE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"version": 1, "markers": {}}
    except OSError as err:
        raise fail(f"cannot read {path}: {err.strerror}", file=str(path),
                   fix="make it readable, or delete it (it only holds markers of earlier verify runs)") from None
    except UnicodeDecodeError:
        raise _corrupt_state(path, "it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _corrupt_state(path, "it is nested too deeply") from None
    except ValueError as err:
        raise _corrupt_state(path, f"it is not JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("markers", {}), dict):
        raise _corrupt_state(path, 'it is not an object with "markers"')
    data.setdefault("markers", {})
    for url, per_service in data["markers"].items():
        if not isinstance(per_service, dict):
            raise _corrupt_state(path, f"the markers of {url} are not an object")
        for service, entry in per_service.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("marker"), str)
                    and _MARKER.match(entry["marker"])):
                raise _corrupt_state(path, f"the entry for {url} service {service} has no valid marker")
    return data


def _corrupt_state(path: Path, why: str):
    return fail(f"{path} is not a verify state file: {why}", file=str(path),
                fix=f"delete {path}; the next `streamdeploy verify` writes it again (it only remembers the "
                    "markers earlier runs wrote, so `--expect-marker last` has nothing until then)")


def last_marker(root: Path, url: str, service: str) -> dict[str, str] | None:
    """{"marker", "written_at"} of the last marker verified at this URL for this service."""
    return read_state(root)["markers"].get(_state_key(url), {}).get(service)


def remember_marker(root: Path, url: str, service: str, marker: str) -> None:
    from streamdeploy.writer import atomic_write

    state = read_state(root)
    state["version"] = 1
    per_url = state["markers"].setdefault(_state_key(url), {})
    per_url[service] = {"marker": marker, "written_at": clock.now().isoformat(timespec="seconds")}
    state["markers"] = {k: dict(sorted(v.items())) for k, v in sorted(state["markers"].items())}
    atomic_write(root / STATE, json.dumps(state, indent=2) + "\n")


# --- requests with {marker} and ${SECRET} ---------------------------------------------


@dataclass
class Prepared:
    method: str
    path: str
    json_body: Any
    headers: dict[str, str]
    expect_status: int
    expect_text: str | None
    dropped: list[tuple[str, str]]  # (header, missing secret)
    secret_values: list[str]


def prepare(request: Any, marker: str, env: Mapping[str, str]) -> Prepared:
    """The description's request with the marker filled in and ${NAME} read from ``env``.

    ``request`` is a verify ``Request``, or a ``StreamCheck`` (no expectations: 200)."""
    headers: dict[str, str] = {}
    dropped: list[tuple[str, str]] = []
    values: list[str] = []
    for header, template in request.headers.items():
        template = template.replace("{marker}", marker)
        missing = [n for n in _SECRET_REF.findall(template) if not env.get(n)]
        if missing:
            # `Bearer ` with nothing after it is worse than no header: the app would see a
            # malformed credential instead of an anonymous request it may well accept.
            dropped.append((header, missing[0]))
            continue
        for name in _SECRET_REF.findall(template):
            values.append(env[name])
        headers[header] = _SECRET_REF.sub(lambda m: env[m.group(1)], template)
    expect_text = getattr(request, "expect_text", None)
    return Prepared(
        method=request.method,
        path=request.path.replace("{marker}", marker),
        json_body=_fill(request.json_body, marker),
        headers=headers,
        expect_status=getattr(request, "expect_status", 200),
        expect_text=expect_text.replace("{marker}", marker) if expect_text else None,
        dropped=dropped,
        secret_values=[v for v in values if v],
    )


def _fill(value: Any, marker: str) -> Any:
    if isinstance(value, str):
        return value.replace("{marker}", marker)
    if isinstance(value, list):
        return [_fill(v, marker) for v in value]
    if isinstance(value, dict):
        return {_fill(k, marker): _fill(v, marker) for k, v in value.items()}
    return value


def redact(text: str, values: list[str]) -> str:
    """Mask secret values the way the runner does: raw and JSON-escaped (an app echoing a header in JSON)."""
    from streamdeploy.secrets import Masker

    return Masker(values)(text)


# --- talking to the service: every read capped in bytes and in time -----------------
#
# A service under test may be broken or hostile: a 10 GB body, a gzip bomb, a line that
# never ends, headers sent a byte a second, redirects to somewhere else. Every request
# goes through `Session.fetch` (or `open_response` + `read_body`/`read_lines` for a
# stream): at most BODY_LIMIT decoded bytes are read, each request has an overall
# deadline besides httpx's per-read timeout, and redirects are followed here, so secret
# headers are never sent to another origin and the report can say where it went.

BODY_LIMIT = 4 * 1024 * 1024  # decoded bytes of a response body that are read
LINE_LIMIT = 1024 * 1024  # the longest line of an event stream
STREAM_LIMIT = 64 * 1024 * 1024  # decoded bytes of an event stream
MAX_REDIRECTS = 5
ACCEPT_ENCODING = "gzip, deflate"  # what the bounded decoder can take apart in pieces
USER_AGENT = "streamdeploy-verify"


class TooMuch(Exception):
    """A response over one of the caps; the message says which."""


@dataclass
class Fetched:
    """What one request got: the status and at most BODY_LIMIT bytes of body, or the error."""

    status: int | None = None
    body: bytes = b""
    cut: bool = False  # the body was longer than the limit
    redirects: list[str] = field(default_factory=list)  # "301 → http://other:1/x (…)", per hop
    error: str | None = None
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request_deadline(read_timeout: float) -> float:
    """The most one request may take in all (headers and body), however fast bytes trickle."""
    return max(4 * read_timeout, 20.0)


class Session:
    """How verify talks to one service. ``transport``: for tests (httpx.MockTransport)."""

    def __init__(self, base: str, transport: Any = None):
        self.base = base
        self.transport = transport
        self._ssl: Any = None

    def __enter__(self) -> Session:
        # What the first request would pay for (~0.6 s: imports, the TLS context, anyio's
        # asyncio backend), paid before any check's clock starts.
        import asyncio

        import anyio
        import h11  # noqa: F401
        import httpcore  # noqa: F401
        import httpx

        if self._ssl is None and self.transport is None:
            self._ssl = httpx.create_ssl_context()
        asyncio.run(anyio.sleep(0))
        return self

    def __exit__(self, *exc) -> None:
        return None  # each request opens and closes its own connection

    def client(self, read_timeout: float) -> Any:
        import httpx

        if self._ssl is None and self.transport is None:
            self._ssl = httpx.create_ssl_context()  # once: building one takes ~0.1 s
        timeout = httpx.Timeout(read_timeout, connect=min(read_timeout, 10.0))
        return httpx.AsyncClient(transport=self.transport, verify=self._ssl or True, timeout=timeout,
                                 follow_redirects=False,
                                 headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING})

    def fetch(self, method: str, url: str, *, read_timeout: float, deadline: float | None = None,
              headers: Mapping[str, str] | None = None, json_body: Any = None,
              limit: int | None = None) -> Fetched:
        """One request, its redirects followed (secret headers only within the origin)."""
        import asyncio

        return asyncio.run(self._fetch(method, url, read_timeout, deadline or request_deadline(read_timeout),
                                       dict(headers or {}), json_body, limit))

    async def _fetch(self, method: str, url: str, read_timeout: float, deadline: float, headers: dict[str, str],
                     json_body: Any, limit: int | None) -> Fetched:
        import asyncio

        import httpx

        fetched = Fetched()
        start = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                async with self.client(read_timeout) as client:
                    response, fetched.redirects = await open_response(client, self.base, method, url, headers,
                                                                      json_body)
                    try:
                        fetched.status = response.status_code
                        fetched.body, fetched.cut = await read_body(response, limit)  # None: BODY_LIMIT
                    finally:
                        await response.aclose()
        except TimeoutError:
            fetched.error = (f"no complete answer within {deadline:g} s" if fetched.status is None else
                             f"the body did not arrive within {deadline:g} s")
        except TooMuch as err:
            fetched.error = str(err)
        except (httpx.HTTPError, UnicodeEncodeError) as err:
            fetched.error = _describe_error(err)
        fetched.seconds = time.monotonic() - start
        return fetched


def _origin(url: Any) -> tuple[str, str, int | None]:
    import httpx

    url = httpx.URL(str(url))
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def _same_origin_or_upgrade(old: Any, new: Any) -> bool:
    """Where a request's secret headers may follow a redirect: the same origin, or the same
    host moving from http to https on the default ports (what httpx allows too)."""
    before, after = _origin(old), _origin(new)
    return before == after or (before == ("http", after[1], 80) and after == ("https", before[1], 443))


async def open_response(client: Any, base: str, method: str, url: str, headers: Mapping[str, str],
                        json_body: Any = None, private: Iterable[str] | None = None) -> tuple[Any, list[str]]:
    """Send a request and follow its redirects (at most MAX_REDIRECTS); returns the last
    response, unread, and what each redirect was. The ``private`` headers (default: all of
    ``headers``; the description's, which may carry secrets) go only where
    :func:`_same_origin_or_upgrade` allows."""
    private = list(headers if private is None else private)
    redirects: list[str] = []
    request = client.build_request(method, url, headers=dict(headers), json=json_body)
    while True:
        response = await client.send(request, stream=True)
        following = response.next_request if response.is_redirect else None
        if following is None or len(redirects) == MAX_REDIRECTS:
            if following is not None:
                redirects.append(f"stopped after {MAX_REDIRECTS} redirects")
            return response, redirects
        await response.aclose()
        where = str(following.url)
        note = f"{response.status_code} → {where}"
        if not _same_origin_or_upgrade(base, following.url):
            dropped = [h for h in private if h in request.headers]  # httpx itself drops Authorization
            for header in dropped:
                following.headers.pop(header, None)
            host = following.url.host
            note += f" (another origin{', host ' + host if host != _origin(base)[1] else ''}"
            note += f": {', '.join(dropped)} not sent there)" if dropped else ")"
        redirects.append(note)
        request = following


class _Decoder:
    """Content-Encoding taken apart a piece at a time, never more than asked for: a gzip bomb
    yields its first ``limit`` bytes and no more."""

    def __init__(self, encoding: str | None):
        import zlib

        self.encoding = (encoding or "identity").strip().lower()
        if self.encoding in ("gzip", "x-gzip"):
            self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self.inflate = zlib.decompressobj()
        elif self.encoding == "identity":
            self.inflate = None
        else:
            raise TooMuch(f"the answer is encoded as `{encoding}`, which verify did not ask for "
                          f"(it asks for {ACCEPT_ENCODING})")
        self.tail = b""

    def feed(self, data: bytes, room: int) -> bytes:
        """At most ``room`` decoded bytes of ``data`` (and what earlier data left over)."""
        import zlib

        if self.inflate is None:
            return data[:room]
        try:
            out = self.inflate.decompress(self.tail + data, max(room, 1))
        except zlib.error as err:
            if self.encoding == "deflate" and not self.tail and self.inflate.total_in == 0:
                self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
                return self.feed(data, room)
            raise TooMuch(f"the {self.encoding} body is corrupt ({err})") from None
        self.tail = self.inflate.unconsumed_tail
        return out


async def _decoded(response: Any, budget: int):
    """The decoded body in pieces, until ``budget`` bytes plus one have come (then stops)."""
    if response.is_stream_consumed:  # read already (a test's MockTransport): httpx decoded it
        yield response.content[: budget + 1]
        return
    decoder = _Decoder(response.headers.get("content-encoding"))
    left = budget + 1
    async for raw in response.aiter_raw():
        while left > 0:
            piece = decoder.feed(raw, left)
            raw = b""
            if not piece:
                break
            left -= len(piece)
            yield piece
        if left <= 0:
            return


async def read_body(response: Any, limit: int | None = None) -> tuple[bytes, bool]:
    """At most ``limit`` (BODY_LIMIT) decoded bytes of the body, and whether there was more."""
    limit = BODY_LIMIT if limit is None else limit
    chunks, size = [], 0
    async for piece in _decoded(response, limit):
        chunks.append(piece)
        size += len(piece)
    body = b"".join(chunks)
    return body[:limit], size > limit


async def read_lines(response: Any, line_limit: int | None = None, total_limit: int | None = None):
    """An event stream's lines (CR, LF or CRLF ends one), each at most ``line_limit``
    (LINE_LIMIT) characters and all of them at most ``total_limit`` (STREAM_LIMIT) bytes;
    beyond either, TooMuch."""
    import codecs

    line_limit = LINE_LIMIT if line_limit is None else line_limit
    total_limit = STREAM_LIMIT if total_limit is None else total_limit
    text = codecs.getincrementaldecoder("utf-8")("replace")
    pending, total = "", 0
    async for piece in _decoded(response, total_limit):
        total += len(piece)
        if total > total_limit:
            raise TooMuch(f"the stream sent more than {_size(total_limit)}; verify stopped reading")
        pending += text.decode(piece)
        *lines, pending = _LINE_BREAK.split(pending)  # a CR at the very end may be half a CRLF: kept
        for line in lines:
            yield line
        if len(pending) > line_limit:
            raise TooMuch(f"a line of the stream ran past {_size(line_limit)} without ending")
    if pending:
        yield pending


_LINE_BREAK = re.compile(r"\r\n|\r(?!$)|\n")


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count // 1024} KiB"


def _moved(redirects: list[str] | None) -> str:
    """How a check's detail says that the service redirected, and where to."""
    return f"; redirected: {'; '.join(redirects)}" if redirects else ""


# --- the checks ------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _describe_error(err: Exception) -> str:
    import httpx

    if isinstance(err, UnicodeEncodeError):  # httpx encodes header values as ASCII
        return "a header value has a character HTTP headers cannot carry (not ASCII)"
    if isinstance(err, httpx.ConnectError):
        return "connection refused" if _refused(err) else f"cannot connect ({err})"
    if isinstance(err, httpx.TimeoutException):
        return f"timed out ({type(err).__name__})"
    if isinstance(err, httpx.RemoteProtocolError):
        return f"the connection broke ({err})"
    return f"{type(err).__name__}: {err}"


def _refused(err: BaseException | None) -> bool:
    """Somewhere in the chain (anyio wraps it: "All connection attempts failed")."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, ConnectionRefusedError) or "refused" in str(err).lower() or "Errno 111" in str(err):
            return True
        for inner in getattr(err, "exceptions", ()):  # an ExceptionGroup of the attempts
            if _refused(inner):
                return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_SHOWN else text[: _BODY_SHOWN - 1] + "…"


def check_health(session: Session, base: str, path: str, timeout: float, request_timeout: float,
                 progress: Progress | None = None, grace: float | None = None) -> Check:
    """GET path until 2xx; waits 0.25 s, 0.5 s, 1 s ... (at most 5 s) between tries. Each
    try has its own overall deadline, so a server that trickles bytes cannot hold it.

    ``grace``: once the app answers, how long an unhealthy answer (a 503 while it loads) may
    last before that answer is the result: a server that keeps saying 503 is reported as
    503, not as a timeout two minutes later."""
    start = time.monotonic()
    deadline = start + max(timeout, 0.0)
    delay, attempts, last = 0.25, 0, "no answer"
    answered_at: float | None = None
    if progress:
        progress(f"waiting for GET {path} to answer (up to {timeout:g} s)")
    while True:
        attempts += 1
        sent = time.monotonic()
        budget = min(request_deadline(request_timeout), max(deadline - sent, 0.0) + request_timeout)
        got = session.fetch("GET", base + path, read_timeout=request_timeout, deadline=budget, limit=_BODY_SHOWN * 8)
        moved = _moved(got.redirects)
        if got.error is not None:
            last = got.error + moved
        elif 200 <= got.status < 300:
            took = time.monotonic() - sent
            tries = "first try" if attempts == 1 else f"try {attempts}, after {duration_text(sent - start)}"
            facts = {"status": got.status, "attempts": attempts, "latency_s": round(took, 4)}
            if got.redirects:
                facts["redirects"] = got.redirects
            return Check("health", "ok", f"GET {path} → {got.status} in {duration_text(took)} ({tries}){moved}",
                         time.monotonic() - start, facts)
        else:
            last = f"{got.status} {_snippet(got.text)}".rstrip() + moved
            answered_at = sent if answered_at is None else answered_at
            if grace is not None and time.monotonic() - answered_at >= grace:
                return Check("health", "failed",
                             f"GET {path} → {last} (it has answered so for {duration_text(time.monotonic() - answered_at)}, "
                             f"past health.grace, {attempts} tries)", time.monotonic() - start,
                             {"attempts": attempts, "status": got.status})
        now = time.monotonic()
        if now >= deadline:
            return Check("health", "failed",
                         f"GET {path} did not answer 2xx within {timeout:g} s ({attempts} tries); last: {last}",
                         now - start, {"attempts": attempts})
        time.sleep(min(delay, deadline - now))  # the last try lands on the deadline
        delay = min(delay * 2, 5.0)


# How long a stream whose app sends no heartbeat gets to deliver its first event.
_NO_HEARTBEAT_WAIT = 10.0
HEADERS_WITHIN = 10.0  # seconds a stream has to send its status and headers


def check_stream(base: str, path: str, heartbeat: float | None, hold: float | None,
                 progress: Progress | None = None, request: Prepared | None = None,
                 session: Session | None = None) -> Check:
    """Hold an SSE stream open until a heartbeat arrived and ``hold`` seconds passed.

    ``request``: the stream's method, headers and JSON body (a POST chat stream with a bearer
    token); default a plain GET of ``path``. With ``heartbeat`` None (the app sends none) the
    stream passes on its first event, and may end after it, as a chat answer does.
    """
    import asyncio

    hold = hold or 0.0
    # Long enough for one heartbeat with some slack, and for the whole hold.
    deadline = max(hold, heartbeat * 1.5 + 2.0 if heartbeat is not None else _NO_HEARTBEAT_WAIT)
    method = request.method if request is not None else "GET"
    if progress:
        wait = (f"{hold:g} s" if heartbeat is None or hold >= heartbeat else f"a heartbeat (every {heartbeat:g} s)")
        if heartbeat is None and not hold:
            wait = "its first event (the app sends no heartbeat)"
        progress(f"holding {method} {path} open for {wait}")
    return asyncio.run(_hold_stream(session or Session(base), base + path, path, heartbeat, hold, deadline,
                                    request))


async def _hold_stream(session: Session, url: str, path: str, heartbeat: float | None, hold: float,
                       deadline: float, request: Prepared | None = None) -> Check:
    import asyncio

    import httpx

    method = request.method if request is not None else "GET"
    shown = f"{method} {path}"
    finite = heartbeat is None or method != "GET"  # a chat answer streams, then ends
    facts: dict[str, Any] = {"path": path, "method": method, "heartbeat_expected_s": heartbeat}
    if request is not None and request.dropped:
        facts["headers_left_out"] = [h for h, _ in request.dropped]
    secrets = request.secret_values if request is not None else []
    first_event = first_heartbeat = None
    heartbeats = events = 0
    in_event = False
    ended_early = False
    cut: str | None = None
    start = time.monotonic()
    try:
        async with session.client(deadline + 5.0) as client, asyncio.timeout(HEADERS_WITHIN + deadline):
            start = time.monotonic()  # after the client exists: building its TLS context takes ~0.1 s
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                       **(request.headers if request is not None else {})}
            body = request.json_body if request is not None else None
            r, redirects = await open_response(client, session.base, method, url, headers, body,
                                               private=request.headers if request is not None else ())
            if redirects:
                facts["redirects"] = redirects
            try:
                headers_at = time.monotonic() - start
                facts["headers_s"] = round(headers_at, 4)
                content_type = r.headers.get("content-type", "")
                facts["content_type"] = content_type
                facts["status"] = r.status_code
                if r.status_code != 200:
                    text = (await read_body(r, _BODY_SHOWN * 8))[0].decode("utf-8", "replace")
                    hint = ""
                    if r.status_code in (401, 403) and request is not None and request.dropped:
                        hint = f"; set {request.dropped[0][1]} (environment or .env) so verify can authenticate"
                    detail = f"{shown} → {r.status_code}: {_snippet(redact(text, secrets))}{_moved(redirects)}{hint}"
                    return Check("stream", "failed", redact(detail, secrets), time.monotonic() - start, facts)
                if not content_type.split(";")[0].strip().lower() == "text/event-stream":
                    return Check("stream", "failed",
                                 f"{shown} answered with content type `{content_type or 'none'}`, "
                                 f"not text/event-stream{_moved(redirects)}", time.monotonic() - start, facts)
                try:
                    async with asyncio.timeout(deadline):
                        async for line in read_lines(r):
                            now = time.monotonic() - start
                            if line.startswith(":"):
                                heartbeats += 1
                                if first_heartbeat is None:
                                    first_heartbeat = now
                            elif line == "":
                                if in_event:
                                    events += 1
                                    if first_event is None:
                                        first_event = now
                                in_event = False
                            else:
                                in_event = True
                            if now >= hold and (first_heartbeat is not None
                                                or (heartbeat is None and first_event is not None)):
                                break
                        else:
                            ended_early = True
                except TimeoutError:
                    pass
                except TooMuch as err:
                    cut = str(err)
            finally:
                await r.aclose()
    except TimeoutError:
        if "headers_s" not in facts:
            return Check("stream", "failed", f"{shown}: no status and headers within {HEADERS_WITHIN + deadline:g}"
                         " s (the server sends them too slowly)", time.monotonic() - start, facts)
        cut = f"the stream was cut off at verify's deadline of {HEADERS_WITHIN + deadline:g} s"
    except TooMuch as err:
        return Check("stream", "failed", f"{shown}: {err}", time.monotonic() - start, facts)
    except (httpx.HTTPError, UnicodeEncodeError) as err:
        if first_heartbeat is not None and time.monotonic() - start >= hold:
            pass  # broke after we had what we needed; the check stands
        else:
            return Check("stream", "failed",
                         redact(f"{shown}: {_describe_error(err)} after {duration_text(time.monotonic() - start)}",
                                secrets), time.monotonic() - start, facts)
    held = time.monotonic() - start
    facts.update(held_s=round(held, 3), heartbeats=heartbeats, events=events,
                 first_event_s=round(first_event, 4) if first_event is not None else None,
                 first_heartbeat_s=round(first_heartbeat, 4) if first_heartbeat is not None else None)
    timing = f"headers in {duration_text(facts['headers_s'])}"
    if first_event is not None:
        timing += f", first event in {duration_text(first_event)}"
    timing += _moved(facts.get("redirects"))
    if cut is not None:
        facts["cut"] = cut
        if (first_heartbeat is None and not (finite and first_event is not None)) or held < hold:
            return Check("stream", "failed", f"{shown}: {cut} after {duration_text(held)} ({timing})", held, facts)
        timing += f"; {cut}"
    if finite and first_event is not None and (ended_early or first_heartbeat is None):
        how = f"{events} event{'s' if events != 1 else ''}" + (", then it ended" if ended_early else "")
        beat = "; the app sends no heartbeat" if heartbeat is None else ""
        return Check("stream", "ok", f"{shown}: text/event-stream, {timing}, {how}{beat}", held, facts)
    if ended_early and (first_heartbeat is None or held < hold):
        return Check("stream", "failed",
                     f"{shown}: the stream ended after {duration_text(held)}, before "
                     + ("the hold time" if first_heartbeat is not None else
                        "any event" if heartbeat is None else "any heartbeat")
                     + f" ({timing}); a stream must stay open", held, facts)
    if heartbeat is None:
        return Check("stream", "failed", f"{shown}: no event in {duration_text(held)} ({timing})", held, facts)
    if first_heartbeat is None:
        return Check("stream", "failed",
                     f"{shown}: no heartbeat (a comment line starting with `:`) in {duration_text(held)}; "
                     f"the app should send one every {heartbeat:g} s (streaming.heartbeat) or proxies "
                     f"close idle streams ({timing})", held, facts)
    return Check("stream", "ok",
                 f"{shown}: text/event-stream, {timing}, heartbeat at {duration_text(first_heartbeat)}, held {duration_text(held)}",
                 held, facts)


def check_request(session: Session, base: str, name: str, prepared: Prepared, marker: str,
                  request_timeout: float) -> Check:
    """One request of the verify block: status and, for reads, the text the body must hold."""
    shown = f"{prepared.method} {prepared.path}"
    facts: dict[str, Any] = {"method": prepared.method, "path": prepared.path}
    without = ""
    if prepared.dropped:
        facts["headers_left_out"] = [h for h, _ in prepared.dropped]
        without = "; sent without " + ", ".join(f"{h} ({s} is not set)" for h, s in prepared.dropped)
    got = session.fetch(prepared.method, base + prepared.path, read_timeout=request_timeout,
                        headers=prepared.headers, json_body=prepared.json_body)
    took = got.seconds
    moved = _moved(got.redirects)
    if got.redirects:
        facts["redirects"] = got.redirects
    if got.error is not None:
        return Check(name, "failed", redact(f"{shown}: {got.error}{moved}{without}", prepared.secret_values),
                     took, facts)
    facts["status"] = got.status
    # Mask the body before it is cut to a snippet: a cut through a secret would show its first part.
    body = redact(got.text, prepared.secret_values)
    if got.cut:
        facts["body_cut_at"] = BODY_LIMIT
    if got.status != prepared.expect_status:
        hint = ""
        if got.status in (401, 403) and prepared.dropped:
            hint = f"; set {prepared.dropped[0][1]} (environment or .env) so verify can authenticate"
        detail = (f"{shown} → {got.status}, expected {prepared.expect_status}: "
                  f"{_snippet(body)}{moved}{without}{hint}")
        return Check(name, "failed", redact(detail, prepared.secret_values), took, facts)
    if prepared.expect_text is not None and prepared.expect_text not in got.text:
        where = f"the first {_size(BODY_LIMIT)} of the body lack" if got.cut else "the body lacks"
        detail = f"{shown} → {got.status} but {where} `{prepared.expect_text}`: {_snippet(body)}{moved}"
        return Check(name, "failed", redact(detail, prepared.secret_values), took, facts)
    found = ", body has the marker" if prepared.expect_text and marker in prepared.expect_text else ""
    return Check(name, "ok", redact(f"{shown} → {got.status} in {duration_text(took)}{found}{moved}{without}",
                                    prepared.secret_values), took, facts)


# --- all of it ------------------------------------------------------------------------


def run_checks(
    url: str,
    loaded: Any,
    service: str | None = None,
    timeout: float = 120.0,
    expect_marker: str | None = None,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    remember: bool = True,
    mask: Callable[[str], str] | None = None,
) -> Report:
    """Verify the service at ``url``; ``loaded`` is the description (``loader.Loaded``) or None.

    ``expect_marker``: a marker written before a redeploy, :data:`LAST` (the stored one;
    an error when there is none) or :data:`AUTO` (the stored one if any: what `up` uses).
    ``env``: where ``${NAME}`` in headers is read from (default: os.environ).
    ``mask``: the one masker (``secrets.Masker``) every detail and note passes through: a
    service may echo any secret it was given, in a body the report quotes.
    """
    report = _checks(url, loaded, service, timeout, expect_marker, env, progress, remember)
    if mask is not None:
        for check in report.checks:
            check.detail = mask(check.detail)
        report.notes = [mask(note) for note in report.notes]
    return report


def _checks(url: str, loaded: Any, service: str | None, timeout: float, expect_marker: str | None,
            env: Mapping[str, str] | None, progress: Progress | None, remember: bool) -> Report:
    base = normalise_url(url)
    env = os.environ if env is None else env
    spec = loaded.spec if loaded is not None else None
    if spec is not None:
        name, svc = pick_service(spec, service)
    else:
        name, svc = service, None
    report = Report(url=base, service=name)
    root = loaded.root if loaded is not None else None

    expected = _resolve_expected(expect_marker, root, base, name)

    health_path = svc.health.path if svc is not None and svc.health else "/health"
    request_timeout = max(svc.health.timeout if svc is not None and svc.health else 5.0, 5.0)
    if svc is None:
        report.notes.append("no streamdeploy.yaml: checked GET /health only (pass -f to check streams and data)")
    elif svc.health is None:
        report.notes.append(f"service `{name}` declares no health check; used GET /health")
    elif not svc.is_web:
        report.notes.append(f"service `{name}` has no port (a worker); checked GET {health_path} at {base} anyway")

    with Session(base) as client:
        grace = svc.health.grace if svc is not None and svc.health else None
        health = check_health(client, base, health_path, timeout, request_timeout, progress, grace)
        report.checks.append(health)
        if not health.ok:
            for skipped in ("stream", "persistence"):
                report.checks.append(Check(skipped, "skipped", "not tried: the service is not healthy"))
            return report

        report.checks.append(_stream_check(base, name, svc, progress, env))

        verify = svc.verify if svc is not None else None
        if verify is None or (verify.write is None and verify.read is None):
            if svc is not None:
                detail = (f"service `{name}` has no verify.write/verify.read requests; to prove data survives "
                          f"a redeploy, add under services.{name} (your own write and read routes): {VERIFY_BLOCK}")
                report.checks.append(Check("persistence", "skipped", detail))
            if expected:
                report.checks.append(Check("persisted", "failed",
                                           "--expect-marker needs a `verify.read` request in the description"))
            return report

        if expected:
            report.checks.append(_persisted_check(client, base, verify, expected, env, request_timeout))

        if verify.write is None:
            report.checks.append(Check("write", "skipped", "no verify.write request: nothing new written"))
            return report
        marker = new_marker()
        if progress:
            progress(f"writing marker {marker}")
        write = check_request(client, base, "write", prepare(verify.write, marker, env), marker, request_timeout)
        report.checks.append(write)
        if not write.ok:
            return report
        if verify.read is None:
            report.checks.append(Check("read", "skipped", "no verify.read request: the marker was not read back"))
            return report
        read = check_request(client, base, "read", prepare(verify.read, marker, env), marker, request_timeout)
        report.checks.append(read)
        if read.ok:
            report.marker = marker
            if remember and root is not None:
                try:
                    remember_marker(root, base, name, marker)
                except OSError as err:
                    report.notes.append(f"could not store the marker in {root / STATE}: {err.strerror}")
    return report


def normalise_url(url: str) -> str:
    from urllib.parse import urlsplit

    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- parsed lazily: raises on a port out of range or not a number
    except ValueError as err:  # "http://[::1", "host:99999"
        raise fail(f"`{url}` is not a valid URL: {err}",
                   fix="pass the service's base URL, e.g. https://my-app.fly.dev") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f"`{url}` is not an http(s) URL", fix="pass the service's base URL, e.g. https://my-app.fly.dev")
    import httpx

    try:
        httpx.URL(text).host  # noqa: B018 -- IDNA both ways, as every request will
    except (httpx.InvalidURL, UnicodeError) as err:
        raise fail(f"`{url}` is not a valid URL: {err}",
                   fix="check the host name (an internationalised name must be valid IDNA; its ASCII xn-- form "
                       "works too), e.g. https://my-app.fly.dev") from None
    if parts.query or parts.fragment:
        raise fail(f"`{url}` has a query or fragment", fix="pass the base URL only; paths come from the description")
    return text.rstrip("/")


def _resolve_expected(expect_marker: str | None, root: Path | None, base: str, service: str | None) -> str | None:
    if expect_marker in (None, ""):
        return None
    if expect_marker in (LAST, AUTO):
        entry = last_marker(root, base, service or "") if root is not None else None
        if entry is None:
            if expect_marker == AUTO:
                return None
            where = root / STATE if root is not None else STATE
            raise fail(
                f"no marker stored for {base} (service {service}) in {where}",
                fix="run `streamdeploy verify URL` once before the redeploy; it stores the marker it writes",
            )
        return entry["marker"]
    if not _MARKER.match(expect_marker):
        raise fail(f"`{expect_marker}` does not look like a marker",
                   fix="pass the marker a previous `verify` printed, e.g. sd-20261122t101500-3f9a1c, or `last`")
    return expect_marker


def _stream_check(base: str, name: str | None, svc: Any, progress: Progress | None,
                  env: Mapping[str, str] | None = None) -> Check:
    verify = svc.verify if svc is not None else None
    streaming = svc.streaming if svc is not None else None
    heartbeat = streaming.heartbeat if streaming else _DEFAULT_HEARTBEAT
    if verify is not None and verify.stream is not None:
        stream = verify.stream
        request = prepare(stream, new_marker(), os.environ if env is None else env)
        return check_stream(base, request.path, heartbeat, stream.hold, progress, request)
    if streaming is None:
        why = "no streamdeploy.yaml" if svc is None else f"service `{name}` declares no streaming paths"
        return Check("stream", "skipped", why)
    # No verify.stream: a guess. A path with {placeholders}, or one that refuses a bare GET
    # (a required ?q=, a token, POST only), says nothing about the deploy: try the next one.
    refused = [f"{path} has placeholders" for path in streaming.paths if "{" in path]
    for path in (p for p in streaming.paths if "{" not in p):
        check = check_stream(base, path, heartbeat, None, progress)
        if check.status == "failed" and check.facts.get("status") in _NEEDS_MORE_THAN_GET:
            refused.append(f"GET {path} → {check.facts['status']}")
            continue
        if refused:
            check.detail += f" (not {', '.join(refused)}; set verify.stream.path to choose)"
        elif len(streaming.paths) > 1:
            check.detail += " (first of streaming.paths; set verify.stream.path to choose)"
        return check
    return Check("stream", "skipped", f"no streaming path opens with a bare GET ({'; '.join(refused)}): "
                 "set verify.stream.path to one that does (a query may be part of it)")


# What to add to a description so `verify` can write a marker and read it back.
VERIFY_BLOCK = ('verify: {write: {method: POST, path: /items, json: {id: "{marker}"}, expect_status: 201}, '
                'read: {path: "/items/{marker}", expect_text: "{marker}"}}')


def _persisted_check(client: Any, base: str, verify: Any, expected: str, env: Mapping[str, str],
                     request_timeout: float) -> Check:
    if verify.read is None:
        return Check("persisted", "failed", "--expect-marker needs a `verify.read` request in the description")
    check = check_request(client, base, "persisted", prepare(verify.read, expected, env), expected, request_timeout)
    if check.ok:
        check.detail = f"marker {expected} from before is still there: {check.detail}"
    elif check.facts.get("status") in (404, 410) or check.facts.get("status") == verify.read.expect_status:
        check.detail = (f"marker {expected} from before is gone: {check.detail}. Data did not survive the "
                        "redeploy: is the volume mounted, and does the app keep its data under it? (Wiped it "
                        "on purpose? The marker this run writes replaces it.)")
    else:
        check.detail = f"could not read back marker {expected} from before: {check.detail}"
    return check
