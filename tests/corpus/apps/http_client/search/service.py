import asyncio
import os

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from search.config import config


class Vowels(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return [[float(t.count(v)) + 0.5 for v in "aeiou"] for t in input]

    @staticmethod
    def name() -> str:
        return "vowels"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "Vowels":
        return Vowels()


client = chromadb.HttpClient(host=config.host, port=config.port)
pages = client.get_or_create_collection("pages", embedding_function=Vowels())
app = FastAPI()


class Page(BaseModel):
    id: str
    text: str


@app.get("/health")
def health():
    client.heartbeat()
    return {"ok": True}


@app.post("/pages", status_code=201)
def add(page: Page):
    pages.upsert(ids=[page.id], documents=[page.text])
    return {"id": page.id}


@app.get("/pages/{page_id}")
def get(page_id: str):
    found = pages.get(ids=[page_id])
    if not found["ids"]:
        raise HTTPException(404)
    return {"id": page_id, "text": found["documents"][0]}


@app.get("/sse")
async def sse():
    async def nothing():
        while True:
            await asyncio.sleep(600)
            yield {"data": "x"}

    return EventSourceResponse(nothing(), ping=int(os.getenv("SSE_PING", "15")))
