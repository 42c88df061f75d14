"""PostgreSQL goes away while a real `feedback-strike serve` process is serving, and comes back.

The service reaches its own fresh database through a TCP proxy this test controls (the shared
PostgreSQL server is never stopped).  While the proxy is cut, every route that needs the database
answers 503 with Retry-After (not 500, and within seconds, never hanging), suggestions keep
working for keys the process verified before the outage, and once the proxy forwards again the
service recovers by itself, with nothing written before the outage lost.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from service import crud
from service.db import make_engine, migrate, session_factory, transaction
from service.routes.review import COOKIE
from tests.service.realserver import start_server
from tests.service.tcpproxy import TcpProxy
from tests.service.world import record

ADMIN = "outage-test-admin-key"
VERDICT = {"rating": 1, "comment": "Paketet kom aldrig fram.", "fulfillment_channel": "AFN"}


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


def keys_for(pg_url: str) -> dict[str, str]:
    engine = make_engine(pg_url)
    migrate(engine)
    try:
        with transaction(session_factory(engine)) as session:
            return {"seller": crud.create_key(session=session, role="seller", name="s", seller_id="SELLER-A")[1],
                    "reviewer": crud.create_key(session=session, role="reviewer", name="r")[1],
                    "unused": crud.create_key(session=session, role="seller", name="u", seller_id="SELLER-A")[1]}
    finally:
        engine.dispose()


@pytest.fixture
def served(pg_url, tmp_path):
    proxy = TcpProxy()
    keys = keys_for(pg_url)
    server = start_server(tmp_path, "outage", {"DATABASE_URL": through(pg_url, proxy.port),
                                               "FEEDBACK_STRIKE_API_KEYS": ADMIN})
    yield server, proxy, keys
    proxy.close()
    server.stop()


def requests_while_down(seller: str, reviewer: str) -> list[tuple[str, str, dict]]:
    """(method, path, request kwargs) of routes that need the database."""
    return [
        ("GET", "/v1/feedback", {"headers": {"X-API-Key": seller}}),
        ("POST", "/v1/feedback", {"headers": {"X-API-Key": seller}, "json": record("SELLER-A", 77)}),
        ("GET", "/v1/sellers/SELLER-A/metrics", {"headers": {"X-API-Key": seller}}),
        ("POST", "/v1/strike-requests", {"headers": {"X-API-Key": seller}, "json": {"feedback_id": "fb-a-2"}}),
        ("GET", "/v1/strike-requests/1", {"headers": {"X-API-Key": seller}}),
        ("GET", "/v1/review-queue", {"headers": {"X-API-Key": reviewer}}),
        ("POST", "/v1/strike-requests/1/decision", {"headers": {"X-API-Key": reviewer}, "json": {"decision": "keep"}}),
        ("GET", "/v1/corrections/export", {"headers": {"X-API-Key": ADMIN}}),
        ("GET", "/v1/admin/audit", {"headers": {"X-API-Key": ADMIN}}),
        ("GET", "/review", {"headers": {"Cookie": f"{COOKIE}={reviewer}"}}),
        ("GET", "/readyz", {}),
    ]


def suggestions_work(client: httpx.Client, keys: dict[str, str]) -> None:
    for key in (keys["seller"], keys["reviewer"], ADMIN):
        r = client.post("/v1/verdicts", json=VERDICT, headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] in ("strike", "needs_review")
    r = client.post("/v1/verdicts/batch", json={"items": [VERDICT] * 3}, headers={"X-API-Key": keys["seller"]})
    assert r.status_code == 200 and len(r.json()["items"]) == 3


def wait_for(check, seconds: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        if time.monotonic() - start > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.25)


def test_postgresql_stopped_while_serving_answers_503_keeps_suggesting_and_recovers(served):
    server, proxy, keys = served
    with httpx.Client(base_url=server.base, timeout=30) as client:
        seller = {"X-API-Key": keys["seller"]}
        assert client.post("/v1/feedback", json={"items": [record("SELLER-A", n) for n in range(1, 4)]},
                           headers=seller).status_code == 200
        assert client.post("/v1/strike-requests", json={"feedback_id": "fb-a-1"}, headers=seller).status_code == 201
        suggestions_work(client, keys)  # every key used once: verified while the database was up

        proxy.cut("refuse")
        for method, path, kwargs in requests_while_down(keys["seller"], keys["reviewer"]):
            started = time.monotonic()
            r = client.request(method, path, **kwargs)
            assert r.status_code == 503, f"{method} {path}: {r.status_code} {r.text[:200]}"
            assert int(r.headers["Retry-After"]) >= 1, f"{method} {path}"
            assert time.monotonic() - started < 10, f"{method} {path} took too long"
        suggestions_work(client, keys)
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics", headers={"X-API-Key": ADMIN}).status_code == 200
        # a key this process never verified cannot be checked now: 503 (retry), not 401
        unknown = client.post("/v1/verdicts", json=VERDICT, headers={"X-API-Key": keys["unused"]})
        assert unknown.status_code == 503

        proxy.restore()
        recovered = wait_for(lambda: client.get("/readyz").status_code == 200, 30)
        for method, path, kwargs in requests_while_down(keys["seller"], keys["reviewer"]):
            r = client.request(method, path, **kwargs)
            assert r.status_code < 500, f"{method} {path} after recovery: {r.status_code} {r.text[:200]}"
        assert client.get("/v1/feedback", headers=seller).json()["total"] == 4, "3 before, 1 after; none lost"
        assert client.post("/v1/verdicts", json=VERDICT, headers={"X-API-Key": keys["unused"]}).status_code == 200
        print(f"recovered {recovered:.1f} s after the database came back")
    log = server.stop()
    assert "Traceback" not in log, "an outage is handled, not crashed through"
    assert "@example" not in log


def test_a_database_that_hangs_is_answered_within_the_connect_timeout(served):
    """A lost network (connections accepted, never answered): a database route answers 503 once the
    connect timeout (5 s) passes instead of hanging; from then on, for the breaker's cool-down, database
    routes answer 503 at once and suggestions do not wait on the database at all."""
    server, proxy, keys = served
    seller = {"X-API-Key": keys["seller"]}
    with httpx.Client(base_url=server.base, timeout=60) as client:
        suggestions_work(client, keys)
        proxy.cut("blackhole")
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: client.get("/v1/feedback", headers=seller), range(3)))
        first = time.monotonic() - started
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert 4 <= first < 15, f"the first answers took {first:.1f} s"
        started = time.monotonic()
        suggestions_work(client, keys)
        assert client.get("/v1/feedback", headers=seller).status_code == 503
        quick = time.monotonic() - started
        assert quick < 2, f"suggestions and 503s waited {quick:.1f} s behind the hung database"
        proxy.restore()
        wait_for(lambda: client.get("/v1/feedback", headers=seller).status_code == 200, 30)
        print(f"first 503 after {first:.1f} s; then suggestions and 503s in {quick:.2f} s")
