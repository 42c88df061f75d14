"""The reviewer page at /review: server-rendered, every user text escaped, CSRF on every POST.

Signing in with a reviewer (or admin) key sets an HttpOnly, SameSite=Strict cookie that carries the
key, so revoking the key ends the session (at once in the process that revokes it, within
``auth_cache_seconds`` in the others) and any replica can check it. The CSRF token is an
HMAC of a fixed label under the key: nobody without the key can forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from classifier.decision import LABELS, note_for
from service import crud
from service.auth import Principal, require_principal
from service.db import transaction
from service.routes.feedback import mask_email
from service.schemas import MAX_DB_INT

router = APIRouter(prefix="/review", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
COOKIE = "fs_review"
LABEL_NAMES = {"amazon_delivery": "Amazon delivery", "amazon_service": "Amazon service",
               "product_condition": "Product condition", "seller_service": "Seller service", "other": "Other"}


def csrf_token(key: str) -> str:
    return hmac.new(key.encode("utf-8"), b"feedback-strike review csrf", hashlib.sha256).hexdigest()


def _reviewer(request: Request) -> tuple[Principal, str] | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    try:
        principal = require_principal(request, key, None)
    except HTTPException:
        return None
    return principal, key


def _require(request: Request) -> tuple[Principal, str]:
    found = _reviewer(request)
    if found is None:
        raise _Redirect("/review/login")
    if found[0].role not in ("reviewer", "admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the review page is for reviewer keys")
    return found


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _check_csrf(key: str, token: str) -> None:
    if not hmac.compare_digest(csrf_token(key), token or ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing CSRF token; reload the page")


def _pieces(comment: str, spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comment as plain-text and span pieces, in order (the template escapes every piece)."""
    out: list[dict[str, Any]] = []
    pos = 0
    for i, s in enumerate(spans):
        if s["start"] > pos:
            out.append({"text": comment[pos : s["start"]], "span": None})
        out.append({"text": comment[s["start"] : s["end"]], "span": i, "label": s["label"],
                    "confidence": s["confidence"]})
        pos = s["end"]
    if pos < len(comment):
        out.append({"text": comment[pos:], "span": None})
    return out


