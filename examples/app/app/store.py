"""The document store: one Chroma collection, embedded on a volume or on a Chroma server.

Every method is blocking (chroma's client is synchronous); the web layer calls them in
worker threads so a slow write never stalls thousands of open SSE streams.

Embedded mode (PersistentClient) is single-writer: one process may own the directory.
A second process (a second uvicorn worker, or a new deploy overlapping the old one on
the same volume) would corrupt the HNSW index, so the directory is guarded by an
exclusive lock file and the second process reports itself unhealthy until it gets it.
To run several replicas, point them all at one `chroma run` server (CHROMA_HOST/PORT).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .embeddings import EmbeddingError, embedding_tag
from .settings import Settings

try:  # POSIX only; the service targets Linux containers
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("app.store")

LOCK_FILE = "streamdeploy-app.lock"
REOPEN_EVERY = 1.0  # seconds between attempts to (re)open an unavailable store


class StoreUnavailable(RuntimeError):
    """Chroma cannot be used right now (server down, directory locked or unwritable). Maps to 503."""


class StoreConfigError(RuntimeError):
    """The collection on disk does not match this configuration. Fatal at startup."""


class Conflict(ValueError):
    def __init__(self, ids: list[str]):
        super().__init__(f"document ids already exist: {', '.join(ids)}")
        self.ids = ids


class UpstreamError(RuntimeError):
    """The embedding backend failed. Maps to 502."""


@dataclass
class NewDocument:
    text: str
    id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    distance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "metadata": self.metadata}
        if self.distance is not None:
            out["distance"] = self.distance
        return out


class Store:
    def __init__(self, settings: Settings, embedding_function: Any):
        self.settings = settings
        self.ef = embedding_function
        self.tag = embedding_tag(embedding_function)
        self._client: Any = None
        self._collection: Any = None
        self._lock_fd: int | None = None
        self._open_lock = threading.Lock()
        # Serialises check-then-write so "ids are unique" holds within this process.
        self._write_lock = threading.Lock()
        self._last_attempt = 0.0
        self._last_error: str | None = None

    # --- lifecycle ----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        if self.settings.chroma_mode == "server":
            return {"chroma": "server", "host": self.settings.chroma_host, "port": self.settings.chroma_port}
        return {"chroma": "embedded", "path": str(Path(self.settings.chroma_path).resolve())}

    def open(self) -> None:
        """Connect and open the collection. StoreUnavailable is retryable; StoreConfigError is not."""
        with self._open_lock:
            if self._collection is not None:
                return
            self._last_attempt = time.monotonic()
            try:
                self._open()
                self._last_error = None
            except StoreUnavailable as e:
                self._last_error = str(e)
                self._release_lock()
                raise

    def _open(self) -> None:
        import chromadb  # ~0.7 s: imported once, at startup
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_mode == "server":
            try:
                client = chromadb.HttpClient(
                    host=self.settings.chroma_host, port=self.settings.chroma_port, ssl=self.settings.chroma_ssl,
                    settings=chroma_settings,
                )
            except Exception as e:  # connection refused, DNS, tenant check...
                raise StoreUnavailable(
                    f"chroma server {self.settings.chroma_host}:{self.settings.chroma_port} unreachable: {_short(e)}"
                ) from e
        else:
            path = Path(self.settings.chroma_path)
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreUnavailable(f"cannot create data directory {path}: {_short(e)}") from e
            self._acquire_lock(path)
            try:
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as e:
                raise StoreUnavailable(f"cannot open chroma at {path}: {_short(e)}") from e
        try:
            collection = self._get_or_create(client)
        except StoreConfigError:
            _close_client(client)
            raise
        except Exception as e:
            _close_client(client)
            raise StoreUnavailable(f"cannot open collection {self.settings.collection!r}: {_short(e)}") from e
        self._client, self._collection = client, collection
        log.info("chroma %s ready, collection %r, embeddings %s", self.describe(), self.settings.collection, self.tag)

    def _get_or_create(self, client: Any) -> Any:
        name = self.settings.collection
        # The embedding function is passed on every get: without it chroma would attach its
        # default one, which downloads a model on first use and fails offline.
        try:
            collection = client.get_or_create_collection(
                name, embedding_function=self.ef, metadata={"embeddings": self.tag, "created_by": "streamdeploy-example"}
            )
        except ValueError as e:
            if "conflict" in str(e).lower():  # chroma's own check: "... vs persisted: <name>"
                persisted = str(e).rpartition("persisted:")[2].strip() or "another embedding function"
                raise StoreConfigError(self._mismatch(name, persisted)) from e
            raise
        stored = (collection.metadata or {}).get("embeddings")
        if stored is not None and stored != self.tag:
            raise StoreConfigError(self._mismatch(name, stored))
        return collection

    def _mismatch(self, name: str, stored: str) -> str:
        return (
            f"collection {name!r} holds vectors made with {stored}, but this process is configured "
            f"for {self.tag} (EMBEDDINGS={self.settings.embeddings}). Vectors from different models "
            "cannot be compared: set EMBEDDINGS back, or use a new CHROMA_COLLECTION and re-ingest."
        )

    def _acquire_lock(self, path: Path) -> None:
        if fcntl is None or self._lock_fd is not None:
            return
        lock_path = path / LOCK_FILE
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreUnavailable(f"data directory {path} is not writable: {_short(e)}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StoreUnavailable(
                f"{path} is in use by another process (pid {holder}). Embedded Chroma is single-writer: "
                "run one worker and one replica, or use a Chroma server (CHROMA_HOST)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def collection(self) -> Any:
        """The open collection, reopening (at most once a second) after a failure."""
        if self._collection is not None:
            return self._collection
        if time.monotonic() - self._last_attempt < REOPEN_EVERY and self._last_error:
            raise StoreUnavailable(self._last_error)
        self.open()
        return self._collection

    def close(self) -> None:
        """Release chroma (sqlite closes, the segment files are flushed) and the directory lock."""
        with self._open_lock:
            if self._client is not None:
                _close_client(self._client)
            self._client = self._collection = None
            self._release_lock()

    # --- health -------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Chroma heartbeat, document count and (embedded) a real write to the data directory."""
        col = self.collection()
        try:
            self._client.heartbeat()
            count = col.count()
        except Exception as e:
            if self.settings.chroma_mode == "server":
                self._forget()  # reconnect next time: the server may have restarted
            raise StoreUnavailable(f"chroma heartbeat failed: {_short(e)}") from e
        if self.settings.chroma_mode == "embedded":
            probe = Path(self.settings.chroma_path) / f".health-{os.getpid()}"
            try:
                probe.write_bytes(b"ok")
                probe.unlink()
            except OSError as e:
                raise StoreUnavailable(f"data directory {self.settings.chroma_path} is not writable: {_short(e)}") from e
        return {"documents": count}

    def _forget(self) -> None:
        with self._open_lock:
            self._client = self._collection = None
            self._last_attempt = time.monotonic()
            self._last_error = "chroma connection lost"

    # --- documents ----------------------------------------------------------------

    def add(self, docs: list[NewDocument]) -> list[Document]:
        col = self.collection()
        ids = [d.id or uuid.uuid4().hex for d in docs]
        stored = [Document(id=i, text=d.text, metadata=d.metadata or {}) for i, d in zip(ids, docs)]
        metadatas = [d.metadata or None for d in docs]  # chroma rejects {} but takes None
        with self._write_lock:
            existing = self._call(col.get, ids=ids, include=[])["ids"]
            if existing:
                raise Conflict(sorted(existing))
            self._call(
                col.add,
                ids=ids,
                documents=[d.text for d in docs],
                metadatas=metadatas if any(metadatas) else None,
            )
        return stored

    def get(self, doc_id: str) -> Document | None:
        res = self._call(self.collection().get, ids=[doc_id], include=["documents", "metadatas"])
        if not res["ids"]:
            return None
        return Document(id=res["ids"][0], text=res["documents"][0], metadata=res["metadatas"][0] or {})

    def list(self, limit: int, offset: int) -> tuple[list[Document], int]:
        col = self.collection()
        res = self._call(col.get, limit=limit, offset=offset, include=["documents", "metadatas"])
        docs = [Document(id=i, text=t, metadata=m or {}) for i, t, m in zip(res["ids"], res["documents"], res["metadatas"])]
        return docs, self._call(col.count)

    def delete(self, doc_id: str) -> bool:
        col = self.collection()
        with self._write_lock:
            if not self._call(col.get, ids=[doc_id], include=[])["ids"]:
                return False
            self._call(col.delete, ids=[doc_id])
        return True

    def search(self, query: str, k: int) -> list[Document]:
        col = self.collection()
        # Asking for more results than exist makes chroma warn; the count is one cheap sqlite read.
        n = min(k, self._call(col.count))
        if n == 0:
            return []
        res = self._call(col.query, query_texts=[query], n_results=n, include=["documents", "metadatas", "distances"])
        return [
            Document(id=i, text=t, metadata=m or {}, distance=round(float(d), 6))
            for i, t, m, d in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one chroma call, turning its failures into the two errors the API maps."""
        try:
            return fn(*args, **kwargs)
        except EmbeddingError as e:
            raise UpstreamError(str(e)) from e
        except Exception as e:
            if self.settings.chroma_mode == "server" and _is_connection_error(e):
                self._forget()
                raise StoreUnavailable(f"chroma server unreachable: {_short(e)}") from e
            raise


def _is_connection_error(e: BaseException) -> bool:
    import httpx

    while e is not None:
        if isinstance(e, (httpx.TransportError, ConnectionError)):
            return True
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


def _close_client(client: Any) -> None:
    try:
        client.close()
    except Exception as e:  # closing must never mask the real shutdown
        log.warning("closing chroma client: %s", _short(e))


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__
