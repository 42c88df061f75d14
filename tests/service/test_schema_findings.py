"""Regression tests for what the schema fuzzing (test_schema_fuzz.py) found, one each, on SQLite and
PostgreSQL: answers that were 500s, answers that did not match the schema, and a schema that promised
more than the validators accept."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.records import COMMENT_PATTERN, EMAIL_PATTERN, RecordError, parse_record
from service.routes.review import COOKIE
from tests.service.conftest import new_key
from tests.service.test_feedback_manager import record


def test_timestamps_carry_their_utc_offset_on_every_database(client):
    """SQLite returned naive times ("2026-11-26T08:12:25"), not RFC 3339 date-times like PostgreSQL."""
    client.post("/v1/feedback", json=record(1))
    created = client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}).json()
    decided = client.post(f"/v1/strike-requests/{created['id']}/decision", json={"decision": "keep"}).json()
    audit = client.get("/v1/admin/audit").json()["items"]
    for stamp in (created["created_at"], decided["decided_at"], *(e["at"] for e in audit)):
        assert datetime.fromisoformat(stamp).utcoffset() is not None, stamp


@pytest.mark.parametrize("path", ["/v1/strike-requests/99999999999999999999", "/v1/strike-requests/2147483648",
                                  "/v1/feedback?offset=99999999999999999999", "/v1/admin/audit?request_id=2147483648",
                                  "/v1/review-queue?offset=9223372036854775808"])
def test_ids_and_offsets_past_a_database_integer_answer_422(client, path):
    """They reached the driver: "Python int too large to convert to SQLite INTEGER" answered 500."""
    assert client.get(path).status_code == 422


def test_control_characters_in_ids_answer_422_not_500(client):
    """PostgreSQL cannot store NUL: an id holding one answered 500 there."""
    for field in ("feedback_id", "order_id", "seller_id"):
        r = client.post("/v1/feedback", json=dict(record(1), **{field: "fb\x00x"}))
        assert r.status_code == 422 and field in r.text
    assert client.post("/v1/strike-requests", json={"feedback_id": "fb\x00x"}).status_code == 422
    assert client.get("/v1/feedback", params={"seller_id": "S\x00"}).status_code == 422
    assert client.get("/v1/sellers/S%00/metrics").status_code == 422
    assert client.get("/v1/feedback").json()["total"] == 0


@pytest.mark.parametrize("value", [1700000000, "0", "-6.9e-138", "20261120", True])
def test_dates_are_only_written_as_yyyy_mm_dd(client, value):
    """pydantic read 1700000000 or "0" as a Unix time and stored a date nobody wrote."""
    assert client.post("/v1/feedback", json=dict(record(1), feedback_date=value)).status_code == 422
    assert client.get("/v1/feedback", params={"date_to": str(value)}).status_code == 422
    assert client.get("/v1/sellers/S1/metrics", params={"as_of": str(value)}).status_code == 422


def test_queue_filters_name_their_values(client):
    """An unknown language or verdict used to give an empty queue without a word; now a 422 says why."""
    assert client.get("/v1/review-queue", params={"language": "de"}).status_code == 422
    assert client.get("/v1/review-queue", params={"suggested_verdict": "maybe"}).status_code == 422
    assert client.get("/v1/review-queue", params={"language": "sv", "suggested_verdict": "strike"}).status_code == 200


def test_a_seller_importing_another_sellers_records_is_forbidden(client):
    """A permission, not a malformed body: 403 (it was 422, which the schema could not explain)."""
    seller = new_key(client, "seller", "S1")
    r = client.post("/v1/feedback", json={"items": [record(1), record(2, seller="S2")]}, headers=seller)
    assert r.status_code == 403 and "items.1.seller_id" in r.json()["detail"]
    assert client.get("/v1/feedback").json()["total"] == 0


def test_the_schema_states_the_batch_limit_of_this_deployment(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["BatchIn"]["properties"]["items"]["maxItems"] == 5  # the fixture's
    too_many = {"items": [{"rating": 1, "comment": "x", "fulfillment_channel": "AFN"}] * 6}
    assert client.post("/v1/verdicts/batch", json=too_many).status_code == 413


def test_every_authenticated_operation_documents_401_and_503(client):
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path not in ("/healthz", "/readyz"):
                assert {"401", "503"} <= set(operation["responses"]), f"{method} {path}"


def test_the_review_page_age_filter_never_answers_500(client):
    key = new_key(client, "reviewer")["X-API-Key"]
    for value in ("²", "99999999999999999999", "-1", "abc"):  # "²".isdigit() is true; int("²") fails
        r = client.get("/review", params={"min_age_hours": value}, headers={"Cookie": f"{COOKIE}={key}"})
        assert r.status_code == 200, value
    r = client.get("/review/requests/99999999999999999999", headers={"Cookie": f"{COOKIE}={key}"})
    assert r.status_code == 422


def test_whole_number_ratings_are_integers_as_json_schema_says():
    """JSON Schema counts 1.0 as the integer 1; the validator refused it.  1.5, "1" and true stay errors."""
    assert parse_record({"rating": 1.0, "comment": "x", "fulfillment_channel": "AFN"}).rating == 1
    for bad in (1.5, "1", True):
        with pytest.raises(RecordError, match="rating"):
            parse_record({"rating": bad, "comment": "x", "fulfillment_channel": "AFN"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_the_comment_pattern_in_the_schema_accepts_what_the_validator_accepts(text):
    """The schema promised any string; a comment of spaces or with a control character was refused."""
    try:
        parse_record({"rating": 1, "comment": text, "fulfillment_channel": "AFN"})
        valid = True
    except RecordError:
        valid = False
    assert valid == bool(re.fullmatch(COMMENT_PATTERN, text)), repr(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.emails(), st.text(max_size=30),
                 st.builds(lambda a, b, c: f"{a}@{b}.{c}", st.text(min_size=1, max_size=5),
                           st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5))))
def test_the_email_pattern_in_the_schema_accepts_what_the_validator_accepts(email):
    try:
        parse_record({"rating": 1, "comment": "x", "fulfillment_channel": "AFN", "buyer_email": email})
        valid = True
    except RecordError:
        valid = False
    assert valid == bool(re.fullmatch(EMAIL_PATTERN, email)), repr(email)


def test_metrics_as_of_at_the_edge_of_the_calendar_is_a_422_not_a_500(client):
    """schemathesis found as_of=0001-01-01 answering 500 (the 365-day window ran past the first date)."""
    for day in ("0001-01-01", "1899-12-31", "9999-12-31"):
        r = client.get("/v1/sellers/S1/metrics", params={"as_of": day})
        assert r.status_code == 422, (day, r.status_code)
        assert r.json()["detail"][0]["loc"] == ["query", "as_of"]
    assert client.get("/v1/sellers/S1/metrics", params={"as_of": "2026-11-26"}).status_code == 200
