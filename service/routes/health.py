from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.auth import Principal, roles
from service.db import DatabaseUnavailable
from service.schemas import ReadyOut, errors

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=True, response_class=Response,
            responses={200: {"content": {"text/plain": {}}}, **errors(401, 403, 503)})
def metrics(request: Request, _admin: Annotated[Principal, roles("admin")]) -> Response:
    """Prometheus text format: requests and latency per route, verdicts and span labels, model version."""
    return request.app.state.metrics.render()  # type: ignore[no-any-return]


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "Loading, or the database cannot be reached.",
                             "headers": {"Retry-After": {"schema": {"type": "integer"}}}}})
def readyz(request: Request) -> JSONResponse:
    """The model is loaded and the database answers."""
    model = getattr(request.app.state, "model", None)
    if model is None:
        return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": "1"})
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
    except (SQLAlchemyError, DatabaseUnavailable):
        return JSONResponse({"status": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", "model_version": model.version})
