"""The small pieces on their own: settings, embeddings, answers, the change log, the store guard."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from app.answer import NO_DOCUMENTS, extractive_answer, sse_data, tokens
from app.embeddings import HashEmbeddings, hash_embed
from app.events import Broker
from app.runs import parse_run_id
from app.settings import Settings, SettingsError
from app.store import Document, Store, StoreConfigError, StoreUnavailable
from app_testkit import APP_DIR, clean_env


# --- settings ---------------------------------------------------------------------------


def test_no_settings_at_all_means_offline_embedded_defaults():
    s = Settings.from_env({})
    assert s.chroma_mode == "embedded" and s.chroma_path == "./chroma_data"
    assert s.embeddings == "hash" and not s.answers_with_openai
    assert s.sse_heartbeat == 15 and s.api_key is None


def test_settings_report_every_problem_with_its_variable():
    with pytest.raises(SettingsError) as e:
        Settings.from_env({"SSE_HEARTBEAT": "soon", "PORT": "70000", "EMBEDDINGS": "openai", "CHROMA_PORT": "9000"})
    msg = str(e.value)
    for needle in ("SSE_HEARTBEAT='soon'", "PORT='70000'", "EMBEDDINGS=openai needs OPENAI_API_KEY", "CHROMA_HOST"):
        assert needle in msg


def test_chroma_default_embedding_function_is_refused_with_the_reason():
    with pytest.raises(SettingsError, match="downloads a model"):
        Settings.from_env({"EMBEDDINGS": "default"})


def test_settings_accept_units_and_treat_empty_as_unset():
    s = Settings.from_env({"SSE_HEARTBEAT": "15s", "API_KEY": "", "CHROMA_HOST": "chroma", "CHROMA_PORT": "8001"})
    assert s.sse_heartbeat == 15 and s.api_key is None
    assert s.chroma_mode == "server" and s.chroma_port == 8001
    assert "s3" not in repr(Settings.from_env({"API_KEY": "s3"}))  # secrets stay out of logs


def test_a_chroma_server_behind_tls_is_reached_over_https():
    # What a platform that reaches the store by URL (targets.cloudrun.store_urls) sets for https.
    s = Settings.from_env({"CHROMA_HOST": "chroma.example.com", "CHROMA_PORT": "443", "CHROMA_SSL": "true"})
    assert s.chroma_ssl and s.chroma_port == 443
    assert not Settings.from_env({"CHROMA_HOST": "chroma"}).chroma_ssl
    with pytest.raises(SettingsError, match="CHROMA_SSL='maybe'"):
        Settings.from_env({"CHROMA_HOST": "chroma", "CHROMA_SSL": "maybe"})


def test_minilm_without_baked_model_fails_fast_and_says_how_to_fix(tmp_path):
    from app.main import create_app

    settings = Settings.from_env({"EMBEDDINGS": "minilm", "MINILM_DIR": str(tmp_path / "none")})
    with pytest.raises(SystemExit, match="app.warmup"):
        create_app(settings)


# --- warmup -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "hash", "openai"])
def test_warmup_is_a_no_op_without_minilm(tmp_path, mode):
    env = clean_env(tmp_path, **({"EMBEDDINGS": mode} if mode else {}))
    code = "import sys, app.warmup as w; rc = w.main(); print('chromadb' in sys.modules); sys.exit(rc)"
    r = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "no model to pre-load" in r.stdout
    assert r.stdout.strip().endswith("False")  # did not even import chromadb


# --- embeddings -----------------------------------------------------------------------------


def test_hash_embeddings_are_deterministic_unit_vectors():
    a = np.array(hash_embed("Deploy FastAPI to Kubernetes", 512))
    b = np.array(hash_embed("Deploy FastAPI to Kubernetes", 512))
    assert np.array_equal(a, b) and abs(np.linalg.norm(a) - 1) < 1e-6
    assert abs(np.linalg.norm(hash_embed("!!!", 512)) - 1) < 1e-6  # no words: still a valid vector


def test_hash_embeddings_rank_related_text_closer():
    q = np.array(hash_embed("deploying a streaming service to kubernetes", 512))
    near = np.array(hash_embed("How to deploy a streaming service on Kubernetes", 512))
    far = np.array(hash_embed("A recipe for banana bread with walnuts", 512))
    assert q @ near > q @ far + 0.3


def test_hash_embedding_function_speaks_chromas_protocol():
    ef = HashEmbeddings()
    assert HashEmbeddings.name() == "streamdeploy-hash" and not ef.is_legacy()
    assert HashEmbeddings.build_from_config(ef.get_config()).dim == 512
    out = ef(["one", "two"])
    assert len(out) == 2 and len(out[0]) == 512


# --- answers ---------------------------------------------------------------------------------


def hit(i: str, text: str, d: float = 0.5) -> Document:
    return Document(id=i, text=text, metadata={}, distance=d)


def test_extractive_answer_picks_matching_sentences_and_cites_them():
    hits = [
        hit("a", "Railway caps a request at fifteen minutes. It closes a request after five idle minutes. Pricing starts at five dollars."),
        hit("b", "Heartbeats every fifteen seconds keep idle streams open behind proxies."),
    ]
    answer = extractive_answer("when does railway close idle requests", hits)
    assert "closes a request after five idle minutes" in answer
    assert "Pricing" not in answer
    assert answer.count("[1]") == 1  # one citation per run of sentences from the same source
    assert "".join(tokens(answer)) == answer


def test_extractive_answer_without_hits():
    assert extractive_answer("anything", []) == NO_DOCUMENTS


def test_extractive_answer_only_uses_stored_words():
    hits = [hit("a", "Volumes pin a Fly app to one region."), hit("b", "Disks on Render mean one instance.")]
    answer = extractive_answer("what about render disks", hits)
    words = {w.strip(".[]") for w in answer.split()} - {"1", "2"}
    corpus = {w.strip(".") for h in hits for w in h.text.split()}
    assert words <= corpus


async def _collect(lines):
    async def gen():
        for line in lines:
            yield line

    return [d async for d in sse_data(gen())]


def test_sse_data_reader_handles_comments_multiline_and_no_space():
    import asyncio

    lines = [": keep-alive", "", "data: {\"a\":", "data: 1}", "", "event: x", "data:[DONE]", ""]
    assert asyncio.run(_collect(lines)) == ['{"a":\n1}', "[DONE]"]


# --- change log and answer ids -------------------------------------------------------------------


def test_broker_ids_resume_and_gaps():
    b = Broker(buffer=3, boot="b0")
    assert b.parse_id("b0-0") == 0 and b.since(0) == []
    for i in range(5):
        b.publish("added", {"id": str(i)})
    assert [c.seq for c in b.since(2)] == [3, 4, 5]
    assert b.since(1) is None  # seq 2 already left the 3-entry log: the client must reset
    assert b.parse_id("other-3") is None  # an id from another boot (a restart)
    assert b.parse_id("b0-99") is None and b.parse_id("garbage") is None


def test_run_ids():
    assert parse_run_id("abc.7") == ("abc", 7)
    assert parse_run_id("abc") == ("abc", -1)
    assert parse_run_id("abc.x") is None and parse_run_id("") is None


# --- store guards -----------------------------------------------------------------------------------


def test_embedded_directory_is_single_writer(tmp_path):
    settings = Settings.from_env({"CHROMA_DB_PATH": str(tmp_path / "db")})
    first = Store(settings, HashEmbeddings())
    first.open()
    try:
        second = Store(settings, HashEmbeddings())
        with pytest.raises(StoreUnavailable, match="in use by another process"):
            second.open()
    finally:
        first.close()
    second.open()  # free again once the first one closed
    second.close()


def test_switching_embeddings_on_an_existing_collection_is_refused(tmp_path):
    settings = Settings.from_env({"CHROMA_DB_PATH": str(tmp_path / "db")})
    store = Store(settings, HashEmbeddings())
    store.open()
    store.close()
    other = Store(settings, HashEmbeddings(dim=256))
    with pytest.raises(StoreConfigError, match="cannot be compared"):
        other.open()
    other.close()


def test_a_collection_made_by_another_embedding_function_is_refused(tmp_path):
    from app.embeddings import OpenAIEmbeddings

    settings = Settings.from_env({"CHROMA_DB_PATH": str(tmp_path / "db")})
    store = Store(settings, OpenAIEmbeddings("unused", "text-embedding-3-small", "http://127.0.0.1:9"))
    store.open()  # creating the collection never calls the embedding API
    store.close()
    other = Store(settings, HashEmbeddings())
    with pytest.raises(StoreConfigError, match="streamdeploy-openai"):
        other.open()
    other.close()


@pytest.mark.skipif(
    not __import__("os").environ.get("APP_TEST_MINILM_DIR"),
    reason="set APP_TEST_MINILM_DIR to a folder holding onnx/model.onnx + tokenizer.json of all-MiniLM-L6-v2",
)
def test_minilm_mode_with_a_baked_model(tmp_path):
    """The EMBEDDINGS=minilm path against a real model folder (what app.warmup leaves in the image)."""
    import os

    from fastapi.testclient import TestClient

    from app.main import create_app

    env = {"EMBEDDINGS": "minilm", "MINILM_DIR": os.environ["APP_TEST_MINILM_DIR"], "CHROMA_DB_PATH": str(tmp_path / "db")}
    with TestClient(create_app(Settings.from_env(env))) as c:
        assert c.get("/health").json()["embedding_space"] == "minilm:all-MiniLM-L6-v2"
        docs = [{"id": "k8s", "text": "Shipping a Python web API onto a k8s cluster"},
                {"id": "cat", "text": "My cat sleeps all day"}]
        assert c.post("/documents", json={"documents": docs}).status_code == 201
        hits = c.get("/search", params={"q": "deploy FastAPI to Kubernetes", "k": 2}).json()["hits"]
        assert hits[0]["id"] == "k8s"  # semantic: no word in common with the question


def test_an_answer_that_fails_midway_ends_with_an_error_event():
    import asyncio

    from app.runs import RunRegistry

    async def events():
        yield "token", {"text": "partial "}
        raise RuntimeError("OpenAI returned 500: upstream broke")

    async def go():
        runs = RunRegistry()
        run = runs.start(("q", 4), events())
        while not run.finished:
            await run.wait(len(run.events))
        await runs.aclose()
        return run.events

    assert [(name, data) for name, data in asyncio.run(go())] == [
        ("token", '{"text":"partial "}'),
        ("error", '{"message":"OpenAI returned 500: upstream broke"}'),
    ]
