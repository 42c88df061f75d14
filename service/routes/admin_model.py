"""Which model this process serves, and switching it without a restart (admin keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, roles
from service.model_holder import ModelHolder, ReloadRefused
from service.schemas import errors

router = APIRouter(prefix="/v1/admin/model", tags=["admin"], responses=errors(401, 403, 503))
Admin = Annotated[Principal, roles("admin")]


def _state(holder: ModelHolder) -> dict[str, Any]:
    model = holder.model
    return {"model_version": model.version if model is not None else None, "source": holder.source(),
            "watching_pointer": holder.watching, "poll_seconds": holder.poll_seconds if holder.watching else None,
            "last_error": holder.last_error}


@router.get("")
def model_state(_admin: Admin, request: Request) -> dict[str, Any]:
    """The version this process serves, where it comes from, and the last refused reload (if any)."""
    return _state(request.app.state.model_holder)


@router.post("/reload", responses={409: {"description": "the registry names no loadable version"},
                                   422: {"description": "the artifact was refused (checksum, load, smoke test)"}})
async def reload_model(_admin: Admin, request: Request) -> JSONResponse:
    """Serve the version the registry's CURRENT names now (this process; others follow by polling).

    Requests in flight finish on the model they started with.  A broken, truncated or tampered
    artifact is refused with the reason, and the old model keeps serving."""
    holder: ModelHolder = request.app.state.model_holder
    try:
        result = await run_in_threadpool(holder.reload)
    except ReloadRefused as exc:
        serving = holder.model.version if holder.model is not None else None
        return JSONResponse({"detail": str(exc), "model_version": serving}, status_code=exc.status)
    return JSONResponse({**_state(holder), "previous": result.previous, "changed": result.changed})
