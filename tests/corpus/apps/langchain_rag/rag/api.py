import json

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from rag.auth import require_key
from rag.llm import chat_model
from rag.vectorstore import store

api = FastAPI()


class ChatRequest(BaseModel):
    question: str
    k: int = 4


@api.get("/health")
def health():
    return {"ok": True}


@api.post("/chat/stream")
async def chat_stream(request: ChatRequest, _: None = Depends(require_key)):
    docs = store.similarity_search(request.question, k=request.k)
    context = "\n".join(d.page_content for d in docs)

    async def tokens():
        async for chunk in chat_model().astream(f"{context}\n\nQ: {request.question}"):
            yield f"data: {json.dumps({'token': chunk.content})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(tokens(), media_type="text/event-stream")
