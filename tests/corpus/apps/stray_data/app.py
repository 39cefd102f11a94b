"""Keeps its data at a path fixed in the code: with no volume env to follow, it writes into the source tree."""

import chromadb
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

client = chromadb.PersistentClient(path="./chroma_store")
facts = client.get_or_create_collection("facts", embedding_function=None)
app = FastAPI()


class Fact(BaseModel):
    id: str
    text: str


@app.get("/health")
def health():
    return {"ok": True}


@app.post("/facts", status_code=201)
def add(fact: Fact):
    facts.upsert(ids=[fact.id], documents=[fact.text], embeddings=[[1.0, 0.0]])
    return {"id": fact.id}


@app.get("/facts/{fact_id}")
def get(fact_id: str):
    found = facts.get(ids=[fact_id])
    if not found["ids"]:
        raise HTTPException(404)
    return {"id": fact_id, "text": found["documents"][0]}
