"""Tickets in SQLite, their text searchable in Chroma."""

import os
import sqlite3
from pathlib import Path

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

DB_PATH = os.environ.get("DB_PATH", "data/tickets.db")
VECTOR_PATH = os.environ.get("CHROMA_PERSIST_DIR", "data/vectors")


class Letters(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return [[float(t.lower().count(c)) for c in "etaoinshrd"] for t in input]

    @staticmethod
    def name() -> str:
        return "letters"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "Letters":
        return Letters()


def connect() -> sqlite3.Connection:
    Path(DB_PATH).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(DB_PATH, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS tickets (id TEXT PRIMARY KEY, subject TEXT)")
    return conn


conn = connect()
vectors = chromadb.PersistentClient(path=VECTOR_PATH).get_or_create_collection("tickets",
                                                                                 embedding_function=Letters())
