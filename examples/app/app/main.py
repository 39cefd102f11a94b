"""The HTTP API: documents in Chroma, search, and two Server-Sent Event streams.

Run it with ONE worker, from examples/app/:

    uvicorn app.main:app --host 0.0.0.0 --port 8000

Why one worker: embedded Chroma (PersistentClient) is single-writer. Two processes on
one data directory corrupt its index, and each would also keep its own change feed and
answer cache. One process already holds thousands of streams (they are idle sockets
on one event loop). To scale out, run `chroma run` as a server, set CHROMA_HOST and
CHROMA_PORT, and start as many single-worker replicas as you like.
"""


import asyncio
import functools
import hmac
import logging
import os
import signal
import sys
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, AsyncIterator, Callable

import anyio
import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sse_starlette import ServerSentEvent
from sse_starlette.sse import AppStatus

from . import __version__
from .answer import answer_events
from .embeddings import ModelMissing, make_embedding_function
from .events import Broker
from .models import DocumentsIn
from .runs import RunRegistry, parse_run_id
from .settings import Settings, SettingsError
from .store import Conflict, NewDocument, Store, StoreConfigError, StoreUnavailable, UpstreamError
from .streaming import follow_changes, follow_run, sse_response

log = logging.getLogger("app")

STORE_TIMEOUT = 30.0  # chroma's HTTP client has no timeout of its own
HEALTH_TIMEOUT = 3.0  # below the platforms' health-check timeouts (streamdeploy.yaml: 5 s)


class Service:
    """Everything the routes share; built on startup, torn down on shutdown."""

    def __init__(self, settings: Settings, embedding_function: Any):
        self.settings = settings
        self.store = Store(settings, embedding_function)
        self.broker = Broker(settings.events_buffer)
        self.runs = RunRegistry(settings.answer_cache, settings.answer_ttl)
        self.shutdown = anyio.Event()
        self.http: httpx.AsyncClient | None = None
        self.started = time.monotonic()
        self._fanout: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await anyio.to_thread.run_sync(self.store.open)
        except StoreUnavailable as e:  # e.g. chroma server not up yet: /health says 503 until it is
            log.warning("chroma not available yet, /health reports 503 until it is: %s", e)
        except StoreConfigError as e:
            log.error("%s", e)
            raise
        if self.settings.answers_with_openai:
            self.http = httpx.AsyncClient(timeout=httpx.Timeout(self.settings.openai_timeout, connect=10.0))
        self._fanout = asyncio.create_task(self._on_shutdown())

    async def _on_shutdown(self) -> None:
        # Wake every stream as soon as uvicorn starts exiting (SIGTERM), so each sends its
        # final event and ends at once. sse-starlette notices the same thing too, but polls
        # only every 0.5 s and then keeps one 0.1 s polling loop per stream until it ends;
        # with thousands of streams, getting there first roughly halves the shutdown.
        while not self.shutdown.is_set():
            if _server_exiting():
                self.shutdown.set()
                break
            with anyio.move_on_after(0.1):
                await self.shutdown.wait()
        log.info("shutting down: ending %d open event streams", self.broker.subscribers)
        self.broker.close()
        self.runs.wake_all()

    async def stop(self) -> None:
        self.shutdown.set()
        self.broker.close()
        self.runs.wake_all()
        await self.runs.aclose()
        if self._fanout:
            self._fanout.cancel()
        if self.http:
            await self.http.aclose()
        await anyio.to_thread.run_sync(self.store.close)  # flushes chroma, releases the directory lock
        log.info("stopped cleanly")

    async def call(self, fn: Callable[..., Any], *args: Any, timeout: float = STORE_TIMEOUT) -> Any:
        """Run a blocking store call in a worker thread, mapping its failures to HTTP errors."""
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(functools.partial(fn, *args), abandon_on_cancel=True)
        except TimeoutError:
            raise HTTPException(503, f"chroma did not answer within {timeout:g} s") from None
        except (StoreUnavailable, StoreConfigError) as e:
            raise HTTPException(503, str(e)) from None
        except UpstreamError as e:
            raise HTTPException(502, str(e)) from None
        except Conflict as e:
            raise HTTPException(409, str(e)) from None

    def openai_options(self) -> dict[str, Any] | None:
        s = self.settings
        if not s.answers_with_openai:
            return None
        return {"base_url": s.openai_base_url, "api_key": s.openai_api_key, "model": s.openai_model, "max_tokens": s.openai_max_tokens}


