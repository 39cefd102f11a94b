from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from app.store import docs

router = APIRouter(prefix="/documents", tags=["documents"])


class Document(BaseModel):
    id: str
    text: str
    source: str | None = None


@router.post("", status_code=201)
def add(document: Document):
    docs.upsert(ids=[document.id], documents=[document.text])
    return {"id": document.id}


@router.get("/{doc_id}")
def read(doc_id: str):
    found = docs.get(ids=[doc_id])
    if not found["ids"]:
        raise HTTPException(404)
    return {"id": doc_id, "text": found["documents"][0]}
