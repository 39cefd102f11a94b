"""Notes search in one file: FastAPI, embedded Chroma, a live event stream."""

import asyncio
import hashlib
import os

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

CHROMA_DB_PATH = os.getenv("CHROMA_DB_PATH", "./chroma_db")
PING = int(os.getenv("SSE_PING", "15"))


class Hashed(EmbeddingFunction[Documents]):
    """Offline embeddings: a word-hash bag, good enough to find a note again."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        out = []
        for text in input:
            vec = [0.0] * 64
            for word in text.lower().split():
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
            out.append(vec)
        return out

    @staticmethod
    def name() -> str:
        return "hashed"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "Hashed":
        return Hashed()


client = chromadb.PersistentClient(path=CHROMA_DB_PATH)
notes = client.get_or_create_collection("notes", embedding_function=Hashed())
app = FastAPI(title="notes")


class Note(BaseModel):
    id: str
    text: str


@app.get("/health")
def health():
    return {"ok": True, "notes": notes.count()}


@app.post("/notes", status_code=201)
def add(note: Note):
    notes.upsert(ids=[note.id], documents=[note.text])
    return {"id": note.id}


@app.get("/notes/{note_id}")
def get(note_id: str):
    found = notes.get(ids=[note_id])
    if not found["ids"]:
        raise HTTPException(404, "no such note")
    return {"id": note_id, "text": found["documents"][0]}


@app.get("/events")
async def events():
    async def counts():
        while True:
            yield {"event": "count", "data": str(notes.count())}
            await asyncio.sleep(30)

    return EventSourceResponse(counts(), ping=PING)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run("main:app", port=8080)
