"""The per-request overhead fixes (docs/benchmarks.md) keep their behaviour: the API-key cache and its
revocation bound, the pure-ASGI observability middleware, and suggestion routes without thread hops."""

from __future__ import annotations

import inspect
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.middleware.base import BaseHTTPMiddleware

from service import auth, crud
from service.app import create_app
from service.config import Settings
from service.db import transaction
from service.routes import verdicts
from service.tables import ApiKey
from tests.service.conftest import ADMIN_KEY, new_key

VERDICT = {"feedback_id": "fb-9", "rating": 1, "comment": "Paketet kom aldrig fram.", "fulfillment_channel": "AFN"}


@pytest.fixture
def app_client(tmp_path):
    def make(**settings):  # type: ignore[no-untyped-def]
        app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/fs.db", api_keys=ADMIN_KEY, **settings))
        return TestClient(app)

    return make


@pytest.fixture
def lookups(monkeypatch):
    calls: list[str] = []
    real = crud.find_key

    def counting(*, session, key_hash):  # type: ignore[no-untyped-def]
        calls.append(key_hash)
        return real(session=session, key_hash=key_hash)

    monkeypatch.setattr(crud, "find_key", counting)
    return calls


def test_a_verified_key_is_not_looked_up_again_within_the_cache_bound(app_client, lookups):
    with app_client() as client:
        key = new_key(client, "reviewer")
        for _ in range(5):
            assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200
        assert len(lookups) == 1


def test_unknown_keys_are_never_cached(app_client, lookups):
    with app_client() as client:
        for _ in range(3):
            assert client.post("/v1/verdicts", json=VERDICT, headers={"X-API-Key": "fs_nobody"}).status_code == 401
        assert len(lookups) == 3
        # a key created after a refusal works at once
        key = new_key(client, "seller", seller_id="S1")
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200


def test_cache_of_zero_seconds_looks_up_every_request(app_client, lookups):
    with app_client(auth_cache_seconds=0) as client:
        key = new_key(client, "reviewer")
        for _ in range(3):
            assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200
        assert len(lookups) == 3


def test_revoking_in_this_process_refuses_the_key_at_once(app_client):
    with app_client(auth_cache_seconds=3600) as client:
        key = new_key(client, "admin")
        assert client.get("/v1/feedback", headers=key).status_code == 200
        with transaction(client.app.state.sessions) as session:
            row = session.query(ApiKey).filter(ApiKey.key_hash == auth.hash_key(key["X-API-Key"])).one()
            crud.revoke_key(session=session, key_id=row.id)
        assert client.get("/v1/feedback", headers=key).status_code == 401
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 401


def test_a_lookup_during_a_revocation_does_not_put_the_key_back(app_client):
    """Review finding: revoke_key forgot the key before its transaction committed, so a request in between
    read the key as valid and cached it again, and the revoked key kept working for the cache's lifetime."""
    with app_client(auth_cache_seconds=3600) as client:
        key = new_key(client, "admin")
        with transaction(client.app.state.sessions) as session:
            row = session.query(ApiKey).filter(ApiKey.key_hash == auth.hash_key(key["X-API-Key"])).one()
            crud.revoke_key(session=session, key_id=row.id)
            # not committed yet: this request still finds the key valid in the database
            assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 401
        assert client.get("/v1/feedback", headers=key).status_code == 401


def test_a_lookup_that_began_before_a_revocation_does_not_remember_the_key():
    principal = auth.Principal(name="k", role="admin")
    keys = auth._VerifiedKeys()
    generation = keys.generation("h")
    keys.forget("h")  # revoked while the lookup ran
    keys.remember("h", principal, generation)
    assert keys.recent("h", 3600) is None
    keys.remember("h", principal, keys.generation("h"))
    assert keys.recent("h", 3600) == principal
    assert keys.recent("h", 0) is None  # a bound of 0 s never answers from memory


def test_a_revocation_made_elsewhere_is_bounded_by_the_cache_seconds(app_client):
    """Another process (the keys CLI, a replica) revokes in the database only: this process keeps the key
    for at most auth_cache_seconds since it last verified it, then refuses it."""
    with app_client(auth_cache_seconds=3600) as client:
        key = new_key(client, "reviewer")
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200
        with transaction(client.app.state.sessions) as session:  # no forget_key: as another process would
            session.execute(update(ApiKey).where(ApiKey.key_hash == auth.hash_key(key["X-API-Key"]))
                            .values(revoked_at=crud.now()))
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 200  # within the bound
        client.app.state.settings.auth_cache_seconds = 0  # the bound has passed
        assert client.post("/v1/verdicts", json=VERDICT, headers=key).status_code == 401


