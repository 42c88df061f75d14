"""Every route x every caller, with the status each must get, on SQLite and PostgreSQL.

Callers: no key, a key never issued, a revoked admin key (it worked a moment before it was revoked
through crud in this process, so a cache of keys must forget it), seller A, seller B, a reviewer and
an admin.  Path ids always name seller A's things.  The routes come from the app itself: a new route
without a row here fails the test.  Besides the statuses, no answer may show seller A's records
(ids, comments, buyer e-mails) to seller B or the other way round, or any buyer e-mail to a reviewer
or to a caller without a valid key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from service.app import create_app
from service.config import Settings
from service.routes.review import COOKIE, LOGIN_COOKIE, csrf_token
from tests.service.conftest import ADMIN_KEY
from tests.service.world import ROLES, SELLER_A, SELLER_B, World, build_world, record

UNAUTHENTICATED = ("none", "bad", "revoked")


def keyed(seller_a: int, seller_b: int, reviewer: int, admin: int, unauthenticated: int = 401) -> dict[str, int]:
    return {"none": unauthenticated, "bad": unauthenticated, "revoked": unauthenticated,
            "seller_a": seller_a, "seller_b": seller_b, "reviewer": reviewer, "admin": admin}


def everyone(code: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, code)


VERDICT = {"rating": 1, "comment": "Never arrived.", "fulfillment_channel": "AFN"}


@dataclass
class Row:
    """One route: the expected status per caller, and how to call it (``decides``: the call may decide
    a strike request, so it gets a fresh one and the test checks it decided only when allowed)."""

    expected: dict[str, int]
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    form: Callable[[str | None], dict[str, str]] | None = None
    url: str | None = None  # a concrete URL instead of the route's path (mounts)
    decides: bool = False


def review_form(key: str | None) -> dict[str, str]:
    return {"csrf": csrf_token(key) if key else "", "decision": "keep"}


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(everyone(200)),
    ("GET", "/readyz"): Row(everyone(200)),
    ("GET", "/metrics"): Row(keyed(403, 403, 403, 200)),
    ("GET", "/openapi.json"): Row(keyed(200, 200, 200, 200)),
    ("GET", "/docs"): Row(keyed(200, 200, 200, 200)),  # the key as ?api_key= (a browser opens it)
    ("POST", "/v1/verdicts"): Row(keyed(200, 200, 200, 200), json=VERDICT),
    ("POST", "/v1/verdicts/batch"): Row(keyed(200, 200, 200, 200), json={"items": [VERDICT]}),
    ("POST", "/v1/feedback"): Row(keyed(200, 403, 403, 200), json={"items": [record(SELLER_A, 900)]}),
    ("GET", "/v1/feedback"): Row(keyed(200, 200, 200, 200), params={"seller_id": SELLER_A}),
    ("GET", "/v1/sellers/{seller_id}/metrics"): Row(keyed(200, 404, 200, 200)),
    ("POST", "/v1/strike-requests"): Row(keyed(201, 404, 403, 201), json={"feedback_id": "fb-a-1"}),
    ("GET", "/v1/strike-requests/{request_id}"): Row(keyed(200, 404, 200, 200)),
    ("GET", "/v1/review-queue"): Row(keyed(403, 403, 200, 200)),
    ("POST", "/v1/strike-requests/{request_id}/decision"): Row(keyed(403, 403, 200, 200),
                                                               json={"decision": "keep"}, decides=True),
    ("GET", "/v1/admin/abuse-guard"): Row(keyed(403, 403, 403, 200)),
    ("GET", "/v1/admin/audit"): Row(keyed(403, 403, 403, 200)),
    ("GET", "/v1/admin/model"): Row(keyed(403, 403, 403, 200)),
    ("POST", "/v1/admin/model/reload"): Row(keyed(403, 403, 403, 200)),  # the pointer unchanged: 200, no switch
    ("GET", "/v1/corrections/export"): Row(keyed(403, 403, 200, 200)),
    # The reviewer page: the key travels in its sign-in cookie; without a valid one it redirects to sign-in.
    ("GET", "/review/login"): Row(everyone(200)),
    ("POST", "/review/login"): Row({**keyed(403, 403, 303, 303), "none": 422},
                                   form=lambda key: {"login_csrf": "t0ken", **({"api_key": key} if key else {})}),
    ("POST", "/review/logout"): Row(everyone(303), form=review_form),
    ("GET", "/review"): Row(keyed(403, 403, 200, 200, unauthenticated=303)),
    ("GET", "/review/requests/{request_id}"): Row(keyed(403, 403, 200, 200, unauthenticated=303)),
    ("POST", "/review/requests/{request_id}/decision"): Row(keyed(403, 403, 303, 303, unauthenticated=303),
                                                            form=review_form, decides=True),
    # Static files of the sign-in page and the API docs: public, they hold no data.
    ("MOUNT", "/review/static"): Row(everyone(200), url="/review/static/review.css"),
    ("MOUNT", "/docs-static"): Row(everyone(200), url="/docs-static/swagger-ui.css"),
}


def app_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every route the app answers, mounts as ("MOUNT", path).  FastAPI >= 0.13x keeps
    included routers as nested objects, so walk them."""
    found: set[tuple[str, str]] = set()

    def walk(routes) -> None:  # type: ignore[no-untyped-def]
        for route in routes:
            if hasattr(route, "effective_route_contexts"):
                walk(list(route.effective_route_contexts()))
            elif isinstance(route, Mount):
                found.add(("MOUNT", route.path))
            else:
                found.update((method, route.path) for method in route.methods)

    walk(app.routes)
    return found


