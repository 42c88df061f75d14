"""Request and response shapes of the HTTP API (INTERFACES.md)."""

from __future__ import annotations

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
