import os

from fastapi import FastAPI

from service import api

app = FastAPI()
app.include_router(api.items, prefix="/v1")
app.include_router(api.items, prefix="/legacy")  # old clients, until they move
app.include_router(api.events, prefix=os.environ.get("EVENTS_PREFIX", ""))


@app.get("/health")
def health():
    return {"ok": True}
