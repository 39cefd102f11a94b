from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.settings import settings

bearer = HTTPBearer()


def require_key(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> None:
    if credentials.credentials != settings.service_api_key:
        raise HTTPException(401, "bad key")
