import shutil
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, UploadFile

from app.core import settings
from app.database import engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.cache = redis.Redis.from_url(settings.redis_url)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    yield
    engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthcheck")
def healthcheck():
    return {"ok": True}


@app.post("/files")
async def upload(file: UploadFile):
    target = settings.upload_dir / file.filename
    with open(target, "wb") as out:
        shutil.copyfileobj(file.file, out)
    return {"name": file.filename}
