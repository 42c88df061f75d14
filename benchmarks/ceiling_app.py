"""The HTTP ceiling: the service's own app and server set-up, with two routes that answer a constant.

    python benchmarks/ceiling_app.py --port 8001 --workers 2

``make_app`` is ``service.app.serve_app`` (the factory ``feedback-strike serve`` runs in each worker:
JSON logging, settings from the environment, the lifespan that loads the model and opens the
database, every middleware) plus

Both are ``async def`` routes without a worker thread, like ``/v1/verdicts`` (the batch route's one
thread hop for the model is counted as our work):

- ``POST /bench/constant/verdicts``: the body parsed and validated as a ``FeedbackRecord`` (the same
  parameter type as ``/v1/verdicts``), the same API-key dependency (``AnyRole``: the key looked up as
  on every route), a constant verdict answered through the same ``response_model``;
- ``POST /bench/constant/verdicts/batch``: the same for ``BatchIn``, one constant verdict per item.

So ``/v1/verdicts`` divided by its constant twin is the cost of the model and of the route's own work
(metrics of verdicts), with the server, middleware, authentication and (de)serialization held equal.
``main`` starts uvicorn with the arguments ``classifier.cli.cmd_serve`` uses (keep them in step).
"""

from __future__ import annotations

import argparse
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI

from classifier.records import FeedbackRecord
from service.app import serve_app
from service.auth import AnyRole
from service.routes import verdicts
from service.schemas import BatchIn, BatchOut, VerdictOut

CONSTANT: dict[str, Any] = {
    "feedback_id": "fb-0001", "verdict": "keep",
    "reasons": [{"code": "blocking_span", "message": "span 2 is about product_condition"}],
    "language": "sv",
    "spans": [{"start": 0, "end": 31, "text": "Paketet kom två veckor för sent", "label": "amazon_delivery",
               "confidence": 0.97},
              {"start": 37, "end": 54, "text": "skärmen var repad", "label": "product_condition",
               "confidence": 0.95}],
    "note": None, "model_version": "constant"}


def make_app() -> FastAPI:
    app = serve_app()

    twins = APIRouter(prefix="/bench/constant", include_in_schema=False)

    @twins.post("/verdicts", response_model=VerdictOut)
    async def constant_verdict(record: Annotated[FeedbackRecord, Body()], _who: AnyRole) -> dict[str, Any]:
        return {**CONSTANT, "feedback_id": record.feedback_id}

    @twins.post("/verdicts/batch", response_model=BatchOut)
    async def constant_verdicts(batch: Annotated[BatchIn, Body()], _who: AnyRole) -> dict[str, Any]:
        return {"items": [{**CONSTANT, "feedback_id": r.feedback_id} for r in batch.items]}

    # Routes are matched in order: the twins go just before the router of /v1/verdicts, so that matching
    # a request costs them what it costs the real routes.
    app.include_router(twins)
    routes = app.router.routes
    mine = routes.pop()
    at = next((i for i, r in enumerate(routes) if getattr(r, "original_router", None) is verdicts.router), 0)
    routes.insert(at, mine)
    return app


def main() -> None:
    import uvicorn

    from service.observability import configure_logging

    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    configure_logging()
    uvicorn.run("benchmarks.ceiling_app:make_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, loop="uvloop", http="httptools", log_level="info", access_log=False,
                timeout_worker_healthcheck=30)


if __name__ == "__main__":
    main()
