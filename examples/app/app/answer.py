"""Answers built from retrieved passages, produced as a stream of text tokens.

Two real generators, chosen by configuration:

- extractive (no OPENAI_API_KEY): picks the sentences of the retrieved passages that
  share the most (rare) words with the question, cites them [n], and streams the
  result word by word. Nothing is invented: every word comes from a stored document.
- OpenAI (OPENAI_API_KEY set): OpenAI's Chat Completions API with ``stream: true``,
  read as Server-Sent Events (``data: {...}`` lines, ending with ``data: [DONE]``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from .embeddings import api_error_message
from .store import Document

NO_DOCUMENTS = "I found nothing about that in the stored documents."

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\S+\s*")
_STOP = frozenset(
    "a an and are as at be but by can do does for from has have how i in is it its me my of on or "
    "should so than that the their them then there these they this to was we what when where which "
    "who why will with would you your about into over under not no yes".split()
)


class LLMError(RuntimeError):
    """The LLM API failed; the stream reports it in an ``error`` event."""


def tokens(text: str) -> list[str]:
    """Split into word tokens that keep their trailing whitespace, so joining them restores the text."""
    return _TOKEN.findall(text)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def _stem(word: str) -> str:
    # Crude but language-agnostic: "deploys", "deployed", "deploying" all meet at "deplo".
    return word[:5]


def extractive_answer(question: str, hits: Sequence[Document], max_sentences: int = 3, max_words: int = 90) -> str:
    """The best-matching sentences of the hits, in source order, each cited as [n] (n = 1-based hit)."""
    if not hits:
        return NO_DOCUMENTS
    q_stems = {_stem(t) for t in _terms(question)}
    candidates: list[tuple[int, int, str, set[str]]] = []  # (hit rank, position, sentence, stems)
    for rank, hit in enumerate(hits):
        for pos, sentence in enumerate(s.strip() for s in _SENTENCE.split(hit.text)):
            if sentence:
                candidates.append((rank, pos, sentence, {_stem(t) for t in _terms(sentence)}))
    # Rarer question words are worth more (idf over the candidate sentences).
    df = {s: sum(1 for c in candidates if s in c[3]) for s in q_stems}
    n = len(candidates)

    def score(c: tuple[int, int, str, set[str]]) -> float:
        overlap = sum(math.log(1 + n / df[s]) for s in q_stems & c[3] if df[s])
        return overlap + 0.3 / (1 + c[0]) + 0.1 / (1 + c[1])  # ties go to better hits, earlier sentences

    ranked = sorted(candidates, key=score, reverse=True)
    chosen: list[tuple[int, int, str, set[str]]] = []
    words = 0
    for c in ranked:
        if chosen and (len(chosen) >= max_sentences or score(c) < 1.0):
            break  # after the best sentence, keep only ones that actually share a question word
        length = len(c[2].split())
        if chosen and words + length > max_words:
            continue
        chosen.append(c)
        words += length
    chosen.sort(key=lambda c: (c[0], c[1]))
    # One citation after each run of sentences from the same source.
    parts: list[str] = []
    for i, c in enumerate(chosen):
        parts.append(_clip(c[2], max_words))
        if i + 1 == len(chosen) or chosen[i + 1][0] != c[0]:
            parts[-1] += f" [{c[0] + 1}]"
    return " ".join(parts)


def _clip(sentence: str, max_words: int) -> str:
    parts = sentence.split()
    return sentence if len(parts) <= max_words else " ".join(parts[:max_words]) + " …"


# --- OpenAI Chat Completions, streamed ------------------------------------------------

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources provided. Cite sources like [1]. "
    "If the sources do not contain the answer, say so briefly."
)


def chat_messages(question: str, hits: Sequence[Document]) -> list[dict[str, str]]:
    sources = "\n\n".join(f"[{i}] {h.text}" for i, h in enumerate(hits, 1)) or "(no sources found)"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {question}"},
    ]


async def openai_tokens(
    client: httpx.AsyncClient,
    *,
    base_url: str,
    api_key: str,
    model: str,
    question: str,
    hits: Sequence[Document],
    max_tokens: int | None = None,
    usage: dict[str, Any] | None = None,
) -> AsyncIterator[str]:
    """Yield the content deltas of a streamed chat completion.

    POST {base_url}/chat/completions with ``stream: true``; the body is an SSE stream whose
    ``data:`` payloads are chat.completion.chunk objects, terminated by ``data: [DONE]``.
    If ``usage`` is given it receives the token counts from the final chunk.
    """
    payload: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(question, hits),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if max_tokens:
        payload["max_completion_tokens"] = max_tokens
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    try:
        async with client.stream("POST", f"{base_url}/chat/completions", json=payload, headers=headers) as r:
            if r.status_code != 200:
                body = await r.aread()
                raise LLMError(f"OpenAI returned {r.status_code}: {api_error_message(body)}")
            async for data in sse_data(r.aiter_lines()):
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError as e:
                    raise LLMError(f"OpenAI sent a malformed chunk: {data[:200]!r}") from e
                if chunk.get("error"):
                    raise LLMError(f"OpenAI stream error: {api_error_message(json.dumps(chunk).encode())}")
                if usage is not None and chunk.get("usage"):
                    usage.update(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        yield content
    except httpx.HTTPError as e:
        raise LLMError(f"OpenAI request failed: {type(e).__name__}: {e}") from e
    raise LLMError("OpenAI stream ended without [DONE]")


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each SSE event (multi-line data joined by newlines); comments and other fields skipped."""
    buf: list[str] = []
    async for line in lines:
        if line == "":
            if buf:
                yield "\n".join(buf)
                buf = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            buf.append(value[1:] if value.startswith(" ") else value)
    if buf:
        yield "\n".join(buf)


# --- the whole answer as events -------------------------------------------------------


def source_entry(n: int, hit: Document, snippet_chars: int = 240) -> dict[str, Any]:
    text = hit.text if len(hit.text) <= snippet_chars else hit.text[:snippet_chars].rstrip() + "…"
    return {"n": n, "id": hit.id, "distance": hit.distance, "metadata": hit.metadata, "snippet": text}


async def answer_events(
    question: str,
    hits: Sequence[Document],
    *,
    openai: dict[str, Any] | None,
    client: httpx.AsyncClient | None,
    token_delay: float = 0.0,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, payload) pairs: ``token``..., then ``sources``, then ``done``.

    ``openai`` holds base_url/api_key/model/max_tokens when the OpenAI path is configured.
    """
    import asyncio

    count = 0
    done: dict[str, Any] = {"mode": "extractive"}
    if openai and client is not None:
        usage: dict[str, Any] = {}
        async for text in openai_tokens(client, question=question, hits=hits, usage=usage, **openai):
            count += 1
            yield "token", {"text": text}
        done = {"mode": "openai", "model": openai["model"]}
        if usage:
            done["usage"] = usage
    else:
        for text in tokens(extractive_answer(question, hits)):
            if token_delay and count:
                await asyncio.sleep(token_delay)
            count += 1
            yield "token", {"text": text}
    yield "sources", {"sources": [source_entry(n, h) for n, h in enumerate(hits, 1)]}
    yield "done", {**done, "tokens": count}
