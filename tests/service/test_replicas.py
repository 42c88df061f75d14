"""Two real `feedback-strike serve` processes on one PostgreSQL database (docs/deployment.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from service import crud
from service.db import make_engine, session_factory, transaction
from service.tables import ApiKey
from tests.service.conftest import free_port, postgres_database, wait_ready

TODAY = date(2026, 11, 26)
BOOTSTRAP = "created the first admin API key (store it now): "


@dataclass
class Replica:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Deployment:
    db_url: str
    replicas: list[Replica]
    admin: dict[str, str]

    def key(self, role: str, seller_id: str | None = None) -> dict[str, str]:
        engine = make_engine(self.db_url)
        try:
            with transaction(session_factory(engine)) as session:
                _, key = crud.create_key(session=session, role=role, name=f"test-{role}", seller_id=seller_id)
        finally:
            engine.dispose()
        return {"X-API-Key": key}


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    """A fresh database and two replicas started at the same moment, with no bootstrap key configured."""
    with postgres_database() as url:
        env = {k: v for k, v in os.environ.items() if k != "FEEDBACK_STRIKE_API_KEYS"}
        env["DATABASE_URL"] = url
        replicas = []
        for i in range(2):
            port, log = free_port(), tmp_path / f"replica-{i}.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port)],
                                        env=env, stdout=fh, stderr=subprocess.STDOUT)
            replicas.append(Replica(f"http://127.0.0.1:{port}", proc, log))
        try:
            for r in replicas:
                wait_ready(r.base, r.proc, seconds=120, log=r.log)
            printed = [line.split(BOOTSTRAP, 1)[1].strip() for r in replicas for line in r.output().splitlines()
                       if BOOTSTRAP in line]
            engine = make_engine(url)
            with session_factory(engine)() as session:
                keys = list(session.scalars(select(ApiKey)))
            engine.dispose()
            assert len(printed) == 1 and len(keys) == 1 and keys[0].role == "admin", (
                "replicas starting together on an empty database create one admin key between them")
            yield Deployment(url, replicas, {"X-API-Key": printed[0]})
        finally:
            for r in replicas:
                r.proc.terminate()
            for r in replicas:
                try:
                    r.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                    r.proc.wait()
            for r in replicas:
                assert "@example.com" not in r.output(), "buyer e-mail addresses never reach the logs"


def record(i: int, *, rating: int, days_ago: int, seller: str = "S1") -> dict:
    return {"feedback_id": f"fb-{seller}-{i}", "rating": rating, "comment": "Paketet kom aldrig fram.",
            "fulfillment_channel": "AFN", "order_id": f"203-0000000-{i:07d}", "seller_id": seller,
            "buyer_email": f"buyer{i}@example.com", "feedback_date": (TODAY - timedelta(days=days_ago)).isoformat()}


def figures(base: str, headers: dict[str, str]) -> tuple[dict, list[str], int]:
    metrics = httpx.get(f"{base}/v1/sellers/S1/metrics", params={"as_of": TODAY.isoformat()}, headers=headers,
                        timeout=10)
    listed = httpx.get(f"{base}/v1/feedback", params={"struck": "false", "limit": 200}, headers=headers, timeout=10)
    assert metrics.status_code == 200 and listed.status_code == 200, (metrics.text, listed.text)
    return (metrics.json()["windows"], sorted(r["feedback_id"] for r in listed.json()["items"]),
            listed.json()["total"])


def test_two_replicas_give_the_same_feedback_manager_figures(deployment):
    a, b = deployment.replicas
    seller, reviewer = deployment.key("seller", "S1"), deployment.key("reviewer")
    ratings = [1, 2, 5, 3, 4, 1, 5, 2, 1, 4]
    days = [3, 10, 40, 100, 200, 400, 5, 70, 20, 1]
    # Half the import through each replica; one record is sent to both (idempotent on feedback_id).
    first = httpx.post(f"{a.base}/v1/feedback", headers=seller, timeout=30,
                       json={"items": [record(i, rating=ratings[i], days_ago=days[i]) for i in range(6)]})
    second = httpx.post(f"{b.base}/v1/feedback", headers=seller, timeout=30,
                        json={"items": [record(i, rating=ratings[i], days_ago=days[i]) for i in range(5, 10)]})
    assert first.json() == {"created": 6, "duplicates": []}
    assert second.json() == {"created": 4, "duplicates": ["fb-S1-5"]}
    rid = httpx.post(f"{a.base}/v1/strike-requests", json={"feedback_id": "fb-S1-0"}, headers=seller,
                     timeout=30).json()["id"]
    assert httpx.post(f"{b.base}/v1/strike-requests/{rid}/decision", json={"decision": "strike"}, headers=reviewer,
                      timeout=30).status_code == 200

    seen_a, seen_b = figures(a.base, seller), figures(b.base, seller)
    assert seen_a == seen_b
    windows, unstruck, total = seen_a
    assert total == 9 and "fb-S1-0" not in unstruck
    # Expected from the records themselves: fb-S1-0 (rating 1, 3 days ago) is struck.
    assert windows["30d"]["counts"] == {"positive": 2, "neutral": 0, "negative": 2} and windows["30d"]["struck"] == 1
    assert windows["90d"]["counts"] == {"positive": 3, "neutral": 0, "negative": 3}
    assert windows["lifetime"]["counts"] == {"positive": 4, "neutral": 1, "negative": 4}
    assert windows["lifetime"]["struck"] == 1 and windows["lifetime"]["total"] == 9


def test_a_decision_raced_across_both_replicas_is_applied_once(deployment):
    a, b = deployment.replicas
    seller = deployment.key("seller", "S1")
    reviewers = [deployment.key("reviewer") for _ in range(8)]
    items = [record(i, rating=1, days_ago=2) for i in range(5)]
    assert httpx.post(f"{a.base}/v1/feedback", headers=seller, json={"items": items}, timeout=30).status_code == 200
    for i in range(5):  # five requests, each raced by 16 decisions: 8 through each replica, strike and keep mixed
        rid = httpx.post(f"{(a if i % 2 else b).base}/v1/strike-requests", json={"feedback_id": f"fb-S1-{i}"},
                         headers=seller, timeout=30).json()["id"]
        start = threading.Barrier(16)

        def decide(n: int, rid: int = rid, start: threading.Barrier = start) -> tuple[int, str]:
            replica, decision = (a, b)[n % 2], ("strike", "keep")[(n // 2) % 2]
            with httpx.Client(timeout=30) as http:
                start.wait()
                r = http.post(f"{replica.base}/v1/strike-requests/{rid}/decision", json={"decision": decision},
                              headers=reviewers[n % 8])
            return r.status_code, decision

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(decide, range(16)))
        codes = sorted(code for code, _ in results)
        assert codes == [200] + [409] * 15, results
        winner = next(decision for code, decision in results if code == 200)

        events = httpx.get(f"{a.base}/v1/admin/audit", params={"request_id": rid}, headers=deployment.admin,
                           timeout=10).json()["items"]
        assert [e["action"] for e in events] == ["requested", "decided"], "the audit trail shows one decision"
        assert events[1]["details"]["decision"] == winner
        for replica in (a, b):
            req = httpx.get(f"{replica.base}/v1/strike-requests/{rid}", headers=deployment.admin, timeout=10).json()
            assert req["status"] == "decided" and req["decision"] == winner
            assert req["feedback"]["struck"] is (winner == "strike")


def test_workers_sharing_one_sqlite_file_migrate_and_bootstrap_once(tmp_path):
    """`serve --workers 2` on a new SQLite file: both processes migrate and start, one admin key between them."""
    env = {k: v for k, v in os.environ.items() if k != "FEEDBACK_STRIKE_API_KEYS"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/fs.db"
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port),
                                 "--workers", "2"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, seconds=120, log=log)
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = log.read_text(errors="replace")
    assert out.count(BOOTSTRAP) == 1, out
    engine = make_engine(env["DATABASE_URL"])
    with session_factory(engine)() as session:
        assert [k.role for k in session.scalars(select(ApiKey))] == ["admin"]
    engine.dispose()
    assert "Traceback" not in out
