import asyncio
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from notes_api.storage import open_notes


class NoteIn(BaseModel):
    key: str
    body: str


def create_app() -> FastAPI:
    app = FastAPI()
    notes = open_notes()
    ping = int(os.getenv("SSE_PING", "15"))

    @app.get("/livez")
    def livez():
        return {"live": True}

    @app.put("/notes", status_code=200)
    def put(note: NoteIn):
        notes.upsert(ids=[note.key], documents=[note.body])
        return {"key": note.key}

    @app.get("/notes/feed")
    async def feed():
        async def idle():
            while True:
                await asyncio.sleep(3600)
                yield {"data": "tick"}

        return EventSourceResponse(idle(), ping=ping)

    @app.get("/notes/{key}")
    def get(key: str):
        found = notes.get(ids=[key])
        if not found["ids"]:
            raise HTTPException(404)
        return {"key": key, "body": found["documents"][0]}

    return app
