from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status

from classifier.pipeline import FeedbackModel
from classifier.records import FeedbackRecord
from service.auth import AnyRole
from service.schemas import BatchIn, BatchOut, VerdictOut, errors

router = APIRouter(prefix="/v1", tags=["verdicts"], responses=errors(400, 401, 413, 503))

EXAMPLE = {"feedback_id": "fb-0001", "rating": 1, "fulfillment_channel": "AFN", "shipped_via_mcf": False,
           "comment": "Paketet kom två veckor för sent, men skärmen var repad."}


def get_model(request: Request) -> FeedbackModel:
    return request.app.state.model  # type: ignore[no-any-return]


ModelDep = Annotated[FeedbackModel, Depends(get_model)]


@router.post("/verdicts", response_model=VerdictOut)
def suggest_verdict(record: Annotated[FeedbackRecord, Body(examples=[EXAMPLE])], model: ModelDep,
                          _who: AnyRole, request: Request) -> dict[str, Any]:
    """One record in, one suggested verdict out (stateless: nothing is stored)."""
    verdict = model.suggest(record)
    request.app.state.metrics.observe_verdicts([verdict])
    return verdict.to_dict()


@router.post("/verdicts/batch", response_model=BatchOut)
def suggest_verdicts(batch: Annotated[BatchIn, Body(examples=[{"items": [EXAMPLE]}])], model: ModelDep,
                     _who: AnyRole, request: Request) -> dict[str, Any]:
    """Many records in, their verdicts out in the same order."""
    limit = request.app.state.settings.max_batch_items
    if len(batch.items) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"batch has {len(batch.items)} items; the limit is {limit}")
    verdicts = model.suggest_many(batch.items)
    request.app.state.metrics.observe_verdicts(verdicts)
    return {"items": [v.to_dict() for v in verdicts]}
