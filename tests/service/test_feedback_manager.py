"""Feedback Manager, strike requests, decisions, roles: over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.service.conftest import new_key

TODAY = date(2026, 11, 26)


def record(i: int, *, seller: str = "S1", rating: int = 1, days_ago: int = 1,
           comment: str = "Paketet kom aldrig fram.", channel: str = "AFN") -> dict:
    return {"feedback_id": f"fb-{seller}-{i}", "rating": rating, "comment": comment,
            "fulfillment_channel": channel, "order_id": f"203-0000000-{i:07d}", "seller_id": seller,
            "buyer_email": f"buyer{i}@example.com", "feedback_date": (TODAY - timedelta(days=days_ago)).isoformat()}


def test_import_is_idempotent_and_reports_duplicates(client):
    items = [record(i) for i in range(3)]
    first = client.post("/v1/feedback", json={"items": items})
    assert first.status_code == 200 and first.json() == {"created": 3, "duplicates": []}
    changed = [dict(items[0], comment="changed")] + [record(9)]
    again = client.post("/v1/feedback", json={"items": changed})
    assert again.json() == {"created": 1, "duplicates": ["fb-S1-0"]}
    listed = client.get("/v1/feedback", params={"seller_id": "S1"}).json()
    assert listed["total"] == 4
    assert {r["comment"] for r in listed["items"]} == {"Paketet kom aldrig fram."}, "a re-import updates nothing"


def test_a_bad_record_refuses_the_whole_import(client):
    bad = dict(record(2), buyer_email=None)
    r = client.post("/v1/feedback", json={"items": [record(1), bad]})
    assert r.status_code == 422
    assert "buyer_email" in json.dumps(r.json())
    assert client.get("/v1/feedback").json()["total"] == 0, "nothing stored from a refused request"
    r = client.post("/v1/feedback", json={"items": [record(1), dict(record(2), rating=9)]})
    assert r.status_code == 422 and client.get("/v1/feedback").json()["total"] == 0


def test_single_record_import_and_filters(client):
    assert client.post("/v1/feedback", json=record(1, rating=5, days_ago=40)).json()["created"] == 1
    client.post("/v1/feedback", json={"items": [record(2, rating=1, days_ago=5), record(3, rating=3, days_ago=5)]})
    assert client.get("/v1/feedback", params={"rating": 5}).json()["total"] == 1
    recent = client.get("/v1/feedback", params={"date_from": (TODAY - timedelta(days=10)).isoformat()}).json()
    assert {r["feedback_id"] for r in recent["items"]} == {"fb-S1-2", "fb-S1-3"}
    page = client.get("/v1/feedback", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 1


def strike_flow(client, feedback_id: str, decision: str = "strike") -> dict:
    seller = new_key(client, "seller", "S1")
    reviewer = new_key(client, "reviewer")
    req = client.post("/v1/strike-requests", json={"feedback_id": feedback_id}, headers=seller)
    assert req.status_code == 201, req.text
    out = client.post(f"/v1/strike-requests/{req.json()['id']}/decision", json={"decision": decision},
                      headers=reviewer)
    assert out.status_code == 200, out.text
    return out.json()


def test_metrics_exclude_struck_ratings_and_show_them_beside(client):
    items = [record(1, rating=1, days_ago=3), record(2, rating=2, days_ago=50), record(3, rating=5, days_ago=3),
             record(4, rating=3, days_ago=200), record(5, rating=4, days_ago=800)]
    client.post("/v1/feedback", json={"items": items})
    strike_flow(client, "fb-S1-1")
    m = client.get("/v1/sellers/S1/metrics", params={"as_of": TODAY.isoformat()}).json()["windows"]
    assert m["30d"]["counts"] == {"positive": 1, "neutral": 0, "negative": 0} and m["30d"]["struck"] == 1
    assert m["30d"]["shares"]["positive"] == 1.0
    assert m["90d"]["counts"] == {"positive": 1, "neutral": 0, "negative": 1}
    assert m["365d"]["counts"] == {"positive": 1, "neutral": 1, "negative": 1} and m["365d"]["total"] == 3
    assert m["lifetime"]["counts"] == {"positive": 2, "neutral": 1, "negative": 1} and m["lifetime"]["struck"] == 1
    assert m["lifetime"]["shares"]["negative"] == 0.25


def test_strike_marks_feedback_and_attaches_the_note_but_keeps_the_comment(client):
    client.post("/v1/feedback", json=record(1, comment="Paketet kom aldrig fram."))
    decided = strike_flow(client, "fb-S1-1")
    assert decided["status"] == "decided" and decided["decision"] == "strike"
    fb = client.get("/v1/feedback").json()["items"][0]
    assert fb["struck"] is True
    assert fb["comment"] == "Paketet kom aldrig fram."
    assert fb["note"] == "Denna artikel levererades av Amazon och vi tar ansvar för leveransupplevelsen"


def test_request_stores_the_suggestion_and_a_decision_is_recorded_once(client):
    client.post("/v1/feedback", json={"items": [record(1), record(2, comment="Skärmen var repad.")]})
    seller, reviewer = new_key(client, "seller", "S1"), new_key(client, "reviewer")
    ids = [client.post("/v1/strike-requests", json={"feedback_id": f"fb-S1-{i}"}, headers=seller).json()
           for i in (1, 2)]
    assert ids[0]["suggested_verdict"] == "strike" and ids[0]["model_version"]
    assert ids[0]["spans"][0]["label"] == "amazon_delivery"
    queue = client.get("/v1/review-queue", headers=reviewer).json()
    assert [r["id"] for r in queue["items"]] == [ids[0]["id"], ids[1]["id"]], "oldest first"
    assert queue["items"][0]["feedback"]["buyer_email"] == "b***@example.com", "reviewers see masked e-mails"
    only_keep = client.get("/v1/review-queue", params={"suggested_verdict": "keep"}, headers=reviewer).json()
    assert [r["id"] for r in only_keep["items"]] == [ids[1]["id"]]
    url = f"/v1/strike-requests/{ids[1]['id']}/decision"
    body = {"decision": "keep", "span_labels": [{"span": 0, "label": "product_condition"}], "comment": "ok"}
    assert client.post(url, json=body, headers=reviewer).status_code == 200
    second = client.post(url, json={"decision": "strike"}, headers=reviewer)
    assert second.status_code == 409
    assert client.get("/v1/review-queue", headers=reviewer).json()["total"] == 1
    export = client.get("/v1/corrections/export", headers=reviewer)
    lines = [json.loads(x) for x in export.text.splitlines()]
    assert len(lines) == 1 and lines[0]["feedback_id"] == "fb-S1-2"
    assert lines[0]["spans"][0]["label"] == "product_condition" and lines[0]["verdict"] == "keep"
    assert "buyer_email" not in lines[0]


def test_bad_decision_input_is_refused_and_stores_nothing(client):
    client.post("/v1/feedback", json=record(1))
    seller, reviewer = new_key(client, "seller", "S1"), new_key(client, "reviewer")
    rid = client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}, headers=seller).json()["id"]
    url = f"/v1/strike-requests/{rid}/decision"
    assert client.post(url, json={"decision": "maybe"}, headers=reviewer).status_code == 422
    r = client.post(url, json={"decision": "strike", "span_labels": [{"span": 7, "label": "other"}]},
                    headers=reviewer)
    assert r.status_code == 422 and "span_labels" in json.dumps(r.json())
    assert client.get("/v1/review-queue", headers=reviewer).json()["total"] == 1, "still pending"
    assert client.post("/v1/strike-requests/99999/decision", json={"decision": "keep"},
                       headers=reviewer).status_code == 404


def test_roles_and_seller_isolation(client):
    client.post("/v1/feedback", json={"items": [record(1, seller="A"), record(2, seller="B")]})
    a, b = new_key(client, "seller", "A"), new_key(client, "seller", "B")
    reviewer = new_key(client, "reviewer")
    assert [r["seller_id"] for r in client.get("/v1/feedback", headers=a).json()["items"]] == ["A"]
    assert client.get("/v1/feedback", params={"seller_id": "B"}, headers=a).json()["items"][0]["seller_id"] == "A"
    assert client.get("/v1/feedback", headers=a).json()["items"][0]["buyer_email"] == "buyer1@example.com"
    assert client.get("/v1/sellers/B/metrics", headers=a).status_code == 404
    assert client.post("/v1/strike-requests", json={"feedback_id": "fb-B-2"}, headers=a).status_code == 404
    assert client.post("/v1/feedback", json=record(3, seller="B"), headers=a).status_code == 403
    assert client.get("/v1/review-queue", headers=a).status_code == 403
    assert client.post("/v1/strike-requests", json={"feedback_id": "fb-B-2"}, headers=reviewer).status_code == 403
    assert client.get("/v1/feedback", headers={"X-API-Key": ""}).status_code == 401
    masked = client.get("/v1/feedback", headers=reviewer).json()["items"]
    assert all(r["buyer_email"].startswith(("b***@",)) for r in masked)
    rid = client.post("/v1/strike-requests", json={"feedback_id": "fb-B-2"}, headers=b).json()["id"]
    assert client.get(f"/v1/strike-requests/{rid}", headers=a).status_code == 404
    assert client.get(f"/v1/strike-requests/{rid}", headers=b).status_code == 200


def test_revoked_key_is_refused(client):
    from service import crud
    from service.db import transaction

    with transaction(client.app.state.sessions) as session:
        row, key = crud.create_key(session=session, role="reviewer", name="leaver")
    assert client.get("/v1/review-queue", headers={"X-API-Key": key}).status_code == 200
    with transaction(client.app.state.sessions) as session:
        crud.revoke_key(session=session, key_id=row.id)
    assert client.get("/v1/review-queue", headers={"X-API-Key": key}).status_code == 401


def test_readiness_checks_the_database(client):
    assert client.get("/readyz", headers={"X-API-Key": ""}).json()["status"] == "ready"


def test_racing_decisions_apply_once(client):
    from concurrent.futures import ThreadPoolExecutor

    client.post("/v1/feedback", json=record(1))
    seller = new_key(client, "seller", "S1")
    reviewers = [new_key(client, "reviewer") for _ in range(6)]
    rid = client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}, headers=seller).json()["id"]

    def decide(h):
        return client.post(f"/v1/strike-requests/{rid}/decision", json={"decision": "strike"}, headers=h).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(decide, reviewers))
    assert codes == [200, 409, 409, 409, 409, 409]


def test_audit_trail_records_who_when_suggestion_decision_corrections_and_model(client):
    client.post("/v1/feedback", json=record(1))
    seller, reviewer = new_key(client, "seller", "S1"), new_key(client, "reviewer")
    rid = client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}, headers=seller).json()["id"]
    client.post(f"/v1/strike-requests/{rid}/decision", headers=reviewer,
                json={"decision": "keep", "span_labels": [{"span": 0, "label": "other"}], "comment": "unclear"})
    events = client.get("/v1/admin/audit", params={"request_id": rid}).json()["items"]
    assert [e["action"] for e in events] == ["requested", "decided"]
    assert events[0]["actor"].endswith("test-seller") and events[1]["actor"].endswith("test-reviewer")
    d = events[1]["details"]
    assert d["decision"] == "keep" and d["suggested_verdict"] in ("strike", "needs_review", "keep")
    assert d["corrections"] == [{"span": 0, "label": "other"}] and d["model_version"] and d["comment"] == "unclear"
    assert client.get("/v1/admin/audit", headers=reviewer).status_code == 403


def test_api_docs_need_a_key_too(client):
    from tests.service.conftest import ADMIN_KEY

    assert client.get("/openapi.json", headers={"X-API-Key": ""}).status_code == 401
    assert client.get("/docs", headers={"X-API-Key": ""}).status_code == 401
    schema = client.get("/openapi.json").json()
    assert "/v1/verdicts" in schema["paths"] and "/v1/strike-requests/{request_id}/decision" in schema["paths"]
    page = client.get(f"/docs?api_key={ADMIN_KEY}", headers={"X-API-Key": ""})
    assert page.status_code == 200 and "swagger" in page.text.lower()


def test_docs_page_uses_no_cdn(client):
    from tests.service.conftest import ADMIN_KEY

    page = client.get(f"/docs?api_key={ADMIN_KEY}").text
    assert "cdn." not in page and "/docs-static/swagger-ui-bundle.js" in page
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200


def test_review_page_routes_without_a_browser(client):
    """The server side of /review: redirects, refusals, escaping and CSRF (the browser tests do the rest)."""
    import re

    client.post("/v1/feedback", json=record(1, comment="<b>bold</b> & Paketet kom aldrig fram"))
    seller, reviewer = new_key(client, "seller", "S1"), new_key(client, "reviewer")
    client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}, headers=seller)
    assert client.get("/review", follow_redirects=False).headers["location"] == "/review/login"

    def login_csrf() -> str:
        return re.search(r'name="login_csrf" value="([^"]+)"', client.get("/review/login").text).group(1)

    assert client.post("/review/login", data={"api_key": reviewer["X-API-Key"]}).status_code == 403, "no token"
    assert client.post("/review/login", data={"api_key": seller["X-API-Key"], "login_csrf": login_csrf()}
                       ).status_code == 403
    assert client.post("/review/login", data={"api_key": "nope", "login_csrf": login_csrf()}).status_code == 401
    r = client.post("/review/login", data={"api_key": reviewer["X-API-Key"], "login_csrf": login_csrf()},
                    follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    queue = client.get("/review").text
    assert 'id="total">1<' in queue and "All 1" in queue
    assert 'id="total">0<' in client.get("/review?min_age_hours=1").text, "a fresh request is not an hour old"
    assert 'id="total">1<' in client.get("/review?min_age_hours=0&language=").text
    page = client.get("/review/requests/1").text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in page and "<b>bold</b>" not in page
    assert "b***@example.com" in page
    no_csrf = client.post("/review/requests/1/decision", data={"decision": "strike"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    done = client.post("/review/requests/1/decision", data={"decision": "strike", "csrf": csrf},
                       follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/v1/strike-requests/1").json()["decision"] == "strike"
