from fastapi import FastAPI

from app.config import settings
from app.routers import documents_router, stream_router

app = FastAPI()
app.include_router(documents_router, prefix=settings.api_prefix)
app.include_router(stream_router, prefix=settings.api_prefix)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
