"""Request and response shapes of the HTTP API (INTERFACES.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from classifier.records import FeedbackRecord


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
class FeedbackImport(BaseModel):
    items: list[FeedbackRecord] = Field(min_length=1)


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
    feedback_id: str = Field(min_length=1, max_length=200)


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
