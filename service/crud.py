"""Storage functions: keyword-only, one unit of work each, no HTTP.  Domain errors are named exceptions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, case, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from classifier.decision import BLOCKING_LABELS, LABELS, OrderFacts, gold_verdict, note_for
from classifier.records import FeedbackRecord, SuggestedVerdict
from service.auth import forget_key, hash_key
from service.tables import ApiKey, AuditEvent, Feedback, StrikeRequest

ROLES = ("seller", "reviewer", "admin")
WINDOWS = {"30d": 30, "90d": 90, "365d": 365, "lifetime": None}


class NotFound(LookupError):
    """The thing does not exist, or the caller may not know that it does."""


class AlreadyDecided(RuntimeError):
    """A strike request accepts one decision only."""


class RateLimited(RuntimeError):
    """The abuse guard refuses the request; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Invalid(ValueError):
    """The request is well-formed but cannot be applied; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def now() -> datetime:
    return datetime.now(UTC)


# --- API keys -----------------------------------------------------------------------
def create_key(*, session: Session, role: str, name: str, seller_id: str | None = None) -> tuple[ApiKey, str]:
    """A new key (returned once, in clear) and its stored, hashed row."""
    if role not in ROLES:
        raise Invalid("role", f"role must be one of {', '.join(ROLES)}")
    if (role == "seller") != (seller_id is not None):
        raise Invalid("seller_id", "a seller key needs a seller_id; other roles take none")
    key = "fs_" + secrets.token_urlsafe(24)
    row = ApiKey(name=name, role=role, seller_id=seller_id, key_hash=hash_key(key), created_at=now())
    session.add(row)
    session.flush()
    return row, key


def revoke_key(*, session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = now()
    key_hash = row.key_hash
    forget_key(key_hash)  # now, and once more when the revocation is committed: a lookup that read the key
    event.listen(session, "after_commit", lambda _session: forget_key(key_hash), once=True)  # as valid meanwhile
    return row


def list_keys(*, session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def find_key(*, session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))


def count_keys(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ApiKey)) or 0)


# --- feedback -------------------------------------------------------------------------
STORED_FIELDS = ("feedback_id", "seller_id", "order_id", "buyer_email", "feedback_date")


def import_feedback(*, session: Session, records: list[FeedbackRecord], seller_id: str | None) -> dict[str, Any]:
    """Insert new records; existing ids are reported as duplicates and left untouched.

    All or nothing: the caller's transaction commits only if every record is acceptable.
    ``seller_id`` binds a seller key to its own records.
    """
    for i, rec in enumerate(records):
        for f in STORED_FIELDS:
            if getattr(rec, f) is None:
                raise Invalid(f"items.{i}.{f}", f"{f} is required to store a record")
        if seller_id is not None and rec.seller_id != seller_id:
            raise Invalid(f"items.{i}.seller_id", "a seller key can import only its own records")
    ids = [r.feedback_id for r in records]
    if len(set(ids)) != len(ids):
        raise Invalid("items", "the same feedback_id appears twice in one import")
    existing = set(session.scalars(select(Feedback.feedback_id).where(Feedback.feedback_id.in_(ids))))
    stamp = now()
    created = []
    for rec in records:
        if rec.feedback_id in existing:
            continue
        session.add(Feedback(
            feedback_id=rec.feedback_id, seller_id=rec.seller_id, order_id=rec.order_id, rating=rec.rating,
            comment=rec.comment, fulfillment_channel=rec.fulfillment_channel, shipped_via_mcf=rec.shipped_via_mcf,
            buyer_email=rec.buyer_email, feedback_date=rec.feedback_date, struck=False, imported_at=stamp,
        ))
        created.append(rec.feedback_id)
    try:
        session.flush()
    except IntegrityError:  # a concurrent import inserted one of them first: report, store nothing
        raise Invalid("items", "a concurrent import stored some of these ids; retry to see them as duplicates") \
            from None
    return {"created": len(created), "duplicates": sorted(existing)}


@dataclass(frozen=True)
class FeedbackFilter:
    seller_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    rating: int | None = None
    struck: bool | None = None


def list_feedback(*, session: Session, filt: FeedbackFilter, limit: int, offset: int) -> tuple[int, list[Feedback]]:
    q = select(Feedback)
    if filt.seller_id is not None:
        q = q.where(Feedback.seller_id == filt.seller_id)
    if filt.date_from is not None:
        q = q.where(Feedback.feedback_date >= filt.date_from)
    if filt.date_to is not None:
        q = q.where(Feedback.feedback_date <= filt.date_to)
    if filt.rating is not None:
        q = q.where(Feedback.rating == filt.rating)
    if filt.struck is not None:
        q = q.where(Feedback.struck.is_(filt.struck))
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = session.scalars(q.order_by(Feedback.feedback_date.desc(), Feedback.feedback_id).limit(limit).offset(offset))
    return total, list(rows)


def get_feedback(*, session: Session, feedback_id: str, seller_id: str | None) -> Feedback:
    row = session.get(Feedback, feedback_id)
    if row is None or (seller_id is not None and row.seller_id != seller_id):
        raise NotFound(f"no feedback {feedback_id!r}")
    return row


def seller_metrics(*, session: Session, seller_id: str, as_of: date) -> dict[str, Any]:
    """Counts and shares per window; struck ratings are left out of the counts and shown beside."""
    out: dict[str, Any] = {}
    for name, days in WINDOWS.items():
        q = select(Feedback.rating, Feedback.struck, func.count()).where(Feedback.seller_id == seller_id)
        if days is not None:
            q = q.where(Feedback.feedback_date > as_of - timedelta(days=days), Feedback.feedback_date <= as_of)
        counts = {"positive": 0, "neutral": 0, "negative": 0}
        struck = 0
        for rating, is_struck, n in session.execute(q.group_by(Feedback.rating, Feedback.struck)):
            if is_struck:
                struck += n
                continue
            counts["positive" if rating >= 4 else "neutral" if rating == 3 else "negative"] += n
        total = sum(counts.values())
        out[name] = {
            "counts": counts,
            "shares": {k: (round(v / total, 4) if total else 0.0) for k, v in counts.items()},
            "total": total,
            "struck": struck,
        }
    return out


# --- the abuse guard ----------------------------------------------------------------------
# A request is plainly ineligible when the suggestion keeps it for a reason the seller could have
# seen: a positive or neutral rating, a seller-fulfilled (or MCF) order, or a blocking span.
PLAINLY_INELIGIBLE = frozenset({"not_negative", "not_marketplace_fulfilled", "multi_channel_fulfillment",
                                "blocking_span"})


@dataclass(frozen=True)
class GuardLimits:
    window_seconds: int
    max_requests: int
    max_ineligible_share: float
    min_requests: int


def plainly_ineligible(suggestion: SuggestedVerdict) -> bool:
    return suggestion.verdict == "keep" and any(r.code in PLAINLY_INELIGIBLE for r in suggestion.reasons)


def seller_standing(*, session: Session, seller_id: str, limits: GuardLimits, at: datetime) -> dict[str, Any]:
    """The seller's requests in the sliding window, and whether the guard would refuse another."""
    since = at - timedelta(seconds=limits.window_seconds)
    rows = session.execute(
        select(func.count(), func.sum(case((StrikeRequest.plainly_ineligible.is_(True), 1), else_=0)),
               func.min(StrikeRequest.created_at))
        .where(StrikeRequest.seller_id == seller_id, StrikeRequest.created_at > since)
    ).one()
    n, bad, oldest = int(rows[0] or 0), int(rows[1] or 0), rows[2]
    share = bad / n if n else 0.0
    reason = None
    if n >= limits.max_requests:
        reason = (f"{n} strike requests in the last {limits.window_seconds} s; the limit is "
                  f"{limits.max_requests}")
    elif n >= limits.min_requests and share > limits.max_ineligible_share:
        reason = (f"{bad} of your last {n} strike requests ({share:.0%}) were plainly ineligible (positive "
                  f"rating, seller-fulfilled order or a product/seller complaint); the limit is "
                  f"{limits.max_ineligible_share:.0%}. The policy forbids floods of speculative requests")
    retry_after = 1
    if reason and oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        retry_after = max(1, int((oldest + timedelta(seconds=limits.window_seconds) - at).total_seconds()) + 1)
    return {"seller_id": seller_id, "window_seconds": limits.window_seconds, "requests": n,
            "plainly_ineligible": bad, "ineligible_share": round(share, 4), "limited": reason is not None,
            "reason": reason, "retry_after": retry_after if reason else None}


