import os

import chromadb

CHROMA_DB_PATH = os.environ.get("CHROMA_DB_PATH", "chroma")


def collection():
    client = chromadb.PersistentClient(path=CHROMA_DB_PATH)
    return client.get_or_create_collection("jobs", embedding_function=None)
