import asyncio

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from app.config import settings

router = APIRouter()


@router.get("/stream")
async def stream():
    async def ticks():
        n = 0
        while True:
            n += 1
            yield {"data": str(n)}
            await asyncio.sleep(60)

    return EventSourceResponse(ticks(), ping=settings.sse_ping)
