"""The abuse guard (429 with Retry-After), Prometheus metrics, and JSON logs without personal data."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN_KEY, new_key
from tests.service.test_feedback_manager import record


@pytest.fixture
def guarded(db_url):
    settings = Settings(database_url=db_url, api_keys=ADMIN_KEY, abuse_window_seconds=600, abuse_max_requests=8,
                        abuse_max_ineligible_share=0.5, abuse_min_requests=4)
    with TestClient(create_app(settings)) as c:
        c.headers["X-API-Key"] = ADMIN_KEY
        yield c


def test_flooding_with_plainly_ineligible_requests_gets_429(guarded):
    # positive ratings: plainly ineligible, whatever the text says
    guarded.post("/v1/feedback", json={"items": [record(i, seller="F", rating=5) for i in range(10)]
                                       + [record(50 + i, seller="G") for i in range(3)]})
    flooder, other = new_key(guarded, "seller", "F"), new_key(guarded, "seller", "G")
    codes = [guarded.post("/v1/strike-requests", json={"feedback_id": f"fb-F-{i}"}, headers=flooder).status_code
             for i in range(6)]
    assert codes[:4] == [201, 201, 201, 201]
    assert codes[4:] == [429, 429]
    refused = guarded.post("/v1/strike-requests", json={"feedback_id": "fb-F-9"}, headers=flooder)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 601
    assert "plainly ineligible" in refused.json()["detail"]
    # another seller is still served
    assert guarded.post("/v1/strike-requests", json={"feedback_id": "fb-G-50"}, headers=other).status_code == 201
    # refused requests stored nothing; admins see the standing
    standing = guarded.get("/v1/admin/abuse-guard").json()
    assert standing["limits"]["max_requests"] == 8
    by_seller = {s["seller_id"]: s for s in standing["sellers"]}
    assert by_seller["F"]["requests"] == 4 and by_seller["F"]["limited"] is True
    assert by_seller["G"]["limited"] is False
    assert guarded.get("/v1/admin/abuse-guard", headers=flooder).status_code == 403


def test_the_count_limit_applies_to_eligible_requests_too(guarded):
    guarded.post("/v1/feedback", json={"items": [record(i, seller="H") for i in range(10)]})
    seller = new_key(guarded, "seller", "H")
    codes = [guarded.post("/v1/strike-requests", json={"feedback_id": f"fb-H-{i}"}, headers=seller).status_code
             for i in range(10)]
    assert codes == [201] * 8 + [429, 429]


def test_prometheus_metrics_need_an_admin_key_and_count_routes_and_verdicts(guarded):
    rec = {"rating": 1, "comment": "Never arrived.", "fulfillment_channel": "AFN"}
    guarded.post("/v1/verdicts", json=rec)
    guarded.post("/v1/verdicts/batch", json={"items": [rec, dict(rec, rating=5)]})
    assert guarded.get("/metrics", headers={"X-API-Key": ""}).status_code == 401
    reviewer = new_key(guarded, "reviewer")
    assert guarded.get("/metrics", headers=reviewer).status_code == 403
    text = guarded.get("/metrics").text
    assert 'feedback_strike_http_requests_total{method="POST",route="/v1/verdicts",status="200"} 1.0' in text
    assert 'feedback_strike_verdicts_total{verdict="keep"} 1.0' in text
    assert "feedback_strike_http_request_duration_seconds_bucket" in text
    assert 'feedback_strike_model_info{version="' in text


def test_logs_are_json_with_a_request_id_and_no_personal_data(guarded, caplog):
    rec = {"rating": 1, "comment": "my very private story", "fulfillment_channel": "AFN",
           "buyer_email": "someone@example.com"}
    with caplog.at_level(logging.INFO, logger="feedback_strike.access"):
        r = guarded.post("/v1/verdicts", json=rec, headers={"X-Request-ID": "abc-123"})
        guarded.post("/v1/verdicts", json=dict(rec, rating=0))
    assert r.headers["X-Request-ID"] == "abc-123"
    records = [rec for rec in caplog.records if rec.name == "feedback_strike.access"]
    assert records and records[0].fields["request_id"] == "abc-123"
    assert records[0].fields["route"] == "/v1/verdicts" and records[0].fields["status"] == 200
    from service.observability import JsonFormatter

    lines = [JsonFormatter().format(rec) for rec in records]
    assert all(json.loads(line)["msg"] == "request" for line in lines)
    joined = "\n".join(lines) + caplog.text
    assert "example.com" not in joined and "private story" not in joined


@pytest.fixture
def observed(tmp_path, caplog):
    """An app on SQLite (the middleware needs no database of a kind) whose 500s come back as answers."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/fs.db", api_keys=ADMIN_KEY, max_body_bytes=1000))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at /srv/feedback-strike/config.py")

    @app.post("/boom-after-hang-up")
    async def boom_after_hang_up(request: Request) -> None:
        assert await request.is_disconnected()
        raise RuntimeError("a bug that runs after the client left")

    with (TestClient(app, raise_server_exceptions=False) as c,
          caplog.at_level(logging.INFO, logger="feedback_strike.access")):
        c.headers["X-API-Key"] = ADMIN_KEY
        yield c


