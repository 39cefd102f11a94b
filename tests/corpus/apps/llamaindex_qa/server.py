import os

import chromadb
from fastapi import FastAPI
from llama_index.core import VectorStoreIndex
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.vector_stores.chroma import ChromaVectorStore
from sse_starlette.sse import EventSourceResponse

INDEX_DIR = os.getenv("INDEX_DIR", "./storage/chroma")
GROQ_API_KEY = os.getenv("GROQ_API_KEY")

app = FastAPI()
db = chromadb.PersistentClient(path=INDEX_DIR)
collection = db.get_or_create_collection("kb", embedding_function=None)
vector_store = ChromaVectorStore(chroma_collection=collection)
index = VectorStoreIndex.from_vector_store(vector_store, embed_model=HuggingFaceEmbedding(model_name="BAAI/bge-small-en-v1.5"))


@app.get("/ping")
def ping():
    return "pong"


@app.get("/query/stream")
async def query(q: str):
    engine = index.as_query_engine(streaming=True)

    async def answer():
        for token in engine.query(q).response_gen:
            yield {"data": token}

    return EventSourceResponse(answer())
