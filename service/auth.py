"""API-key authentication with roles: every route but health and readiness needs a key.

Keys are stored only as SHA-256 hashes (database table ``api_keys``; ``FEEDBACK_STRIKE_API_KEYS``
adds bootstrap admin keys held in memory).  A missing or unknown key answers 401, a known key
with the wrong role 403.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``seller`` keys are bound to one seller_id."""

    name: str
    role: str
    seller_id: str | None = None

    @property
    def sees_buyer_email(self) -> bool:
        return self.role in ("seller", "admin")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def require_principal(
    request: Request,
    header_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    key = header_key or (bearer.credentials if bearer else None)
    if not key:
        raise _unauthorized("an API key is required (X-API-Key header or Bearer)")
    digest = hash_key(key)
    if any(hmac.compare_digest(digest, h) for h in request.app.state.bootstrap_key_hashes):
        return Principal(name="bootstrap-admin", role="admin")
    from service import crud

    with request.app.state.sessions() as session:
        row = crud.find_key(session=session, key_hash=digest)
    if row is None:
        raise _unauthorized("unknown or revoked API key")
    return Principal(name=f"key-{row.id}:{row.name}", role=row.role, seller_id=row.seller_id)


PrincipalDep = Annotated[Principal, Depends(require_principal)]


def roles(*allowed: str):  # type: ignore[no-untyped-def]
    """A dependency that admits only ``allowed`` roles (403 for the others)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this route is for {' or '.join(allowed)} keys, not {principal.role}")
        return principal

    return Depends(check)


AnyRole = Annotated[Principal, roles("seller", "reviewer", "admin")]
SellerOrAdmin = Annotated[Principal, roles("seller", "admin")]
ReviewerOrAdmin = Annotated[Principal, roles("reviewer", "admin")]
