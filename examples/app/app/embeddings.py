"""Embedding functions, always chosen explicitly.

Chroma's default embedding function downloads a model on first use and fails offline
(../shared/research/feasibility.md), so the store passes one of these on every
get/create of the collection and chroma never picks its default:

- ``hash``   hashed lexical features (words, word pairs, character trigrams). No model,
             no download, deterministic across processes. The default, and what tests use.
- ``minilm`` Chroma's ONNX all-MiniLM-L6-v2, loaded from MINILM_DIR, which
             ``python -m app.warmup`` fills at build time. Never downloads at run time.
- ``openai`` OpenAI's ``POST /v1/embeddings`` through httpx.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

from .settings import Settings

_WORD = re.compile(r"\w+", re.UNICODE)

# Files chroma's ONNXMiniLM_L6_V2 checks before it decides to download.
MINILM_FILES = (
    "config.json",
    "model.onnx",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "vocab.txt",
)


class EmbeddingError(RuntimeError):
    """The embedding backend failed (for OpenAI: a network or API error)."""


class ModelMissing(RuntimeError):
    """EMBEDDINGS=minilm but the model was not baked in by the warmup step."""


# --- hash: offline lexical embeddings -------------------------------------------------


@lru_cache(maxsize=1 << 17)
def _slot(feature: str, dim: int) -> tuple[int, float]:
    # crc32 is stable across processes and Python versions (unlike hash()), and fast.
    h = zlib.crc32(feature.encode("utf-8"))
    return h % dim, (1.0 if (h // dim) & 1 else -1.0)


@lru_cache(maxsize=1 << 16)
def _word_slots(word: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Where one occurrence of a word lands: the word itself (weight 1) and its character
    trigrams (0.5 in total), so "deploy" still meets "deployment". Cached: words repeat."""
    padded = f"<{word}>"
    grams = [padded[j : j + 3] for j in range(len(padded) - 2)]
    slots = [_slot("w:" + word, dim)] + [_slot("c:" + g, dim) for g in grams]
    weights = [1.0] + [0.5 / len(grams)] * len(grams)
    return (np.array([i for i, _ in slots], dtype=np.intp), np.array([s * w for (_, s), w in zip(slots, weights)]))


def hash_embed(text: str, dim: int) -> list[float]:
    """Feature-hash a text into a unit vector: words, word pairs and character trigrams,
    with sublinear term frequency (1 + log n); signed hashing keeps collisions unbiased."""
    return hash_vector(text, dim).tolist()


def hash_vector(text: str, dim: int) -> np.ndarray:
    words = _WORD.findall(text.lower())
    if not words:  # punctuation only: still a valid, distinct direction
        vec = np.zeros(dim, dtype=np.float32)
        vec[_slot("raw:" + text.strip(), dim)[0]] = 1.0
        return vec
    counts = Counter(words)
    slots = [_word_slots(w, dim) for w in counts]
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    index = [np.concatenate([i for i, _ in slots])]
    value = [np.concatenate([v for _, v in slots]) * np.repeat(tf, [len(i) for i, _ in slots])]
    if len(words) > 1:
        pairs = Counter(zip(words, words[1:]))
        h = np.fromiter((zlib.crc32(f"b:{a} {b}".encode()) for a, b in pairs), dtype=np.int64, count=len(pairs))
        sign = np.where((h // dim) & 1, 1.0, -1.0)  # same rule as _slot
        index.append(h % dim)
        value.append(0.5 * sign * (1.0 + np.log(np.fromiter(pairs.values(), dtype=np.float64, count=len(pairs)))))
    vec = np.bincount(np.concatenate(index), weights=np.concatenate(value), minlength=dim)
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:  # every feature cancelled out: fall back to one fixed slot
        vec[_slot("raw:" + text, dim)[0]] = 1.0
        norm = 1.0
    return (vec / norm).astype(np.float32)


class HashEmbeddings(EmbeddingFunction[Documents]):
    VERSION = 1

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        return [hash_vector(t, self.dim) for t in input]

    @staticmethod
    def name() -> str:
        return "streamdeploy-hash"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim, "version": self.VERSION}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "HashEmbeddings":
        return HashEmbeddings(dim=int(config.get("dim", 512)))

    def tag(self) -> str:
        return f"hash:v{self.VERSION}:{self.dim}"


# --- openai: POST {base}/embeddings ---------------------------------------------------


class OpenAIEmbeddings(EmbeddingFunction[Documents]):
    """OpenAI embeddings over plain httpx (https://platform.openai.com/docs/api-reference/embeddings)."""

    BATCH = 2048  # the API's limit on inputs per request

    def __init__(self, api_key: str | None, model: str, base_url: str, timeout: float = 60.0) -> None:
        self.api_key = api_key
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:  # one pooled client, shared by chroma's worker threads
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=10.0))
        return self._client

    def __call__(self, input: Documents) -> Embeddings:
        out: list[np.ndarray] = []
        for start in range(0, len(input), self.BATCH):
            batch = list(input[start : start + self.BATCH])
            try:
                r = self._http().post(
                    f"{self.base_url}/embeddings",
                    json={"model": self.model, "input": batch},
                    headers={"Authorization": f"Bearer {self.api_key}"},
                )
            except httpx.HTTPError as e:
                raise EmbeddingError(f"OpenAI embeddings request failed: {type(e).__name__}: {e}") from e
            if r.status_code != 200:
                raise EmbeddingError(f"OpenAI embeddings returned {r.status_code}: {api_error_message(r.content)}")
            try:
                items = sorted(r.json()["data"], key=lambda d: d["index"])
                vectors = [np.asarray(d["embedding"], dtype=np.float32) for d in items]
            except (ValueError, KeyError, TypeError) as e:
                raise EmbeddingError(f"OpenAI embeddings: unexpected response: {e!r}") from e
            if len(vectors) != len(batch):
                raise EmbeddingError(f"OpenAI embeddings: asked for {len(batch)} vectors, got {len(vectors)}")
            out.extend(vectors)
        return out

    @staticmethod
    def name() -> str:
        return "streamdeploy-openai"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url}  # never the key

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "OpenAIEmbeddings":
        return OpenAIEmbeddings(
            api_key=os.environ.get("OPENAI_API_KEY"),
            model=config.get("model", "text-embedding-3-small"),
            base_url=config.get("base_url", "https://api.openai.com/v1"),
        )

    def tag(self) -> str:
        return f"openai:{self.model}"


