"""Feedback Manager: import, list, and the seller's metrics (struck ratings excluded)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError

from classifier.records import FeedbackRecord
from service import crud
from service.auth import AnyRole, Principal, SellerOrAdmin
from service.db import transaction
from service.schemas import (
    MAX_DB_INT,
    FeedbackImport,
    FeedbackOut,
    FeedbackPage,
    ImportResult,
    IsoDate,
    SellerId,
    SellerMetrics,
    StoredFeedbackRecord,
    errors,
)
from service.tables import Feedback

router = APIRouter(prefix="/v1", tags=["feedback manager"], responses=errors(401, 503))

EXAMPLE = {"feedback_id": "fb-0001", "rating": 1, "comment": "Paketet kom två veckor för sent.",
           "fulfillment_channel": "AFN", "order_id": "203-1234567-1234567", "seller_id": "S1",
           "buyer_email": "x@example.com", "feedback_date": "2026-11-20"}


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def feedback_out(row: Feedback, principal: Principal) -> dict[str, Any]:
    out = FeedbackOut.model_validate(row, from_attributes=True).model_dump()
    if not principal.sees_buyer_email:
        out["buyer_email"] = mask_email(row.buyer_email)
    return out


@router.post("/feedback", response_model=ImportResult, status_code=200, responses=errors(400, 403, 413))
def import_feedback(body: Annotated[FeedbackImport | StoredFeedbackRecord, Body(examples=[{"items": [EXAMPLE]}])],
                    principal: SellerOrAdmin, request: Request) -> dict[str, Any]:
    """Import one record or ``{"items": [...]}``.  Idempotent on feedback_id; all or nothing."""
    records: list[FeedbackRecord] = list(body.items) if isinstance(body, FeedbackImport) else [body]
    if principal.seller_id is not None:
        for i, rec in enumerate(records):
            if rec.seller_id != principal.seller_id:
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    f"items.{i}.seller_id: a seller key can import only its own records")
    with transaction(request.app.state.sessions) as session:
        return crud.import_feedback(session=session, records=records, seller_id=principal.seller_id)


@router.get("/feedback", response_model=FeedbackPage)
def list_feedback(principal: AnyRole, request: Request,
                  seller_id: Annotated[SellerId | None, Query()] = None,
                  date_from: IsoDate | None = None, date_to: IsoDate | None = None,
                  rating: Annotated[int | None, Query(ge=1, le=5)] = None, struck: bool | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0) -> dict[str, Any]:
    """A seller's records, newest first.  Seller keys see only their own; reviewers see masked e-mails."""
    if principal.role == "seller":
        seller_id = principal.seller_id
    filt = crud.FeedbackFilter(seller_id, date_from, date_to, rating, struck)
    with request.app.state.sessions() as session:
        total, rows = crud.list_feedback(session=session, filt=filt, limit=limit, offset=offset)
        return {"total": total, "limit": limit, "offset": offset,
                "items": [feedback_out(r, principal) for r in rows]}


@router.get("/sellers/{seller_id}/metrics", response_model=SellerMetrics, responses=errors(404))
def seller_metrics(seller_id: Annotated[SellerId, Path()], principal: AnyRole, request: Request,
                   as_of: IsoDate | None = None) -> dict[str, Any]:
    """30, 90 and 365 days and lifetime: counts and shares of positive / neutral / negative, struck left out."""
    if principal.role == "seller" and principal.seller_id != seller_id:
        raise crud.NotFound(f"no seller {seller_id!r}")
    day = as_of or datetime.now(UTC).date()
    if not date(1900, 1, 1) <= day <= date(9999, 12, 31) - timedelta(days=1):  # windows reach 365 days back
        raise RequestValidationError([{"loc": ("query", "as_of"), "type": "value_error",
                                       "msg": "as_of must be a date between 1900-01-01 and 9999-12-30"}])
    with request.app.state.sessions() as session:
        return {"seller_id": seller_id, "as_of": day,
                "windows": crud.seller_metrics(session=session, seller_id=seller_id, as_of=day)}
