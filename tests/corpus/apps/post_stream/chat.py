"""A chat endpoint that streams its answer (plain StreamingResponse, no sse-starlette)."""

import asyncio
import json
import os

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

APP_TOKEN = os.environ["APP_TOKEN"]
MEMORY_DIR = os.getenv("MEMORY_DIR", "./memory")


class Words(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return [[float(len(t.split())), 1.0, float(len(t) % 7)] for t in input]

    @staticmethod
    def name() -> str:
        return "words"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "Words":
        return Words()


memory = chromadb.PersistentClient(path=MEMORY_DIR).get_or_create_collection("turns", embedding_function=Words())
bearer = HTTPBearer()
app = FastAPI()


def check_token(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> None:
    if credentials.credentials != APP_TOKEN:
        raise HTTPException(401, "bad token")


class ChatRequest(BaseModel):
    message: str
    history: list[str] = []


@app.get("/health")
def health():
    return {"ok": True}


@app.post("/chat/stream")
async def chat_stream(request: ChatRequest, _: None = Depends(check_token)):
    memory.add(ids=[str(memory.count() + 1)], documents=[request.message])

    async def answer():
        for word in f"you said: {request.message}".split():
            yield f"data: {json.dumps({'token': word})}\n\n"
            await asyncio.sleep(0.05)
        yield "event: done\ndata: {}\n\n"

    return StreamingResponse(answer(), media_type="text/event-stream")
