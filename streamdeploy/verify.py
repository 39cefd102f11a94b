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
from typing import Any, Callable, Literal, Mapping

from streamdeploy import clock, exitcodes
from streamdeploy.problems import fail

STATE = Path(".streamdeploy") / "verify.json"
LAST = "last"  # --expect-marker last: the marker stored for this URL; an error when there is none
AUTO = "auto"  # what `up` passes: the stored marker when there is one, else no persisted check

_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MARKER = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
_DEFAULT_HEARTBEAT = 15.0
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
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": 1, "markers": {}}
    if not isinstance(data, dict) or not isinstance(data.get("markers"), dict):
        return {"version": 1, "markers": {}}
    return data


def last_marker(root: Path, url: str, service: str) -> dict[str, str] | None:
    """{"marker", "written_at"} of the last marker verified at this URL for this service."""
    entry = read_state(root)["markers"].get(_state_key(url), {}).get(service)
    if isinstance(entry, dict) and isinstance(entry.get("marker"), str):
        return entry
    return None


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


# --- the checks ------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _describe_error(err: Exception) -> str:
    import httpx

    if isinstance(err, UnicodeEncodeError):  # httpx encodes header values as ASCII
        return "a header value has a character HTTP headers cannot carry (not ASCII)"
    if isinstance(err, httpx.ConnectError):
        return "connection refused" if "refused" in str(err).lower() or "Errno 111" in str(err) else f"cannot connect ({err})"
    if isinstance(err, httpx.TimeoutException):
        return f"timed out ({type(err).__name__})"
    if isinstance(err, httpx.RemoteProtocolError):
        return f"the connection broke ({err})"
    return f"{type(err).__name__}: {err}"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_SHOWN else text[: _BODY_SHOWN - 1] + "…"


def check_health(client: Any, base: str, path: str, timeout: float, request_timeout: float,
                 progress: Progress | None = None, grace: float | None = None) -> Check:
    """GET path until 2xx; waits 0.25 s, 0.5 s, 1 s ... (at most 5 s) between tries.

    ``grace``: once the app answers, how long an unhealthy answer (a 503 while it loads) may
    last before that answer is the result: a server that keeps saying 503 is reported as
    503, not as a timeout two minutes later."""
    import httpx

    start = time.monotonic()
    deadline = start + max(timeout, 0.0)
    delay, attempts, last = 0.25, 0, "no answer"
    answered_at: float | None = None
    if progress:
        progress(f"waiting for GET {path} to answer (up to {timeout:g} s)")
    while True:
        attempts += 1
        sent = time.monotonic()
        try:
            response = client.get(base + path, timeout=request_timeout)
        except httpx.HTTPError as err:
            last = _describe_error(err)
        else:
            if 200 <= response.status_code < 300:
                took = time.monotonic() - sent
                tries = "first try" if attempts == 1 else f"try {attempts}, after {duration_text(sent - start)}"
                return Check("health", "ok", f"GET {path} → {response.status_code} in {duration_text(took)} ({tries})",
                             time.monotonic() - start,
                             {"status": response.status_code, "attempts": attempts, "latency_s": round(took, 4)})
            last = f"{response.status_code} {_snippet(response.text)}".rstrip()
            answered_at = sent if answered_at is None else answered_at
            if grace is not None and time.monotonic() - answered_at >= grace:
                return Check("health", "failed",
                             f"GET {path} → {last} (it has answered so for {duration_text(time.monotonic() - answered_at)}, "
                             f"past health.grace, {attempts} tries)", time.monotonic() - start,
                             {"attempts": attempts, "status": response.status_code})
        now = time.monotonic()
        if now >= deadline:
            return Check("health", "failed",
                         f"GET {path} did not answer 2xx within {timeout:g} s ({attempts} tries); last: {last}",
                         now - start, {"attempts": attempts})
        time.sleep(min(delay, deadline - now))  # the last try lands on the deadline
        delay = min(delay * 2, 5.0)


# How long a stream whose app sends no heartbeat gets to deliver its first event.
_NO_HEARTBEAT_WAIT = 10.0


def check_stream(base: str, path: str, heartbeat: float | None, hold: float | None,
                 progress: Progress | None = None, request: Prepared | None = None) -> Check:
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
    return asyncio.run(_hold_stream(base + path, path, heartbeat, hold, deadline, request))


