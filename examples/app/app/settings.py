"""Settings, read once from the environment.

Every knob is an environment variable because that is the one interface all the
platforms share (Fly secrets, Railway variables, Render env groups, Kubernetes env).
Empty values count as unset: platforms often create a secret before it is filled in.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

EMBEDDING_MODES = ("hash", "minilm", "openai")

# Where `python -m app.warmup` puts the MiniLM model: inside the app folder, so the
# image's build step bakes it in and any runtime user can read it (a $HOME cache
# would belong to the build user and be missed by a non-root runtime user).
DEFAULT_MINILM_DIR = str(Path(__file__).resolve().parent.parent / ".models" / "all-MiniLM-L6-v2")


class SettingsError(ValueError):
    """One or more environment variables are invalid; the message lists each with its fix."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Chroma: embedded on a volume (default) or a `chroma run` server for several replicas.
    chroma_path: str = "./chroma_data"
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_ssl: bool = False  # https to the server (a managed or remote Chroma behind TLS)
    collection: str = "documents"
    # Security and browsers.
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    # Server-Sent Events.
    sse_heartbeat: float = 15.0  # under every platform's idle cutoff (Railway: 5 min, proxies: 60 s)
    sse_retry_ms: int = 3000
    shutdown_grace: float = 2.0  # below uvicorn's --timeout-graceful-shutdown and the platforms' kill timeouts
    events_buffer: int = 1024  # change events kept for Last-Event-ID resume
    stream_token_delay: float = 0.0  # optional pacing of extractive tokens, for demos
    answer_cache: int = 256  # finished answers kept for resume
    answer_ttl: float = 300.0
    # Embeddings and the optional LLM.
    embeddings: str = "hash"
    minilm_dir: str = DEFAULT_MINILM_DIR
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_max_tokens: int | None = None
    openai_timeout: float = 60.0
    # Input limits.
    max_body_bytes: int = 1_048_576
    max_batch: int = 256
    max_text_chars: int = 20_000
    max_k: int = 50

    @property
    def chroma_mode(self) -> str:
        return "server" if self.chroma_host else "embedded"

    @property
    def answers_with_openai(self) -> bool:
        return bool(self.openai_api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        reader = _Reader(env)
        values = dict(
            host=reader.text("HOST", cls.host),
            port=reader.integer("PORT", cls.port, lo=1, hi=65535),
            chroma_path=reader.text("CHROMA_DB_PATH", cls.chroma_path),
            chroma_host=reader.text("CHROMA_HOST", None),
            chroma_port=reader.integer("CHROMA_PORT", cls.chroma_port, lo=1, hi=65535),
            chroma_ssl=reader.flag("CHROMA_SSL", cls.chroma_ssl),
            collection=reader.text("CHROMA_COLLECTION", cls.collection),
            api_key=reader.text("API_KEY", None),
            cors_origins=tuple(o.strip() for o in (reader.text("CORS_ORIGINS", "") or "").split(",") if o.strip()),
            sse_heartbeat=reader.number("SSE_HEARTBEAT", cls.sse_heartbeat, lo=0, hi=3600),
            sse_retry_ms=reader.integer("SSE_RETRY_MS", cls.sse_retry_ms, lo=0, hi=600_000),
            shutdown_grace=reader.number("SHUTDOWN_GRACE", cls.shutdown_grace, lo=0, hi=120),
            events_buffer=reader.integer("EVENTS_BUFFER", cls.events_buffer, lo=1, hi=1_000_000),
            stream_token_delay=reader.number("STREAM_TOKEN_DELAY", cls.stream_token_delay, lo=0, hi=10),
            answer_cache=reader.integer("ANSWER_CACHE", cls.answer_cache, lo=1, hi=100_000),
            answer_ttl=reader.number("ANSWER_TTL", cls.answer_ttl, lo=1, hi=86_400),
            embeddings=(reader.text("EMBEDDINGS", cls.embeddings) or cls.embeddings).lower(),
            minilm_dir=reader.text("MINILM_DIR", cls.minilm_dir),
            openai_api_key=reader.text("OPENAI_API_KEY", None),
            openai_base_url=(reader.text("OPENAI_BASE_URL", cls.openai_base_url) or "").rstrip("/"),
            openai_model=reader.text("OPENAI_MODEL", cls.openai_model),
            openai_embedding_model=reader.text("OPENAI_EMBEDDING_MODEL", cls.openai_embedding_model),
            openai_max_tokens=reader.integer("OPENAI_MAX_TOKENS", None, lo=1, hi=1_000_000),
            openai_timeout=reader.number("OPENAI_TIMEOUT", cls.openai_timeout, lo=1, hi=3600),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", cls.max_body_bytes, lo=1024, hi=1 << 30),
            max_batch=reader.integer("MAX_BATCH", cls.max_batch, lo=1, hi=100_000),
            max_text_chars=reader.integer("MAX_TEXT_CHARS", cls.max_text_chars, lo=1, hi=10_000_000),
            max_k=reader.integer("MAX_K", cls.max_k, lo=1, hi=1000),
        )
        problems = reader.problems
        if values["embeddings"] not in EMBEDDING_MODES:
            hint = (
                " Chroma's default embedding function downloads a model on first use and fails offline,"
                " so this service never falls back to it."
                if values["embeddings"] == "default"
                else ""
            )
            problems.append(
                f"EMBEDDINGS={values['embeddings']!r}: expected one of {', '.join(EMBEDDING_MODES)}"
                f" (unset means 'hash', which works offline).{hint}"
            )
        if values["embeddings"] == "openai" and not values["openai_api_key"]:
            problems.append("EMBEDDINGS=openai needs OPENAI_API_KEY; set it, or use EMBEDDINGS=hash to run offline.")
        if "CHROMA_PORT" in env and env["CHROMA_PORT"].strip() and not values["chroma_host"]:
            problems.append(
                "CHROMA_PORT is set but CHROMA_HOST is not: set CHROMA_HOST to use a Chroma server,"
                " or unset CHROMA_PORT to use the embedded database at CHROMA_DB_PATH."
            )
        if values["openai_base_url"] and not values["openai_base_url"].startswith(("http://", "https://")):
            problems.append(f"OPENAI_BASE_URL={values['openai_base_url']!r}: expected an http(s) URL.")
        if problems:
            raise SettingsError("invalid configuration:\n  - " + "\n  - ".join(problems))
        return cls(**values)

    def public(self) -> dict[str, object]:
        """The settings without secrets, for the startup log."""
        secret = {"api_key", "openai_api_key"}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in secret}
        out["api_key"] = "set" if self.api_key else "unset"
        out["openai_api_key"] = "set" if self.openai_api_key else "unset"
        return out


class _Reader:
    """Parses typed values and collects every problem, so one run reports them all."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None) -> str | None:
        value = self.env.get(name, "").strip()
        return value if value else default

    def number(self, name: str, default: float, *, lo: float, hi: float) -> float:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = float(raw.removesuffix("s"))
        except ValueError:
            self.problems.append(f"{name}={raw!r}: expected a number of seconds, e.g. {default:g}.")
            return default
        if not math.isfinite(value) or not lo <= value <= hi:
            self.problems.append(f"{name}={raw!r}: expected a number between {lo:g} and {hi:g}.")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name, None)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name}={raw!r}: expected true or false.")
        return default

    def integer(self, name: str, default, *, lo: int, hi: int):
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r}: expected a whole number between {lo} and {hi}.")
            return default
        if not lo <= value <= hi:
            self.problems.append(f"{name}={raw!r}: expected a whole number between {lo} and {hi}.")
            return default
        return value
