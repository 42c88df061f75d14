"""API-key authentication: every route but health and readiness needs a key."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def require_key(
    request: Request,
    header_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's key hash, or 401.  Keys are kept only as SHA-256 hashes."""
    key = header_key or (bearer.credentials if bearer else None)
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required (X-API-Key header or Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})
    digest = hash_key(key)
    if not any(hmac.compare_digest(digest, h) for h in request.app.state.key_hashes):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return digest


KeyDep = Annotated[str, Depends(require_key)]
