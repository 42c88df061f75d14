"""API-key authentication with roles: every route but health and readiness needs a key.

Keys are stored only as SHA-256 hashes (database table ``api_keys``; ``FEEDBACK_STRIKE_API_KEYS``
adds bootstrap admin keys held in memory).  A missing or unknown key answers 401, a known key
with the wrong role 403.

A key this process verified against the database within the last ``auth_cache_seconds`` (default
5 s) is accepted without asking the database again: the lookup was the largest per-request cost of a
suggestion after the model itself (a session, a query and a thread hop on every request).  Unknown
keys are never cached, so a new key works at once and a wrong one is always refused.

Revocation: revoking a key in this process (``crud.revoke_key``, which the service's own code and
the tests call) forgets it at once.  A revocation made elsewhere -- ``feedback-strike keys revoke``
from a shell, or another replica or worker process -- reaches this process only through the
database, so a revoked key can keep working here for at most ``auth_cache_seconds``.  Set it to 0
for a lookup on every request.

While the database cannot be reached, a key this process verified within the last
``auth_outage_grace_seconds`` still authenticates, so routes that need no database (suggestions)
keep working through an outage; the routes that need the database answer 503 anyway.  A revocation
made elsewhere reaches this fallback only through the database, so it is bounded by the grace period.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool

from service.db import DatabaseUnavailable

# Errors that mean "the database cannot be reached right now" (answered 503 with Retry-After).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError,
                                                     PoolTimeout, DatabaseUnavailable)

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


class _VerifiedKeys:
    """Keys verified against the database, kept only to ride out a database outage (bounded, thread-safe)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        # How often each key was forgotten (revoked): a lookup that began before a revocation must not
        # put the key back, so it remembers only if this count did not move while it ran.
        self._forgotten: dict[str, int] = {}
        self._lock = threading.Lock()

    def generation(self, key_hash: str) -> int:
        with self._lock:
            return self._forgotten.get(key_hash, 0)

    def remember(self, key_hash: str, principal: Principal, generation: int | None = None) -> None:
        """Keep a verified key; ``generation`` (from :meth:`generation` before the lookup): only if the
        key was not forgotten since."""
        with self._lock:
            if generation is not None and self._forgotten.get(key_hash, 0) != generation:
                return
            self._entries[key_hash] = (principal, time.monotonic())
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)
            self._forgotten[key_hash] = self._forgotten.get(key_hash, 0) + 1

    def recent(self, key_hash: str, max_age: float) -> Principal | None:
        with self._lock:
            hit = self._entries.get(key_hash)
        if hit is None or time.monotonic() - hit[1] >= max_age:
            return None
        return hit[0]


verified_keys = _VerifiedKeys()


def forget_key(key_hash: str) -> None:
    """Called when a key is revoked (before and again after the revocation commits): this process stops
    accepting it at once, database or not, and a lookup that read the key before the commit cannot put
    it back."""
    verified_keys.forget(key_hash)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def require_principal(request: Request, header_key: str | None,
                      bearer: HTTPAuthorizationCredentials | None) -> Principal:
    """Who holds the key (401 if nobody); for routes that read the key themselves (the review page's
    cookie, the docs' query parameter).  Blocking: it may ask the database."""
    key = header_key or (bearer.credentials if bearer else None)
    principal = _known(request, key)
    return principal if principal is not None else _look_up(request, hash_key(key or ""))


async def principal_dependency(
    request: Request,
    header_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The API routes' dependency: answered on the event loop when the key is a bootstrap key or was
    verified within ``auth_cache_seconds``; only a lookup in the database goes to a worker thread."""
    key = header_key or (bearer.credentials if bearer else None)
    principal = _known(request, key)
    if principal is not None:
        return principal
    digest = hash_key(key or "")
    # One lookup per key at a time: when a busy key's cache entry expires, every request in flight misses
    # at once; without this each took a worker thread for the same query, and under a loaded event loop
    # those threads waited on the GIL for seconds (p99 5.6 s at concurrency 128 in bench_http).
    pending: dict[str, asyncio.Future[Principal]] = _pending_lookups(request)
    lookup = pending.get(digest)
    if lookup is None:
        lookup = pending[digest] = asyncio.ensure_future(run_in_threadpool(_look_up, request, digest))
        lookup.add_done_callback(lambda done: _finished(pending, digest, done))
    return await asyncio.shield(lookup)  # a waiter that gives up does not cancel the others' lookup


def _pending_lookups(request: Request) -> dict[str, asyncio.Future[Principal]]:
    state = request.app.state
    pending: dict[str, asyncio.Future[Principal]] | None = getattr(state, "pending_key_lookups", None)
    if pending is None:
        pending = state.pending_key_lookups = {}
    return pending


def _finished(pending: dict[str, asyncio.Future[Principal]], digest: str, done: asyncio.Future[Principal]) -> None:
    pending.pop(digest, None)
    if not done.cancelled():
        done.exception()  # retrieved here, so that no "exception never retrieved" is logged if every waiter left


def _known(request: Request, key: str | None) -> Principal | None:
    """A bootstrap key, or one verified recently enough; None when the database must be asked."""
    if not key:
        raise _unauthorized("an API key is required (X-API-Key header or Bearer)")
    digest = hash_key(key)
    if any(hmac.compare_digest(digest, h) for h in request.app.state.bootstrap_key_hashes):
        return Principal(name="bootstrap-admin", role="admin")
    return verified_keys.recent(digest, request.app.state.settings.auth_cache_seconds)


def _look_up(request: Request, digest: str) -> Principal:
    from service import crud

    generation = verified_keys.generation(digest)  # a revocation while we look must win
    try:
        with request.app.state.sessions() as session:
            row = crud.find_key(session=session, key_hash=digest)
    except DATABASE_UNAVAILABLE:
        known = verified_keys.recent(digest, request.app.state.settings.auth_outage_grace_seconds)
        if known is None:
            raise
        return known
    if row is None:
        verified_keys.forget(digest)
        raise _unauthorized("unknown or revoked API key")
    principal = Principal(name=f"key-{row.id}:{row.name}", role=row.role, seller_id=row.seller_id)
    verified_keys.remember(digest, principal, generation)
    return principal


PrincipalDep = Annotated[Principal, Depends(principal_dependency)]


def roles(*allowed: str):  # type: ignore[no-untyped-def]
    """A dependency that admits only ``allowed`` roles (403 for the others)."""

    async def check(principal: PrincipalDep) -> Principal:  # async: no thread hop for a comparison
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this route is for {' or '.join(allowed)} keys, not {principal.role}")
        return principal

    return Depends(check)


AnyRole = Annotated[Principal, roles("seller", "reviewer", "admin")]
SellerOrAdmin = Annotated[Principal, roles("seller", "admin")]
ReviewerOrAdmin = Annotated[Principal, roles("reviewer", "admin")]
