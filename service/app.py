"""The FastAPI application: settings -> lifespan loads the model -> routers."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from classifier.artifact import load_model
from service.auth import hash_key
from service.config import Settings
from service.routes import health, verdicts

log = logging.getLogger("feedback_strike.service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = settings.key_set()
        if not keys:
            key = secrets.token_urlsafe(24)
            keys = frozenset({key})
            # Printed once to the console that started the server, never to the logs.
            print(f"feedback-strike: no FEEDBACK_STRIKE_API_KEYS set; API key for this run: {key}",
                  file=sys.stderr, flush=True)
        app.state.key_hashes = tuple(hash_key(k) for k in keys)
        app.state.model = load_model(settings.model_dir)
        log.info("model %s loaded", app.state.model.version)
        yield

    app = FastAPI(title="feedback-strike", version="0.1.0", lifespan=lifespan,
                  description="Suggests whether negative feedback on marketplace-fulfilled orders should be struck.")
    app.state.settings = settings

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    app.include_router(health.router)
    app.include_router(verdicts.router)
    return app
