import json
import os
from pathlib import Path

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

ITEMS_DIR = Path(os.getenv("ITEMS_DIR", "items"))
router = APIRouter(prefix="/items")


class Item(BaseModel):
    id: str
    name: str


@router.post("", status_code=201)
def save(item: Item):
    ITEMS_DIR.mkdir(parents=True, exist_ok=True)
    (ITEMS_DIR / f"{item.id}.json").write_text(item.model_dump_json())
    return {"id": item.id}


@router.get("/{item_id}")
def load(item_id: str):
    path = ITEMS_DIR / f"{item_id}.json"
    if not path.is_file():
        raise HTTPException(404)
    return json.loads(path.read_text())
