import asyncio
import os

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

router = APIRouter()


@router.get("/events")
async def events():
    async def forever():
        while True:
            await asyncio.sleep(600)
            yield {"data": "."}

    return EventSourceResponse(forever(), ping=int(os.getenv("SSE_PING", "15")))