def create_app(settings: Settings | None = None) -> FastAPI:
    _configure_logging()
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError as e:
            raise SystemExit(f"app: {e}") from None
    try:
        embedding_function = make_embedding_function(settings)
    except ModelMissing as e:
        raise SystemExit(f"app: {e}") from None
    service = Service(settings, embedding_function)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("starting: %s", {k: v for k, v in settings.public().items() if k in _STARTUP_KEYS})
        if not settings.api_key:
            log.warning("API_KEY is not set: anyone who can reach this service can add and delete documents")
        workers = os.environ.get("WEB_CONCURRENCY", "").strip()
        if settings.chroma_mode == "embedded" and workers.isdigit() and int(workers) > 1:
            log.warning(
                "WEB_CONCURRENCY=%s: uvicorn starts that many workers unless given --workers 1, but embedded "
                "Chroma is single-writer; only one of them will get the data directory", workers
            )
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="streamdeploy example: retrieval + streaming",
        version=__version__,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,  # larger bodies get 413 before they are read
    )
    app.state.service = service
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )

    def require_api_key(authorization: Annotated[str | None, Header()] = None) -> None:
        """Writes need `Authorization: Bearer $API_KEY` when API_KEY is set."""
        if not settings.api_key:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    Query_q = Annotated[str, Query(min_length=1, max_length=1000, description="the question or search text")]

    def clean_query(q: str) -> str:
        if not q.strip():
            raise HTTPException(422, [{"loc": ["query", "q"], "msg": "q must not be blank", "type": "value_error"}])
        return q.strip()

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {
            "service": "streamdeploy example",
            "version": __version__,
            "endpoints": ["/health", "/documents", "/documents/{id}", "/search?q=&k=", "/stream?q=", "/events", "/docs"],
        }

    @app.get("/health")
    async def health() -> JSONResponse:
        body: dict[str, Any] = {
            "status": "ok",
            **service.store.describe(),
            "collection": settings.collection,
            "embeddings": settings.embeddings,
            "embedding_space": service.store.tag,
            "answers": "openai" if settings.answers_with_openai else "extractive",
            "streams": {"events": service.broker.subscribers, "answers_kept": len(service.runs)},
            "version": __version__,
            "uptime_s": round(time.monotonic() - service.started, 3),
        }
        reason = None
        if service.shutdown.is_set():
            reason = "shutting down"
        else:
            try:
                with anyio.fail_after(HEALTH_TIMEOUT):
                    body.update(await anyio.to_thread.run_sync(service.store.check, abandon_on_cancel=True))
            except TimeoutError:
                reason = f"chroma did not answer within {HEALTH_TIMEOUT:g} s"
            except (StoreUnavailable, StoreConfigError) as e:
                reason = str(e)
        if reason:
            body.update(status="unavailable", reason=reason)
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.post("/documents", status_code=201, dependencies=[Depends(require_api_key)])
    async def add_documents(body: DocumentsIn) -> dict[str, list[str]]:
        if len(body.documents) > settings.max_batch:
            raise HTTPException(413, f"{len(body.documents)} documents in one request; the limit is {settings.max_batch} (MAX_BATCH)")
        for i, doc in enumerate(body.documents):
            if len(doc.text) > settings.max_text_chars:
                raise HTTPException(
                    413, f"documents[{i}].text has {len(doc.text)} characters; the limit is {settings.max_text_chars} (MAX_TEXT_CHARS)"
                )
        new = [NewDocument(text=d.text, id=d.id, metadata=d.metadata) for d in body.documents]
        stored = await service.call(service.store.add, new)
        for doc in stored:
            preview = doc.text if len(doc.text) <= 280 else doc.text[:280] + "…"
            service.broker.publish("added", {"id": doc.id, "preview": preview, "metadata": doc.metadata})
        return {"ids": [d.id for d in stored]}

    @app.get("/documents")
    async def list_documents(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Annotated[int, Query(ge=0)] = 0
    ) -> dict[str, Any]:
        docs, total = await service.call(service.store.list, limit, offset)
        return {"documents": [d.as_dict() for d in docs], "total": total, "limit": limit, "offset": offset}

    @app.get("/documents/{doc_id}")
    async def get_document(doc_id: Annotated[str, Path(max_length=1000)]) -> dict[str, Any]:
        doc = await service.call(service.store.get, doc_id)
        if doc is None:
            raise HTTPException(404, f"no document with id {doc_id!r}")
        return doc.as_dict()

    @app.delete("/documents/{doc_id}", status_code=204, dependencies=[Depends(require_api_key)])
    async def delete_document(doc_id: Annotated[str, Path(max_length=1000)]) -> Response:
        if not await service.call(service.store.delete, doc_id):
            raise HTTPException(404, f"no document with id {doc_id!r}")
        service.broker.publish("deleted", {"id": doc_id})
        return Response(status_code=204)

    @app.get("/search")
    async def search(q: Query_q, k: Annotated[int, Query(ge=1, le=settings.max_k)] = 5) -> dict[str, Any]:
        hits = await service.call(service.store.search, clean_query(q), k)
        return {"query": q, "k": k, "hits": [h.as_dict() for h in hits]}

    @app.get("/stream")
    async def stream(
        q: Query_q,
        k: Annotated[int, Query(ge=1, le=min(20, settings.max_k))] = 4,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id_query: Annotated[str | None, Query(alias="last_event_id", max_length=200)] = None,
    ):
        last_event_id = last_event_id or last_event_id_query
        question = clean_query(q)
        key = (question, k)
        resume = parse_run_id(last_event_id)
        run = service.runs.get(resume[0]) if resume else None
        if run is not None and run.key == key:
            return sse_response(follow_run(run, resume[1] + 1, settings, service.shutdown), settings, service.shutdown)
        # New question, or a resume of an answer this process no longer has (restart, expiry).
        hits = await service.call(service.store.search, question, k)
        events = answer_events(
            question, hits, openai=service.openai_options(), client=service.http, token_delay=settings.stream_token_delay
        )
        run = service.runs.start(key, events)
        prelude = []
        if last_event_id:
            prelude.append(
                ServerSentEvent(
                    data='{"reason":"unknown or expired Last-Event-ID; the answer starts over"}', event="reset", id=run.id
                )
            )
        return sse_response(follow_run(run, 0, settings, service.shutdown, prelude), settings, service.shutdown)

    @app.get("/events")
    async def events(
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id_query: Annotated[str | None, Query(alias="last_event_id", max_length=200)] = None,
    ):
        # ?last_event_id= is for a client that had to make a new EventSource (a proxy answered 502
        # while this server was down, and browsers give up then): it cannot set the header.
        last_event_id = last_event_id or last_event_id_query
        return sse_response(follow_changes(service.broker, last_event_id, settings, service.shutdown), settings, service.shutdown)

    return app


def _server_exiting() -> bool:
    """True once uvicorn has been asked to exit. While uvicorn runs, its Server.handle_exit
    is the SIGTERM handler, and Server.should_exit flips the moment a signal arrives (the
    same introspection sse-starlette uses)."""
    if AppStatus.should_exit:
        return True
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


_STARTUP_KEYS = {"chroma_path", "chroma_host", "chroma_port", "collection", "embeddings", "sse_heartbeat", "api_key", "openai_api_key"}


def _configure_logging() -> None:
    logger = logging.getLogger("app")
    if not logger.handlers:  # same look as uvicorn's own lines
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


app = create_app()
