import os

from fastapi import FastAPI

from common import collection

app = FastAPI()
jobs = collection()
OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]


@app.get("/health")
def health():
    return {"jobs": jobs.count()}


@app.post("/jobs")
def enqueue(text: str):
    jobs.add(ids=[str(jobs.count())], documents=[text], embeddings=[[0.0]])
    return {"queued": True}
