"""The HTTP API in-process (Starlette's TestClient) against real Chroma in a temp dir."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

DOCS = [
    {"id": "fly", "text": "Fly.io machines mount one volume each. A volume pins the app to one region.", "metadata": {"platform": "fly"}},
    {"id": "railway", "text": "Railway closes an HTTP request after five minutes without bytes. Heartbeats keep SSE streams alive."},
    {"id": "render", "text": "Render disks allow a single instance and no zero-downtime deploys.", "metadata": {"platform": "render", "tier": 2}},
]


def make_client(tmp_path, **env: str) -> TestClient:
    settings = Settings.from_env({"CHROMA_DB_PATH": str(tmp_path / "chroma"), **env})
    return TestClient(create_app(settings))


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path, MAX_BATCH="10", MAX_TEXT_CHARS="5000", MAX_BODY_BYTES="65536") as c:
        yield c


def test_health_reports_embedded_chroma_and_modes(client, tmp_path):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["chroma"] == "embedded"
    assert body["path"] == str((tmp_path / "chroma").resolve())
    assert body["embeddings"] == "hash"
    assert body["answers"] == "extractive"
    assert body["documents"] == 0


def test_verify_flow_write_then_read_back(client):
    """Exactly what `streamdeploy verify` does after a deploy."""
    marker = "sd-verify-1a2b3c"
    r = client.post("/documents", json={"documents": [{"id": marker, "text": f"streamdeploy marker {marker}"}]})
    assert r.status_code == 201, r.text
    assert r.json() == {"ids": [marker]}
    r = client.get(f"/documents/{marker}")
    assert r.status_code == 200
    assert marker in r.text
    assert r.json() == {"id": marker, "text": f"streamdeploy marker {marker}", "metadata": {}}


def test_add_get_search_delete(client):
    r = client.post("/documents", json={"documents": DOCS + [{"text": "no id given, one is generated"}]})
    assert r.status_code == 201
    ids = r.json()["ids"]
    assert ids[:3] == ["fly", "railway", "render"] and len(ids[3]) == 32
    assert client.get("/documents/render").json()["metadata"] == {"platform": "render", "tier": 2}

    r = client.get("/search", params={"q": "which platform closes idle SSE streams after minutes", "k": 2})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert [h["id"] for h in hits][0] == "railway"
    assert len(hits) == 2 and all(isinstance(h["distance"], float) for h in hits)
    assert hits[0]["distance"] <= hits[1]["distance"]

    assert client.get("/documents", params={"limit": 2}).json()["total"] == 4
    assert client.delete("/documents/railway").status_code == 204
    assert client.get("/documents/railway").status_code == 404
    assert client.delete("/documents/railway").status_code == 404
    assert client.get("/health").json()["documents"] == 3


def test_ids_are_unique(client):
    assert client.post("/documents", json={"documents": DOCS[:1]}).status_code == 201
    r = client.post("/documents", json={"documents": DOCS[:2]})
    assert r.status_code == 409 and "fly" in r.json()["detail"]
    assert client.get("/documents/railway").status_code == 404  # the batch was rejected as a whole
    r = client.post("/documents", json={"documents": [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]})
    assert r.status_code == 422 and "duplicate" in r.text


@pytest.mark.parametrize(
    "body",
    [
        {"documents": [{"text": ""}]},
        {"documents": [{"text": "   \n\t "}]},
        {"documents": [{"text": 42}]},
        {"documents": []},
        {"documents": [{"text": "ok", "id": "has space"}]},
        {"documents": [{"text": "ok", "id": "a/b"}]},
        {"documents": [{"text": "ok", "metadata": {"k": {"nested": 1}}}]},
        {"documents": [{"text": "ok", "metadata": {"#reserved": 1}}]},
        {"documents": [{"text": "ok", "unknown": 1}]},
        {"docs": [{"text": "wrong key"}]},
        [],
    ],
)
def test_bad_documents_are_422(client, body):
    r = client.post("/documents", json=body)
    assert r.status_code == 422, r.text


def test_malformed_json_is_422(client):
    r = client.post("/documents", content=b'{"documents": [{"text": "unterminated', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_size_limits_are_413(client):
    huge = "x" * 70_000  # over MAX_BODY_BYTES=65536
    r = client.post("/documents", json={"documents": [{"text": huge}]})
    assert r.status_code == 413
    # Without Content-Length (chunked upload) the limit still holds.
    def chunks():
        yield b'{"documents": [{"text": "'
        for _ in range(20):
            yield b"y" * 5000
        yield b'"}]}'
    r = client.post("/documents", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/documents", json={"documents": [{"text": "z" * 5001}]})  # over MAX_TEXT_CHARS
    assert r.status_code == 413 and "MAX_TEXT_CHARS" in r.text
    r = client.post("/documents", json={"documents": [{"text": f"doc {i}"} for i in range(11)]})  # over MAX_BATCH
    assert r.status_code == 413 and "MAX_BATCH" in r.text
    assert client.get("/health").json()["documents"] == 0


@pytest.mark.parametrize("params", [{"q": "x", "k": 0}, {"q": "x", "k": 51}, {"q": "x", "k": "abc"}, {"q": ""}, {"q": "   "}, {}])
def test_bad_search_params_are_422(client, params):
    assert client.get("/search", params=params).status_code == 422


@pytest.mark.parametrize("params", [{"q": "x", "k": 0}, {"q": "x", "k": 21}, {"q": ""}])
def test_bad_stream_params_are_422(client, params):
    assert client.get("/stream", params=params).status_code == 422


def test_unknown_id_is_404(client):
    assert client.get("/documents/nope").status_code == 404
    assert client.delete("/documents/nope").status_code == 404


def test_search_on_empty_store(client):
    r = client.get("/search", params={"q": "anything"})
    assert r.status_code == 200 and r.json()["hits"] == []


def test_api_key_guards_writes_only(tmp_path):
    with make_client(tmp_path, API_KEY="s3cret") as c:
        doc = {"documents": [{"id": "a", "text": "guarded"}]}
        assert c.post("/documents", json=doc).status_code == 401
        r = c.post("/documents", json=doc, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/documents", json=doc, headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert c.post("/documents", json=doc, headers={"Authorization": "Bearer s3cret"}).status_code == 201
        assert c.get("/documents/a").status_code == 200  # reads stay open
        assert c.get("/search", params={"q": "guarded"}).status_code == 200
        assert c.delete("/documents/a").status_code == 401
        assert c.delete("/documents/a", headers={"Authorization": "Bearer s3cret"}).status_code == 204


def test_cors_allows_configured_origin(tmp_path):
    with make_client(tmp_path, CORS_ORIGINS="https://ui.example.com, http://localhost:3000") as c:
        r = c.options(
            "/documents",
            headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://ui.example.com"
        r = c.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_health_is_503_when_data_dir_is_gone(client, tmp_path):
    assert client.get("/health").status_code == 200
    shutil.rmtree(tmp_path / "chroma")  # e.g. the volume got unmounted
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert "not writable" in r.json()["reason"]


def test_health_is_503_when_chroma_server_unreachable(tmp_path):
    from app_testkit import free_port

    port = free_port()  # nothing listens there
    with make_client(tmp_path, CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port)) as c:
        r = c.get("/health")
        assert r.status_code == 503
        body = r.json()
        assert body["chroma"] == "server" and body["host"] == "127.0.0.1" and body["port"] == port
        assert "unreachable" in body["reason"]
        assert c.get("/documents/x").status_code == 503
