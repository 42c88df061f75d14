"""Strike requests from sellers, the reviewers' queue and decisions, and the corrections export."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from classifier.records import parse_record
from service import crud
from service.auth import AnyRole, Principal, ReviewerOrAdmin, SellerOrAdmin, roles
from service.db import transaction
from service.routes.feedback import feedback_out
from service.schemas import (
    MAX_DB_INT,
    AbuseGuardOut,
    AuditPage,
    DecisionIn,
    QueuePage,
    StrikeRequestIn,
    StrikeRequestOut,
    errors,
)
from service.tables import Feedback, StrikeRequest

router = APIRouter(prefix="/v1", tags=["strike requests"], responses=errors(401, 503))
RequestId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT)]


def request_out(req: StrikeRequest, fb: Feedback | None, principal: Principal) -> dict[str, Any]:
    out = {c: getattr(req, c) for c in ("id", "feedback_id", "seller_id", "created_at", "status",
                                        "suggested_verdict", "reasons", "spans", "language", "model_version",
                                        "decision", "decided_at")}
    out["feedback"] = feedback_out(fb, principal) if fb is not None else None
    return out


@router.post("/strike-requests", response_model=StrikeRequestOut, status_code=status.HTTP_201_CREATED,
             responses=errors(400, 403, 404, 413, 429))
def create_strike_request(body: StrikeRequestIn, principal: SellerOrAdmin, request: Request) -> dict[str, Any]:
    """Ask for a strike; the service stores the suggested verdict with its spans, reasons and model version."""
    model = request.app.state.model
    with transaction(request.app.state.sessions) as session:
        fb = crud.get_feedback(session=session, feedback_id=body.feedback_id, seller_id=principal.seller_id)
        crud.guard(session=session, seller_id=fb.seller_id, limits=request.app.state.settings.guard_limits())
        suggestion = model.suggest(parse_record({
            "feedback_id": fb.feedback_id, "rating": fb.rating, "comment": fb.comment,
            "fulfillment_channel": fb.fulfillment_channel, "shipped_via_mcf": fb.shipped_via_mcf}))
        req = crud.create_strike_request(session=session, feedback=fb, suggestion=suggestion, actor=principal.name)
        return request_out(req, fb, principal)


@router.get("/strike-requests/{request_id}", response_model=StrikeRequestOut, responses=errors(404))
def get_strike_request(request_id: RequestId, principal: AnyRole, request: Request) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        req = crud.get_strike_request(session=session, request_id=request_id, seller_id=principal.seller_id)
        return request_out(req, session.get(Feedback, req.feedback_id), principal)


@router.get("/review-queue", response_model=QueuePage, responses=errors(403))
def review_queue(principal: ReviewerOrAdmin, request: Request,
                 language: Literal["sv", "en", "mixed"] | None = None,
                 suggested_verdict: Literal["strike", "keep", "needs_review"] | None = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Offset = 0) -> dict[str, Any]:
    """Pending requests, oldest first (buyer e-mail addresses masked for reviewers)."""
    with request.app.state.sessions() as session:
        total, rows = crud.review_queue(session=session, language=language, suggested_verdict=suggested_verdict,
                                        limit=limit, offset=offset)
        return {"total": total, "items": [request_out(r, f, principal) for r, f in rows]}


@router.post("/strike-requests/{request_id}/decision", response_model=StrikeRequestOut,
             responses=errors(400, 403, 404, 409, 413))
def decide(request_id: RequestId, body: DecisionIn, principal: ReviewerOrAdmin, request: Request) -> dict[str, Any]:
    """Strike or keep, once.  A strike marks the feedback struck and attaches the note; the comment stays."""
    with transaction(request.app.state.sessions) as session:
        req = crud.decide_strike_request(session=session, request_id=request_id, decision=body.decision,
                                         actor=principal.name, comment=body.comment,
                                         corrections=[c.model_dump() for c in body.span_labels])
        return request_out(req, session.get(Feedback, req.feedback_id), principal)


@router.get("/admin/abuse-guard", response_model=AbuseGuardOut, responses=errors(403))
def abuse_guard(principal: Annotated[Principal, roles("admin")], request: Request) -> dict[str, Any]:
    """The guard's limits and every seller's standing in the current window."""
    limits = request.app.state.settings.guard_limits()
    with request.app.state.sessions() as session:
        return {"limits": limits.__dict__, "sellers": crud.all_standings(session=session, limits=limits)}


@router.get("/admin/audit", response_model=AuditPage, responses=errors(403))
def audit(principal: Annotated[Principal, roles("admin")], request: Request,
          request_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0) -> dict[str, Any]:
    """The audit trail: who requested and decided what, when, against which suggestion and model version."""
    with request.app.state.sessions() as session:
        return {"items": crud.audit_events(session=session, request_id=request_id, limit=limit, offset=offset)}


@router.get("/corrections/export", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}, **errors(403)})
def export_corrections(principal: ReviewerOrAdmin, request: Request) -> Response:
    """Decided requests as corpus lines (INTERFACES.md) with reviewers' corrections, one JSON per line."""
    with request.app.state.sessions() as session:
        lines = crud.corrected_corpus_lines(session=session)
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return Response(body, media_type="application/x-ndjson")
