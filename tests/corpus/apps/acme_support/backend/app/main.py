import asyncio
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from app.db import conn, vectors

app = FastAPI(title="acme support")


class Ticket(BaseModel):
    id: str
    subject: str


@app.get("/health")
def health():
    return {"ok": True}


@app.post("/tickets", status_code=201)
def open_ticket(ticket: Ticket):
    conn.execute("INSERT OR REPLACE INTO tickets VALUES (?, ?)", (ticket.id, ticket.subject))
    conn.commit()
    vectors.upsert(ids=[ticket.id], documents=[ticket.subject])
    return {"id": ticket.id}


@app.get("/tickets/updates")
async def updates():
    async def quiet():
        while True:
            await asyncio.sleep(600)
            yield {"data": "noop"}

    return EventSourceResponse(quiet(), ping=int(os.getenv("SSE_PING", "15")))


@app.get("/tickets/{ticket_id}")
def ticket(ticket_id: str):
    row = conn.execute("SELECT id, subject FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        raise HTTPException(404)
    return {"id": row[0], "subject": row[1]}