def guard(*, session: Session, seller_id: str, limits: GuardLimits) -> None:
    standing = seller_standing(session=session, seller_id=seller_id, limits=limits, at=now())
    if standing["limited"]:
        raise RateLimited(standing["reason"], standing["retry_after"])


def all_standings(*, session: Session, limits: GuardLimits) -> list[dict[str, Any]]:
    at = now()
    since = at - timedelta(seconds=limits.window_seconds)
    sellers = session.scalars(select(StrikeRequest.seller_id).where(StrikeRequest.created_at > since)
                              .group_by(StrikeRequest.seller_id).order_by(StrikeRequest.seller_id))
    return [seller_standing(session=session, seller_id=s, limits=limits, at=at) for s in sellers]


# --- strike requests ----------------------------------------------------------------------
def create_strike_request(*, session: Session, feedback: Feedback, suggestion: SuggestedVerdict,
                          actor: str) -> StrikeRequest:
    d = suggestion.to_dict()
    req = StrikeRequest(feedback_id=feedback.feedback_id, seller_id=feedback.seller_id, created_at=now(),
                        suggested_verdict=d["verdict"], reasons=d["reasons"], spans=d["spans"],
                        language=d["language"], model_version=d["model_version"], status="pending",
                        plainly_ineligible=plainly_ineligible(suggestion))
    session.add(req)
    session.flush()
    session.add(AuditEvent(request_id=req.id, actor=actor, action="requested", at=now(),
                           details={"suggested_verdict": req.suggested_verdict, "model_version": req.model_version}))
    return req