def api_error_message(body: bytes) -> str:
    """OpenAI's error envelope is {"error": {"message": ...}}; fall back to the raw text."""
    import json

    try:
        err = json.loads(body)["error"]
        return str(err.get("message") if isinstance(err, dict) else err)[:500]
    except (ValueError, KeyError, TypeError):
        return body[:500].decode("utf-8", "replace")


# --- minilm: chroma's ONNX all-MiniLM-L6-v2 from a baked-in folder --------------------


def minilm_present(model_dir: str | Path) -> bool:
    onnx = Path(model_dir) / "onnx"
    return all((onnx / f).is_file() for f in MINILM_FILES)


def minilm(model_dir: str | Path) -> EmbeddingFunction[Documents]:
    """Chroma's ONNXMiniLM_L6_V2 reading from ``model_dir`` (it downloads there if files are missing,
    which only the warmup step lets happen)."""
    from functools import cached_property

    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    class LocalMiniLM(ONNXMiniLM_L6_V2):
        DOWNLOAD_PATH = Path(model_dir)

        @cached_property
        def tokenizer(self) -> Any:
            # Chroma pads every input to 256 tokens; padding each batch only to its longest
            # input gives the same vectors (pooling uses the attention mask) and is many
            # times faster on short passages.
            tok = ONNXMiniLM_L6_V2.tokenizer.func(self)  # type: ignore[attr-defined]
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
            return tok

        def _forward(self, documents: list[str], batch_size: int = 32) -> np.ndarray:
            # Chroma's own forward pass, except that a batch is tokenized together
            # (encode_batch pads to the batch's longest input instead of to 256).
            out = []
            for start in range(0, len(documents), batch_size):
                encoded = self.tokenizer.encode_batch(list(documents[start : start + batch_size]))
                ids = np.array([e.ids for e in encoded], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
                hidden = self.model.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
                weights = np.broadcast_to(mask[..., None], hidden.shape)
                pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
                out.append(self._normalize(pooled).astype(np.float32))
            return np.concatenate(out)

        def tag(self) -> str:
            return "minilm:all-MiniLM-L6-v2"

    return LocalMiniLM(preferred_providers=["CPUExecutionProvider"])


def make_embedding_function(settings: Settings) -> EmbeddingFunction[Documents]:
    if settings.embeddings == "hash":
        return HashEmbeddings()
    if settings.embeddings == "openai":
        return OpenAIEmbeddings(
            settings.openai_api_key,
            settings.openai_embedding_model,
            settings.openai_base_url,
            timeout=settings.openai_timeout,
        )
    if settings.embeddings == "minilm":
        if not minilm_present(settings.minilm_dir):
            raise ModelMissing(
                f"EMBEDDINGS=minilm but the model is not in MINILM_DIR={settings.minilm_dir}. "
                "Run `EMBEDDINGS=minilm python -m app.warmup` in the build step (streamdeploy.yaml "
                "build.commands does); the service never downloads a model at run time."
            )
        return minilm(settings.minilm_dir)
    raise ValueError(f"unknown EMBEDDINGS mode {settings.embeddings!r}")  # Settings already rejects this


def embedding_tag(ef: EmbeddingFunction[Documents]) -> str:
    """A short label of the vector space, stored on the collection to catch a mode switch."""
    tag = getattr(ef, "tag", None)
    return tag() if callable(tag) else type(ef).__name__