def access_lines(caplog) -> dict[str, dict[str, object]]:
    return {r.fields["request_id"]: r.fields for r in caplog.records if r.name == "feedback_strike.access"}


def test_a_500_carries_the_request_id_it_is_logged_with_and_no_internals(observed, caplog):
    given = observed.get("/boom", headers={"X-Request-ID": "err-1"})
    made = observed.get("/boom")
    assert given.status_code == made.status_code == 500
    assert given.headers["X-Request-ID"] == "err-1"
    assert access_lines(caplog)[made.headers["X-Request-ID"]]["status"] == 500
    assert access_lines(caplog)["err-1"]["route"] == "/boom"
    assert given.text == "Internal Server Error"  # no traceback, no exception text
    assert 'route="/boom",status="500"} 2.0' in observed.get("/metrics").text


def test_a_413_from_the_body_limit_carries_the_request_id_and_is_logged(observed, caplog):
    declared = observed.post("/v1/verdicts", content=b"x" * 2000, headers={"X-Request-ID": "big-declared"})
    streamed = observed.post("/v1/verdicts", content=iter([b"x" * 600, b"x" * 600]),
                             headers={"X-Request-ID": "big-streamed"})
    assert declared.status_code == streamed.status_code == 413
    assert declared.headers["X-Request-ID"] == "big-declared" and streamed.headers["X-Request-ID"] == "big-streamed"
    lines = access_lines(caplog)
    assert lines["big-declared"]["status"] == lines["big-streamed"]["status"] == 413


@pytest.mark.parametrize("path, content_type, partial", [
    ("/v1/verdicts", b"application/json", b'{"rating": 1, "comm'),
    ("/review/requests/1/decision", b"application/x-www-form-urlencoded", b"decision=str"),
])
def test_a_client_that_hangs_up_before_the_answer_is_logged_and_counted_as_499(observed, caplog, path,
                                                                               content_type, partial):
    """As uvicorn does when the peer closes the socket mid-body: ``receive`` says ``http.disconnect`` from
    then on and whatever the app sends is dropped.  Before the fix the JSON route was logged as a 400 (FastAPI
    turns the disconnect into "error parsing the body") and the form route as a 500 with a traceback."""
    messages = [{"type": "http.request", "body": partial, "more_body": True}]

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        pass

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", ADMIN_KEY.encode()), (b"x-request-id", b"gone-1"),
                         (b"content-type", content_type), (b"content-length", b"900")]}
    observed.portal.call(observed.app, scope, receive, send)  # returns: no ClientDisconnect for the server to log
    assert access_lines(caplog)["gone-1"]["status"] == 499
    metrics = observed.get("/metrics").text
    assert f'route="{path.replace("/1/", "/{request_id}/")}",status="499"}} 1.0' in metrics
    assert 'status="500"' not in metrics and 'status="400"' not in metrics


def test_a_server_error_is_still_a_500_when_the_client_stays(observed, caplog):
    assert observed.get("/boom", headers={"X-Request-ID": "err-2"}).status_code == 500
    assert access_lines(caplog)["err-2"]["status"] == 500


def test_an_error_after_the_client_hung_up_is_still_a_500(observed, caplog):
    """A hang-up is a 499 only when nothing else went wrong: a route that fails after the client left is
    a server error, and counts as one (review finding)."""
    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        pass

    path = "/boom-after-hang-up"
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", ADMIN_KEY.encode()), (b"x-request-id", b"late-1")]}
    with pytest.raises(RuntimeError, match="after the client left"):
        observed.portal.call(observed.app, scope, receive, send)
    assert access_lines(caplog)["late-1"]["status"] == 500
    assert f'route="{path}",status="500"}} 1.0' in observed.get("/metrics").text