async def _hold_stream(url: str, path: str, heartbeat: float | None, hold: float, deadline: float,
                       request: Prepared | None = None) -> Check:
    import asyncio

    import httpx

    method = request.method if request is not None else "GET"
    shown = f"{method} {path}"
    finite = heartbeat is None or method != "GET"  # a chat answer streams, then ends
    facts: dict[str, Any] = {"path": path, "method": method, "heartbeat_expected_s": heartbeat}
    if request is not None and request.dropped:
        facts["headers_left_out"] = [h for h, _ in request.dropped]
    first_event = first_heartbeat = None
    heartbeats = events = 0
    in_event = False
    ended_early = False
    start = time.monotonic()
    timeout = httpx.Timeout(10.0, read=deadline + 5.0)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            start = time.monotonic()  # after the client exists: building its TLS context takes ~0.1 s
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                       **(request.headers if request is not None else {})}
            body = {"json": request.json_body} if request is not None and request.json_body is not None else {}
            async with client.stream(method, url, headers=headers, **body) as r:
                headers_at = time.monotonic() - start
                facts["headers_s"] = round(headers_at, 4)
                content_type = r.headers.get("content-type", "")
                facts["content_type"] = content_type
                if r.status_code != 200:
                    text = (await r.aread()).decode("utf-8", "replace")
                    hint = ""
                    if r.status_code in (401, 403) and request is not None and request.dropped:
                        hint = f"; set {request.dropped[0][1]} (environment or .env) so verify can authenticate"
                    detail = f"{shown} → {r.status_code}: {_snippet(text)}{hint}"
                    return Check("stream", "failed", redact(detail, request.secret_values if request else []),
                                 time.monotonic() - start, facts)
                if not content_type.split(";")[0].strip().lower() == "text/event-stream":
                    return Check("stream", "failed",
                                 f"{shown} answered with content type `{content_type or 'none'}`, "
                                 "not text/event-stream", time.monotonic() - start, facts)
                try:
                    async with asyncio.timeout(deadline):
                        async for line in r.aiter_lines():
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
    except httpx.HTTPError as err:
        if first_heartbeat is not None and time.monotonic() - start >= hold:
            pass  # broke after we had what we needed; the check stands
        else:
            return Check("stream", "failed", f"{shown}: {_describe_error(err)} after {duration_text(time.monotonic() - start)}",
                         time.monotonic() - start, facts)
    held = time.monotonic() - start
    facts.update(held_s=round(held, 3), heartbeats=heartbeats, events=events,
                 first_event_s=round(first_event, 4) if first_event is not None else None,
                 first_heartbeat_s=round(first_heartbeat, 4) if first_heartbeat is not None else None)
    timing = f"headers in {duration_text(facts['headers_s'])}"
    if first_event is not None:
        timing += f", first event in {duration_text(first_event)}"
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


def check_request(client: Any, base: str, name: str, prepared: Prepared, marker: str,
                  request_timeout: float) -> Check:
    """One request of the verify block: status and, for reads, the text the body must hold."""
    import httpx

    start = time.monotonic()
    shown = f"{prepared.method} {prepared.path}"
    facts: dict[str, Any] = {"method": prepared.method, "path": prepared.path}
    without = ""
    if prepared.dropped:
        facts["headers_left_out"] = [h for h, _ in prepared.dropped]
        without = "; sent without " + ", ".join(f"{h} ({s} is not set)" for h, s in prepared.dropped)
    try:
        response = client.request(prepared.method, base + prepared.path, json=prepared.json_body,
                                  headers=prepared.headers, timeout=request_timeout)
    except (httpx.HTTPError, UnicodeEncodeError) as err:
        return Check(name, "failed", redact(f"{shown}: {_describe_error(err)}{without}", prepared.secret_values),
                     time.monotonic() - start, facts)
    took = time.monotonic() - start
    facts["status"] = response.status_code
    # Mask the body before it is cut to a snippet: a cut through a secret would show its first part.
    body = redact(response.text, prepared.secret_values)
    if response.status_code != prepared.expect_status:
        hint = ""
        if response.status_code in (401, 403) and prepared.dropped:
            hint = f"; set {prepared.dropped[0][1]} (environment or .env) so verify can authenticate"
        detail = (f"{shown} → {response.status_code}, expected {prepared.expect_status}: "
                  f"{_snippet(body)}{without}{hint}")
        return Check(name, "failed", redact(detail, prepared.secret_values), took, facts)
    if prepared.expect_text is not None and prepared.expect_text not in response.text:
        detail = f"{shown} → {response.status_code} but the body lacks `{prepared.expect_text}`: {_snippet(body)}"
        return Check(name, "failed", redact(detail, prepared.secret_values), took, facts)
    found = ", body has the marker" if prepared.expect_text and marker in prepared.expect_text else ""
    return Check(name, "ok", redact(f"{shown} → {response.status_code} in {duration_text(took)}{found}{without}",
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
) -> Report:
    """Verify the service at ``url``; ``loaded`` is the description (``loader.Loaded``) or None.

    ``expect_marker``: a marker written before a redeploy, :data:`LAST` (the stored one;
    an error when there is none) or :data:`AUTO` (the stored one if any: what `up` uses).
    ``env``: where ``${NAME}`` in headers is read from (default: os.environ).
    """
    import httpx

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

    with httpx.Client(follow_redirects=True, headers={"User-Agent": "streamdeploy-verify"}) as client:
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
    check = check_stream(base, streaming.paths[0], heartbeat, None, progress)
    if len(streaming.paths) > 1:
        check.detail += " (first of streaming.paths; set verify.stream.path to choose)"
    return check


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
