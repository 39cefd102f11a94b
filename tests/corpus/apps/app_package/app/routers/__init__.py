from .documents import router as documents_router
from .stream import router as stream_router

__all__ = ["documents_router", "stream_router"]