def call(world: World, method: str, path: str, row: Row, role: str) -> tuple[Any, int | None]:
    """Send the row's request as ``role``; returns the response and the strike request it may decide."""
    key = world.keys[role]
    headers: dict[str, str] = {"X-API-Key": key} if key else {}
    request_id = world.fresh_request(SELLER_A) if row.decides else world.requests[SELLER_A]
    url = row.url or path.format(seller_id=SELLER_A, request_id=request_id)
    params = dict(row.params)
    if path == "/docs":
        headers = {}
        if key:
            params["api_key"] = key
    if path.startswith("/review"):
        cookies = [f"{LOGIN_COOKIE}=t0ken"] if path == "/review/login" else []
        if key and path != "/review/login":
            cookies.append(f"{COOKIE}={key}")
        headers = {"Cookie": "; ".join(cookies)} if cookies else {}
    world.client.cookies.clear()  # only the cookies of this call: a sign-in above set one in the jar
    kwargs: dict[str, Any] = {"headers": headers, "params": params, "follow_redirects": False}
    if row.json is not None:
        kwargs["json"] = row.json
    if row.form is not None:
        kwargs["data"] = row.form(key)
    return world.client.request("GET" if method == "MOUNT" else method, url, **kwargs), request_id


def leaks(world: World, role: str, body: str, sent: str) -> list[str]:
    """The texts in ``body`` that ``role`` must never read (what it sent itself, e.g. an id in a 404, aside)."""
    emails = {s for secrets in world.secrets.values() for s in secrets if "@" in s}
    forbidden: set[str] = set()
    if role in UNAUTHENTICATED:
        forbidden = set().union(*world.secrets.values())
    elif role == "seller_a":
        forbidden = world.secrets[SELLER_B]
    elif role == "seller_b":
        forbidden = world.secrets[SELLER_A]
    elif role == "reviewer":
        forbidden = emails
    return sorted(s for s in forbidden if s in body and s not in sent)


@pytest.fixture
def world(db_url):
    app = create_app(Settings(database_url=db_url, api_keys=ADMIN_KEY, abuse_max_requests=100_000,
                              abuse_max_ineligible_share=1.0))
    with TestClient(app) as client:
        yield build_world(client)


def test_every_route_has_a_row_in_the_matrix(world):
    routes = app_routes(world.client.app)
    assert routes - MATRIX.keys() == set(), "new routes need their expected statuses in MATRIX"
    assert MATRIX.keys() - routes == set(), "MATRIX lists routes the app no longer has"


def test_every_route_answers_every_caller_as_expected_and_leaks_nothing(world):
    wrong, leaked = [], []
    for (method, path), row in MATRIX.items():
        for role in ROLES:
            response, request_id = call(world, method, path, row, role)
            if response.status_code != row.expected[role]:
                wrong.append(f"{method} {path} as {role}: {response.status_code}, expected {row.expected[role]} "
                             f"({response.text[:120]})")
            if row.decides:
                allowed = row.expected[role] in (200, 303) and role not in UNAUTHENTICATED
                state = world.request_status(request_id)
                if state != ("decided" if allowed else "pending"):
                    wrong.append(f"{method} {path} as {role}: the request is {state}")
            found = leaks(world, role, response.text, str(response.request.url) + response.request.content.decode())
            if found:
                leaked.append(f"{method} {path} as {role} read {found}")
    assert not wrong, "\n".join(wrong)
    assert not leaked, "\n".join(leaked)


def test_bearer_tokens_are_held_to_the_same_rules(world):
    """The same key as ``Authorization: Bearer``: a revoked or unknown one is refused, roles still apply."""
    def bearer(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {world.keys[role]}"}

    assert world.client.get("/v1/review-queue", headers=bearer("revoked")).status_code == 401
    assert world.client.get("/v1/review-queue", headers=bearer("bad")).status_code == 401
    assert world.client.get("/v1/review-queue", headers=bearer("seller_a")).status_code == 403
    assert world.client.get("/v1/review-queue", headers=bearer("reviewer")).status_code == 200
    mine = world.client.get("/v1/feedback", params={"seller_id": SELLER_B}, headers=bearer("seller_a")).json()
    assert {item["seller_id"] for item in mine["items"]} == {SELLER_A}