def get_strike_request(*, session: Session, request_id: int, seller_id: str | None) -> StrikeRequest:
    req = session.get(StrikeRequest, request_id)
    if req is None or (seller_id is not None and req.seller_id != seller_id):
        raise NotFound(f"no strike request {request_id}")
    return req


def review_queue(*, session: Session, language: str | None, suggested_verdict: str | None,
                 limit: int, offset: int,
                 created_before: datetime | None = None) -> tuple[int, list[tuple[StrikeRequest, Feedback]]]:
    q = select(StrikeRequest, Feedback).join(Feedback).where(StrikeRequest.status == "pending")
    if language is not None:
        q = q.where(StrikeRequest.language == language)
    if suggested_verdict is not None:
        q = q.where(StrikeRequest.suggested_verdict == suggested_verdict)
    if created_before is not None:
        q = q.where(StrikeRequest.created_at <= created_before)
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = session.execute(q.order_by(StrikeRequest.created_at, StrikeRequest.id).limit(limit).offset(offset))
    return total, [(r, f) for r, f in rows]


def queue_counts(*, session: Session) -> dict[str, int]:
    """Pending requests by suggested verdict, and ``all``."""
    rows = session.execute(select(StrikeRequest.suggested_verdict, func.count())
                           .where(StrikeRequest.status == "pending").group_by(StrikeRequest.suggested_verdict))
    counts = {verdict: int(n) for verdict, n in rows}
    return {"all": sum(counts.values()), **counts}


def queue_neighbours(*, session: Session, request: StrikeRequest) -> tuple[int | None, int | None]:
    """Ids of the pending requests just before and just after ``request`` in queue order (oldest first)."""
    pending = StrikeRequest.status == "pending"
    before = (StrikeRequest.created_at < request.created_at) | (
        (StrikeRequest.created_at == request.created_at) & (StrikeRequest.id < request.id))
    after = (StrikeRequest.created_at > request.created_at) | (
        (StrikeRequest.created_at == request.created_at) & (StrikeRequest.id > request.id))
    prev_id = session.scalar(select(StrikeRequest.id).where(pending, before)
                             .order_by(StrikeRequest.created_at.desc(), StrikeRequest.id.desc()).limit(1))
    next_id = session.scalar(select(StrikeRequest.id).where(pending, after)
                             .order_by(StrikeRequest.created_at, StrikeRequest.id).limit(1))
    return prev_id, next_id


