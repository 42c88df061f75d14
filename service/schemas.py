"""Request and response shapes of the HTTP API (INTERFACES.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from classifier.records import EMAIL_PATTERN, ID_PATTERN, FeedbackRecord, iso_date

IsoDate = Annotated[date, BeforeValidator(iso_date)]


# --- errors: every status a route can answer is in the OpenAPI schema, with its body ---------------
class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong, in words")


class ProblemOut(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ProblemsOut(BaseModel):
    detail: list[ProblemOut]


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
_ERRORS: dict[int, dict[str, Any]] = {
    400: {"model": ProblemsOut, "description": "The body is not valid UTF-8 JSON."},
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorOut, "description": "The key's role (or seller) may not do this."},
    404: {"model": ErrorOut, "description": "No such thing, or it belongs to another seller."},
    409: {"model": ErrorOut, "description": "The strike request was already decided."},
    413: {"model": ErrorOut, "description": "The body or the batch is larger than the limit."},
    429: {"model": ErrorOut, "description": "The abuse guard refuses more strike requests for now.",
          "headers": _RETRY_AFTER},
    503: {"model": ErrorOut, "description": "The database cannot be reached; retry after Retry-After seconds.",
          "headers": _RETRY_AFTER},
}


# Ids and offsets beyond a database INTEGER answer 422 (they used to reach the driver and answer 500).
MAX_DB_INT = 2**31 - 1
SellerId = Annotated[str, Field(min_length=1, max_length=100, pattern=ID_PATTERN)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses."""
    return {code: _ERRORS[code] for code in codes}


class SpanOut(BaseModel):
    start: int
    end: int
    text: str
    label: str
    confidence: float


class ReasonOut(BaseModel):
    code: str
    message: str


class VerdictOut(BaseModel):
    feedback_id: str | None
    verdict: Literal["strike", "keep", "needs_review"]
    reasons: list[ReasonOut]
    language: str
    spans: list[SpanOut]
    note: str | None
    model_version: str


class BatchIn(BaseModel):
    items: list[FeedbackRecord] = Field(min_length=1)


class BatchOut(BaseModel):
    items: list[VerdictOut]


# --- Feedback Manager ----------------------------------------------------------------------
class StoredFeedbackRecord(FeedbackRecord):
    """A record the Feedback Manager stores: the ids, the buyer's e-mail and the date are required."""

    feedback_id: str = Field(min_length=1, max_length=200, examples=["fb-0001"],
                             json_schema_extra={"pattern": ID_PATTERN})
    order_id: str = Field(min_length=1, max_length=100, examples=["203-1234567-1234567"],
                          json_schema_extra={"pattern": ID_PATTERN})
    seller_id: str = Field(min_length=1, max_length=100, examples=["S1"], json_schema_extra={"pattern": ID_PATTERN})
    buyer_email: str = Field(max_length=320, examples=["x@example.com"],
                             json_schema_extra={"pattern": EMAIL_PATTERN})
    feedback_date: IsoDate


class FeedbackImport(BaseModel):
    items: list[StoredFeedbackRecord] = Field(min_length=1)


class ImportResult(BaseModel):
    created: int
    duplicates: list[str]


class FeedbackOut(BaseModel):
    feedback_id: str
    seller_id: str
    order_id: str
    rating: int
    comment: str
    fulfillment_channel: str
    shipped_via_mcf: bool
    buyer_email: str
    feedback_date: date
    struck: bool
    note: str | None


class FeedbackPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FeedbackOut]


class WindowFigures(BaseModel):
    counts: dict[str, int]
    shares: dict[str, float]
    total: int
    struck: int


class SellerMetrics(BaseModel):
    seller_id: str
    as_of: date
    windows: dict[str, WindowFigures]


# --- strike requests -------------------------------------------------------------------------
class StrikeRequestIn(BaseModel):
    feedback_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)


class SpanCorrection(BaseModel):
    span: int = Field(ge=0, description="index of the span in the request's spans, from 0")
    label: Literal["amazon_delivery", "amazon_service", "product_condition", "seller_service", "other"]


class DecisionIn(BaseModel):
    decision: Literal["strike", "keep"]
    span_labels: list[SpanCorrection] = Field(default_factory=list, max_length=200)
    comment: str | None = Field(default=None, max_length=2000)


class StrikeRequestOut(BaseModel):
    id: int
    feedback_id: str
    seller_id: str
    created_at: datetime
    status: Literal["pending", "decided"]
    suggested_verdict: str
    reasons: list[ReasonOut]
    spans: list[SpanOut]
    language: str
    model_version: str
    decision: str | None
    decided_at: datetime | None
    feedback: FeedbackOut | None = None


class QueuePage(BaseModel):
    total: int
    items: list[StrikeRequestOut]


# --- admin ---------------------------------------------------------------------------------------
class GuardLimitsOut(BaseModel):
    window_seconds: int
    max_requests: int
    max_ineligible_share: float
    min_requests: int


class SellerStanding(BaseModel):
    seller_id: str
    window_seconds: int
    requests: int
    plainly_ineligible: int
    ineligible_share: float
    limited: bool
    reason: str | None
    retry_after: int | None


class AbuseGuardOut(BaseModel):
    limits: GuardLimitsOut
    sellers: list[SellerStanding]


class AuditEventOut(BaseModel):
    id: int
    request_id: int | None
    actor: str
    action: str
    at: datetime
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]


class ReadyOut(BaseModel):
    status: str = Field(description="ready, loading or database unavailable")
    model_version: str | None = None
