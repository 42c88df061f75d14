from __future__ import annotations

from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Depends, HTTPException, Request, status

from classifier.pipeline import FeedbackModel
from classifier.records import FeedbackRecord
from service.auth import AnyRole
from service.schemas import BatchIn, BatchOut, VerdictOut, errors

router = APIRouter(prefix="/v1", tags=["verdicts"], responses=errors(400, 401, 413, 503))

EXAMPLE = {"feedback_id": "fb-0001", "rating": 1, "fulfillment_channel": "AFN", "shipped_via_mcf": False,
           "comment": "Paketet kom två veckor för sent, men skärmen var repad."}


async def get_model(request: Request) -> FeedbackModel:  # async: reading an attribute needs no worker thread
    return request.app.state.model  # type: ignore[no-any-return]


ModelDep = Annotated[FeedbackModel, Depends(get_model)]


def model_threads(request: Request) -> anyio.CapacityLimiter:
    """One model call in a worker thread at a time, per process.  The GIL runs them one at a time anyway;
    anyio's 40 threads only let 40 batches hold their intermediate arrays at once (peak RSS per worker
    345 -> 510-540 MiB under 32-128 concurrent 50-record batches) and finish all of them late instead of
    each in turn.  Created on first use, in the event loop that serves the app."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "model_threads", None)
    if limiter is None:
        limiter = state.model_threads = anyio.CapacityLimiter(MODEL_THREADS)
    return limiter


MODEL_THREADS = 1

# A comment up to this long is answered on the event loop: typically under 1.5 ms of model time here
# (p99 of the corpus is ~390 characters), less than the two worker-thread hops (the route and FastAPI's
# response validation, each a GIL hand-over) it saves; a cold 500-character comment full of new words
# can take 4-5 ms, and the one request that renews spaCy's pipeline (every 20,000 new words) 20-70 ms.
# Longer ones (up to 5,000 characters: tens of ms) go to a worker thread so that they do not hold up
# every other request of this worker.
INLINE_MAX_CHARS = 500


@router.post("/verdicts", response_model=VerdictOut)
async def suggest_verdict(record: Annotated[FeedbackRecord, Body(examples=[EXAMPLE])], model: ModelDep,
                          _who: AnyRole, request: Request) -> dict[str, Any]:
    """One record in, one suggested verdict out (stateless: nothing is stored)."""
    if len(record.comment) <= INLINE_MAX_CHARS:
        verdict = model.suggest(record)
    else:
        verdict = await anyio.to_thread.run_sync(model.suggest, record, limiter=model_threads(request))
    request.app.state.metrics.observe_verdicts([verdict])
    return verdict.to_dict()


@router.post("/verdicts/batch", response_model=BatchOut)
async def suggest_verdicts(batch: Annotated[BatchIn, Body(examples=[{"items": [EXAMPLE]}])], model: ModelDep,
                           _who: AnyRole, request: Request) -> dict[str, Any]:
    """Many records in, their verdicts out in the same order."""
    limit = request.app.state.settings.max_batch_items
    if len(batch.items) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"batch has {len(batch.items)} items; the limit is {limit}")
    # The model's work in a worker thread (a batch takes milliseconds to seconds); an async route
    # spares the second hop FastAPI makes to validate a sync route's answer.
    verdicts = await anyio.to_thread.run_sync(model.suggest_many, batch.items, limiter=model_threads(request))
    request.app.state.metrics.observe_verdicts(verdicts)
    return {"items": [v.to_dict() for v in verdicts]}
