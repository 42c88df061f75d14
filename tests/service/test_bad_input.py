"""Bad input on every route answers 4xx with a JSON body naming the problem; never 500, nothing stored."""

from __future__ import annotations

import pytest

from tests.service.conftest import new_key
from tests.service.test_feedback_manager import record

NOT_JSON = b"{not json"
BAD_UTF8 = b'{"feedback_id": "\xff\xfe"}'

CASES = [
    ("POST", "/v1/feedback", {"items": []}, 422),
    ("POST", "/v1/feedback", {"items": "nope"}, 422),
    ("POST", "/v1/feedback", {"items": [dict(record(1), rating="one")]}, 422),
    ("POST", "/v1/feedback", {"items": [dict(record(1), rating=6)]}, 422),
    ("POST", "/v1/feedback", {"items": [dict(record(1), fulfillment_channel="XYZ")]}, 422),
    ("POST", "/v1/feedback", {"items": [dict(record(1), feedback_date="31/12/2026")]}, 422),
    ("POST", "/v1/feedback", {"items": [dict(record(1), comment="")]}, 422),
    ("POST", "/v1/feedback", {"items": [record(1), record(1)]}, 422),
    ("POST", "/v1/feedback", {"items": [{k: v for k, v in record(1).items() if k != "order_id"}]}, 422),
    ("POST", "/v1/feedback", NOT_JSON, 422),
    ("POST", "/v1/feedback", BAD_UTF8, 400),
    ("POST", "/v1/strike-requests", {}, 422),
    ("POST", "/v1/strike-requests", {"feedback_id": ""}, 422),
    ("POST", "/v1/strike-requests", {"feedback_id": 42}, 422),
    ("POST", "/v1/strike-requests", {"feedback_id": "does-not-exist"}, 404),
    ("POST", "/v1/strike-requests", NOT_JSON, 422),
    ("POST", "/v1/strike-requests/1/decision", {"decision": "perhaps"}, 422),
    ("POST", "/v1/strike-requests/abc/decision", {"decision": "keep"}, 422),
    ("POST", "/v1/strike-requests/1/decision", {"decision": "keep", "span_labels": [{"span": -1, "label": "other"}]},
     422),
    ("POST", "/v1/strike-requests/1/decision", {"decision": "keep", "span_labels": [{"span": 0, "label": "x"}]}, 422),
    ("POST", "/v1/strike-requests/1/decision", {"decision": "keep", "comment": "x" * 5000}, 422),
    ("GET", "/v1/feedback?rating=9", None, 422),
    ("GET", "/v1/feedback?limit=0", None, 422),
    ("GET", "/v1/feedback?limit=100000", None, 422),
    ("GET", "/v1/feedback?date_from=yesterday", None, 422),
    ("GET", "/v1/feedback?struck=maybe", None, 422),
    ("GET", "/v1/review-queue?offset=-1", None, 422),
    ("GET", "/v1/sellers/S1/metrics?as_of=never", None, 422),
    ("POST", "/v1/verdicts", [1, 2], 422),
    ("POST", "/v1/verdicts/batch", {"items": [{"rating": 1}]}, 422),
]


@pytest.mark.parametrize("method,path,body,expected", CASES)
def test_bad_input_matrix(client, method, path, body, expected):
    client.post("/v1/feedback", json=record(1))
    seller = new_key(client, "seller", "S1")
    rid = client.post("/v1/strike-requests", json={"feedback_id": "fb-S1-1"}, headers=seller).json()["id"]
    assert rid == 1
    before = (client.get("/v1/feedback").json()["total"], client.get("/v1/review-queue").json()["total"])
    if isinstance(body, bytes):
        r = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    else:
        r = client.request(method, path, json=body)
    assert r.status_code == expected, r.text
    assert "detail" in r.json()
    after = (client.get("/v1/feedback").json()["total"], client.get("/v1/review-queue").json()["total"])
    assert after == before, "a refused request stores nothing"