def _check_corrections(req: StrikeRequest, corrections: list[dict[str, Any]]) -> None:
    for i, c in enumerate(corrections):
        if not 0 <= c["span"] < len(req.spans):
            raise Invalid(f"span_labels.{i}.span", f"span {c['span']} does not exist (the request has "
                                                   f"{len(req.spans)} spans, numbered from 0)")
        if c["label"] not in LABELS:
            raise Invalid(f"span_labels.{i}.label", f"unknown label {c['label']!r}")


def decide_strike_request(*, session: Session, request_id: int, decision: str, actor: str,
                          corrections: list[dict[str, Any]], comment: str | None) -> StrikeRequest:
    """Record the one decision of a request; a strike marks the feedback struck and attaches the note.

    The status flip is a single conditional UPDATE, so two reviewers (or two replicas) racing on one
    request cannot both decide it: the loser gets :class:`AlreadyDecided`.
    """
    req = session.get(StrikeRequest, request_id)
    if req is None:
        raise NotFound(f"no strike request {request_id}")
    _check_corrections(req, corrections)
    stamp = now()
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(StrikeRequest)
        .where(StrikeRequest.id == request_id, StrikeRequest.status == "pending")
        .values(status="decided", decision=decision, decided_by=actor, decided_at=stamp,
                reviewer_comment=comment, corrections=corrections or None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyDecided(f"strike request {request_id} was already decided")
    if decision == "strike":
        fb = session.get(Feedback, req.feedback_id)
        assert fb is not None
        fb.struck = True
        fb.struck_at = stamp
        fb.note = note_for("sv" if req.language == "sv" else "en")
    session.add(AuditEvent(request_id=request_id, actor=actor, action="decided", at=stamp, details={
        "suggested_verdict": req.suggested_verdict, "decision": decision, "corrections": corrections,
        "model_version": req.model_version, "comment": comment}))
    session.refresh(req)
    return req


def audit_events(*, session: Session, request_id: int | None, limit: int, offset: int) -> list[dict[str, Any]]:
    q = select(AuditEvent)
    if request_id is not None:
        q = q.where(AuditEvent.request_id == request_id)
    rows = session.scalars(q.order_by(AuditEvent.id).limit(limit).offset(offset))
    return [{"id": e.id, "request_id": e.request_id, "actor": e.actor, "action": e.action, "at": e.at,
             "details": e.details} for e in rows]


def corrected_corpus_lines(*, session: Session) -> list[dict[str, Any]]:
    """Decided requests as corpus lines (INTERFACES.md), with the reviewer's span labels applied."""
    rows = session.execute(select(StrikeRequest, Feedback).join(Feedback)
                           .where(StrikeRequest.status == "decided").order_by(StrikeRequest.decided_at))
    out = []
    for req, fb in rows:
        labels = [s["label"] for s in req.spans]
        for c in req.corrections or []:
            labels[c["span"]] = c["label"]
        spans = [{"start": s["start"], "end": s["end"], "label": lab} for s, lab in zip(req.spans, labels,
                                                                                          strict=True)]
        verdict = gold_verdict(OrderFacts(fb.rating, fb.fulfillment_channel, fb.shipped_via_mcf), labels)
        out.append({
            "feedback_id": fb.feedback_id, "rating": fb.rating, "comment": fb.comment,
            "fulfillment_channel": fb.fulfillment_channel, "shipped_via_mcf": fb.shipped_via_mcf,
            "order_id": fb.order_id, "seller_id": fb.seller_id, "feedback_date": fb.feedback_date.isoformat(),
            "language": req.language, "spans": spans, "verdict": verdict, "source": "reviewer",
            "reviewer_decision": req.decision, "corrected": bool(req.corrections),
            "has_blocking_span": any(lab in BLOCKING_LABELS for lab in labels),
        })
    return out