def test_request_id_header_metrics_and_log_on_every_answer(app_client, caplog):
    with app_client() as client, caplog.at_level(logging.INFO, logger="feedback_strike.access"):
        ok = client.post("/v1/verdicts", json=VERDICT, headers={"X-API-Key": ADMIN_KEY, "X-Request-ID": "r-1"})
        unauthorized = client.post("/v1/verdicts", json=VERDICT)
        invalid = client.post("/v1/verdicts", json=dict(VERDICT, rating=9), headers={"X-API-Key": ADMIN_KEY,
                                                                                    "X-Request-ID": "bad id!"})
        missing = client.get("/no-such-route")
        assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "r-1"
        assert unauthorized.status_code == 401 and len(unauthorized.headers["X-Request-ID"]) == 32
        assert invalid.status_code == 422 and invalid.headers["X-Request-ID"] not in ("bad id!", "")
        assert missing.status_code == 404 and missing.headers["X-Request-ID"]
        assert ok.headers.get_list("X-Request-ID") == ["r-1"]
        metrics = client.get("/metrics", headers={"X-API-Key": ADMIN_KEY}).text
    for status in ("200", "401", "422"):
        assert f'route="/v1/verdicts",status="{status}"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    lines = [r.fields for r in caplog.records if r.name == "feedback_strike.access"]
    assert [(f["route"], f["status"]) for f in lines[:4]] == [
        ("/v1/verdicts", 200), ("/v1/verdicts", 401), ("/v1/verdicts", 422), ("unmatched", 404)]
    assert lines[0]["request_id"] == "r-1" and lines[0]["duration_ms"] >= 0


def test_no_base_http_middleware_in_the_stack(app_client):
    with app_client() as client:
        assert not [m for m in client.app.user_middleware if m.cls is BaseHTTPMiddleware]


def test_suggestion_routes_and_their_dependencies_need_no_worker_thread():
    """A sync route or dependency costs a worker-thread hop per request (and FastAPI validates a sync route's
    answer in another); the model's own work on a batch or a long comment is sent to a thread inside."""
    check = auth.roles("seller").dependency
    for fn in (verdicts.suggest_verdict, verdicts.suggest_verdicts, verdicts.get_model, auth.principal_dependency,
               check):
        assert inspect.iscoroutinefunction(fn), fn


@pytest.mark.parametrize("length", [20, verdicts.INLINE_MAX_CHARS, verdicts.INLINE_MAX_CHARS + 1, 3000])
def test_short_and_long_comments_get_the_models_own_verdict(app_client, length):
    """Comments up to INLINE_MAX_CHARS are answered on the event loop, longer ones in a worker thread; the
    answer is the model's either way."""
    text = ("Paketet kom två veckor för sent och kartongen var trasig. " * 80)[:length]
    record = dict(VERDICT, comment=text)
    with app_client() as client:
        got = client.post("/v1/verdicts", json=record, headers={"X-API-Key": ADMIN_KEY})
        assert got.status_code == 200
        assert got.json() == client.app.state.model.suggest(record).to_dict()
        batch = client.post("/v1/verdicts/batch", json={"items": [record, VERDICT]}, headers={"X-API-Key": ADMIN_KEY})
        assert batch.status_code == 200
        assert batch.json()["items"][0] == got.json()


def test_batches_run_the_model_one_at_a_time_per_process(app_client):
    """Concurrent batches queue for one model thread (the GIL would serialize them anyway; 40 at once only
    held 40 batches' arrays in memory and finished all of them late)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    with app_client() as client:
        model = client.app.state.model
        running, most = 0, 0
        lock = threading.Lock()

        class Slow:
            def __getattr__(self, name):  # type: ignore[no-untyped-def]
                return getattr(model, name)

            def suggest_many(self, items):  # type: ignore[no-untyped-def]
                nonlocal running, most
                with lock:
                    running += 1
                    most = max(most, running)
                time.sleep(0.05)
                with lock:
                    running -= 1
                return model.suggest_many(items)

        client.app.state.model = Slow()
        body = {"items": [VERDICT, dict(VERDICT, feedback_id="fb-10")]}
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: client.post("/v1/verdicts/batch", json=body,
                                                           headers={"X-API-Key": ADMIN_KEY}), range(4)))
        assert [a.status_code for a in answers] == [200] * 4
        assert all(len(a.json()["items"]) == 2 for a in answers)
        assert most == 1
        assert client.app.state.model_threads.total_tokens == verdicts.MODEL_THREADS == 1


def test_concurrent_misses_of_one_key_share_one_lookup(app_client, monkeypatch):
    """When a busy key's cache entry expires, the requests in flight wait for one lookup, not one each."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    calls: list[str] = []
    real = crud.find_key

    def slow(*, session, key_hash):  # type: ignore[no-untyped-def]
        calls.append(key_hash)
        time.sleep(0.3)
        return real(session=session, key_hash=key_hash)

    with app_client() as client:
        key = new_key(client, "reviewer")
        monkeypatch.setattr(crud, "find_key", slow)
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: client.post("/v1/verdicts", json=VERDICT, headers=key), range(6)))
            refused = list(pool.map(lambda _: client.post("/v1/verdicts", json=VERDICT,
                                                          headers={"X-API-Key": "fs_unknown"}), range(4)))
        assert [a.status_code for a in answers] == [200] * 6
        assert [a.status_code for a in refused] == [401] * 4
        assert calls.count(auth.hash_key(key["X-API-Key"])) == 1
        assert 1 <= calls.count(auth.hash_key("fs_unknown")) < 4
        assert client.app.state.pending_key_lookups == {}