def _age(created: datetime) -> str:
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    minutes = int((datetime.now(UTC) - created).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else (f"{minutes // 60} h" if minutes < 2880 else f"{minutes // 1440} d")


LOGIN_COOKIE = "fs_login_csrf"
MAX_AGE_HOURS = 24 * 365 * 10  # the age filter's ceiling (a larger one overflowed datetime: 500)
RequestId = Annotated[int, PathParam(ge=1, le=MAX_DB_INT)]


def _login_form(request: Request, error: str | None, status_code: int = 200) -> Response:
    """The sign-in form with a fresh double-submit CSRF token (cookie and hidden field must match)."""
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "login.html", {"error": error, "login_csrf": token},
                                          status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/review/login",
                        secure=request.url.scheme == "https", max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_form(request, None)


@router.post("/login")
def login(request: Request, api_key: Annotated[str, Form(max_length=200)],
          login_csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, login_csrf):
        return _login_form(request, "The form expired; please sign in again.", status.HTTP_403_FORBIDDEN)
    try:
        principal = require_principal(request, api_key, None)
    except HTTPException:
        return _login_form(request, "Unknown or revoked key.", status.HTTP_401_UNAUTHORIZED)
    if principal.role not in ("reviewer", "admin"):
        return _login_form(request, "This page is for reviewers; a seller key cannot open it.",
                           status.HTTP_403_FORBIDDEN)
    response = RedirectResponse("/review", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/review", max_age=12 * 3600)
    response.delete_cookie(LOGIN_COOKIE, path="/review/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    found = _reviewer(request)
    if found is not None:
        _check_csrf(found[1], csrf)
    response = RedirectResponse("/review/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/review")
    return response


@router.get("", response_class=HTMLResponse)
def queue(request: Request, language: str | None = None, verdict: str | None = None,
          min_age_hours: str | None = None) -> Response:
    """The pending requests; filter fields left empty in the form mean "any"."""
    principal, key = _require(request)
    language = language or None
    verdict = verdict or None
    # ASCII digits only: "²".isdigit() is true but int("²") fails.
    age = min(int(min_age_hours), MAX_AGE_HOURS) if min_age_hours and min_age_hours.isascii() \
        and min_age_hours.isdigit() else None
    before = datetime.now(UTC) - timedelta(hours=age) if age else None
    with request.app.state.sessions() as session:
        total, rows = crud.review_queue(session=session, language=language, suggested_verdict=verdict,
                                        limit=200, offset=0, created_before=before)
        counts = crud.queue_counts(session=session)
    items = [{"id": r.id, "age": _age(r.created_at), "language": r.language, "verdict": r.suggested_verdict,
              "rating": f.rating, "channel": f.fulfillment_channel, "mcf": f.shipped_via_mcf,
              "excerpt": f.comment[:140] + ("…" if len(f.comment) > 140 else "")} for r, f in rows]
    return templates.TemplateResponse(request, "queue.html", {
        "items": items, "total": total, "counts": counts, "language": language or "", "verdict": verdict or "",
        "min_age_hours": age or "", "csrf": csrf_token(key), "who": principal.name})


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: RequestId) -> Response:
    principal, key = _require(request)
    with request.app.state.sessions() as session:
        req = crud.get_strike_request(session=session, request_id=request_id, seller_id=None)
        fb = crud.get_feedback(session=session, feedback_id=req.feedback_id, seller_id=None)
        prev_id, next_id = crud.queue_neighbours(session=session, request=req)
    return templates.TemplateResponse(request, "request.html", {
        "req": req, "fb": fb, "email": mask_email(fb.buyer_email) if principal.role == "reviewer" else fb.buyer_email,
        "pieces": _pieces(fb.comment, req.spans), "spans": list(enumerate(req.spans)), "labels": LABELS,
        "label_names": LABEL_NAMES, "note": note_for("sv" if req.language == "sv" else "en"),
        "prev_id": prev_id, "next_id": next_id,
        "csrf": csrf_token(key), "who": principal.name, "decided": req.status == "decided"})


@router.post("/requests/{request_id}/decision")
async def decide(request: Request, request_id: RequestId) -> Response:
    """Reads the form here; the key check and the database work run in the thread pool, never on the event
    loop (a slow or unreachable database would otherwise stall every other request of the process)."""
    form = await request.form()
    return await run_in_threadpool(_decide, request, request_id, form)


def _decide(request: Request, request_id: int, form: Any) -> Response:
    principal, key = _require(request)
    _check_csrf(key, str(form.get("csrf", "")))
    decision = str(form.get("decision", ""))
    if decision not in ("strike", "keep"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "decision must be strike or keep")
    with transaction(request.app.state.sessions) as session:
        req = crud.get_strike_request(session=session, request_id=request_id, seller_id=None)
        corrections = []
        for i, span in enumerate(req.spans):
            label = str(form.get(f"label_{i}", span["label"]))
            if label not in LABELS:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown label for span {i}")
            if label != span["label"]:
                corrections.append({"span": i, "label": label})
        comment = str(form.get("comment", ""))[:2000] or None
        crud.decide_strike_request(session=session, request_id=request_id, decision=decision, actor=principal.name,
                                   corrections=corrections, comment=comment)
        _, pending = crud.review_queue(session=session, language=None, suggested_verdict=None, limit=1, offset=0)
    target = f"/review/requests/{pending[0][0].id}" if pending else "/review?done=1"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def install(app: Any) -> None:
    """Routes plus the redirect for pages opened without a session."""

    @app.exception_handler(_Redirect)
    async def _to_login(_: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=status.HTTP_303_SEE_OTHER)

    app.include_router(router)
