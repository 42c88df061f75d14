"""The FastAPI application: settings -> lifespan (database, migrations, model) -> routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.artifact import ModelIntegrityError
from service import crud, observability
from service.auth import DATABASE_UNAVAILABLE, hash_key
from service.config import Settings
from service.db import (
    BOOTSTRAP_LOCK,
    Breaker,
    GuardedSessions,
    make_engine,
    migrate,
    session_factory,
    take_turns,
    transaction,
)
from service.limits import BodyLimit
from service.model_holder import ModelHolder, ReloadRefused
from service.routes import admin_model, docs, feedback, health, review, strike_requests, verdicts

log = logging.getLogger("feedback_strike.service")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The model first: a refused artifact stops the start before anything touches the database.
        holder = app.state.model_holder = ModelHolder(app, settings)
        try:
            holder.load_initial()  # checksums and the smoke test; answering the canned records warms the caches
        except ReloadRefused as exc:
            log.error("refusing to start: the model was refused: %s", exc)
            raise ModelIntegrityError(str(exc)) from None
        engine = make_engine(settings.database_url)
        migrate(engine)
        breaker = Breaker(cooldown=settings.database_retry_after_seconds)
        breaker.watch(engine)
        app.state.sessions = GuardedSessions(session_factory(engine), breaker)
        app.state.bootstrap_key_hashes = tuple(hash_key(k) for k in settings.key_set())
        if not settings.key_set():
            with transaction(app.state.sessions) as session:
                take_turns(session, BOOTSTRAP_LOCK)  # replicas starting together create one key, not one each
                if crud.count_keys(session=session) == 0:
                    _, key = crud.create_key(session=session, role="admin", name="first-admin")
                    # Printed once to the console that started the server, never to the logs.
                    print(f"feedback-strike: created the first admin API key (store it now): {key}",
                          file=sys.stderr, flush=True)
        watcher = asyncio.create_task(holder.watch()) if holder.watching else None
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        engine.dispose()

    app = FastAPI(title="feedback-strike", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Suggests whether negative feedback on marketplace-fulfilled orders should be struck.")
    app.state.settings = settings
    # Around the whole stack, not a user middleware: the 500 of an unhandled error and the body limit's 413
    # carry the request id and are counted too (see observability.install).
    app.state.metrics = observability.install(app)

    def openapi_with_limits() -> dict[str, Any]:
        """The schema states this deployment's batch limit, so a client (or schemathesis) can keep to it."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema["components"]["schemas"]["BatchIn"]["properties"]["items"]["maxItems"] = settings.max_batch_items
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi_with_limits  # type: ignore[method-assign]

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(crud.NotFound)
    async def not_found(_: Request, exc: crud.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(crud.AlreadyDecided)
    async def conflict(_: Request, exc: crud.AlreadyDecided) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_: Request, exc: RequestValidationError) -> JSONResponse:
        """Name the field and the problem, never echo the input (it may hold an e-mail or invalid Unicode)."""
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return JSONResponse({"detail": [{"loc": ["body"], "msg": "the body is not valid UTF-8 JSON",
                                             "type": "body_invalid"}]}, status_code=400)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(crud.RateLimited)
    async def rate_limited(_: Request, exc: crud.RateLimited) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """A database outage is a 503 to retry, not a 500: routes that need no database keep answering."""
        cause = type(getattr(exc, "orig", None) or exc).__name__  # never the message: it may quote values
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.warning("database unavailable", extra={"fields": {"route": route, "error": cause}})
        retry = str(settings.database_retry_after_seconds)
        return JSONResponse({"detail": "the database is unavailable; retry shortly"}, status_code=503,
                            headers={"Retry-After": retry})

    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(crud.Invalid)
    async def invalid(_: Request, exc: crud.Invalid) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body", *exc.field.split(".")], "msg": str(exc),
                                         "type": "value_error"}]}, status_code=422)

    for module in (health, docs, verdicts, feedback, strike_requests, admin_model):
        app.include_router(module.router)
    review.install(app)
    app.mount("/review/static", StaticFiles(directory=str(STATIC)), name="review-static")
    # Swagger UI's own files, shipped in a package: the docs page needs no CDN.
    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")
    return app


def serve_app() -> FastAPI:
    """The factory ``feedback-strike serve`` runs in every worker process.

    Workers are spawned processes, so the JSON log configuration is set up here, in each of them
    (set up only in the parent, the workers' access and model-switch logs would be lost)."""
    observability.configure_logging()
    return create_app()
