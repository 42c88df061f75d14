"""The stateless verdict routes over HTTP (TestClient, real lifespan)."""

import json

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

KEY = "test-key-123"
RECORD = {"feedback_id": "fb-1", "rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "fs.db"
    app = create_app(Settings(api_keys=KEY, max_batch_items=5, database_url=f"sqlite:///{db}"))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = KEY
        yield c


def test_health_and_readiness_need_no_key(client):
    assert client.get("/healthz", headers={"X-API-Key": ""}).json() == {"status": "ok"}
    ready = client.get("/readyz", headers={"X-API-Key": ""})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize("headers", [{"X-API-Key": ""}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer nope"}])
def test_verdict_routes_need_a_valid_key(client, headers):
    with TestClient(client.app) as anon:
        r = anon.post("/v1/verdicts", json=RECORD, headers=headers)
    assert r.status_code == 401


def test_bearer_key_works(client):
    with TestClient(client.app) as c:
        assert c.post("/v1/verdicts", json=RECORD, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_one_verdict(client):
    r = client.post("/v1/verdicts", json=RECORD)
    assert r.status_code == 200
    body = r.json()
    assert body["feedback_id"] == "fb-1"
    assert body["verdict"] == "strike"
    assert body["note"] == "Denna artikel levererades av Amazon och vi tar ansvar för leveransupplevelsen"
    assert body["spans"][0]["text"] == "Paketet kom aldrig fram"


def test_batch_keeps_order(client):
    items = [dict(RECORD, feedback_id=f"fb-{i}", rating=r) for i, r in enumerate([1, 4, 2])]
    r = client.post("/v1/verdicts/batch", json={"items": items})
    assert r.status_code == 200
    assert [v["feedback_id"] for v in r.json()["items"]] == ["fb-0", "fb-1", "fb-2"]


def test_oversize_batch_is_refused(client):
    r = client.post("/v1/verdicts/batch", json={"items": [RECORD] * 6})
    assert r.status_code == 413
    assert "limit is 5" in r.json()["detail"]


@pytest.mark.parametrize(
    "body,field",
    [
        (dict(RECORD, rating=9), "rating"),
        ({k: v for k, v in RECORD.items() if k != "rating"}, "rating"),
        (dict(RECORD, fulfillment_channel="XYZ"), "fulfillment_channel"),
        (dict(RECORD, comment="  "), "comment"),
        (dict(RECORD, comment="x" * 50_000), "comment"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, body, field):
    r = client.post("/v1/verdicts", json=body)
    assert r.status_code == 422
    assert any(field in err["loc"] for err in r.json()["detail"])


def test_invalid_json_is_422(client):
    r = client.post("/v1/verdicts", content=b'{"rating": 1,', headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_invalid_utf8_is_a_4xx_with_a_json_body(client):
    r = client.post("/v1/verdicts", content=b"\xff\xfe not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("field", ["feedback_id", "comment", "buyer_email"])
def test_lone_surrogates_are_422_not_500(client, field):
    raw = dict(RECORD, buyer_email="x@example.com")
    raw[field] = "a\ud800b" if field != "buyer_email" else "a\ud800@example.com"
    payload = json.dumps(raw).encode()  # json escapes the surrogate as \\ud800
    r = client.post("/v1/verdicts", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert "\\ud800" not in r.text and "example.com" not in r.text


def test_body_limit_holds_for_declared_and_chunked_uploads(tmp_path):
    app = create_app(Settings(api_keys=KEY, max_body_bytes=2_000, database_url=f"sqlite:///{tmp_path}/l.db"))
    big = json.dumps({"items": [RECORD] * 40}).encode()
    with TestClient(app) as c:
        declared = c.post("/v1/verdicts/batch", content=big, headers={"X-API-Key": KEY,
                                                                       "Content-Type": "application/json"})
        chunked = c.post("/v1/verdicts/batch", content=(big[i : i + 500] for i in range(0, len(big), 500)),
                         headers={"X-API-Key": KEY, "Content-Type": "application/json"})
        small = c.post("/v1/verdicts", json=RECORD, headers={"X-API-Key": KEY})
    assert declared.status_code == 413 and chunked.status_code == 413
    assert "2000 bytes" in chunked.json()["detail"]
    assert small.status_code == 200
