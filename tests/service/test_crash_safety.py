"""kill -9 of a real `feedback-strike serve` process while it imports feedback in bulk and while
reviewers decide strike requests, on SQLite and on PostgreSQL.

After each kill the service is started again on the same database, and the database itself is read:
every import the service acknowledged is there, every import is whole or absent (no half of a batch,
no row with a field missing or changed), every decision is complete (request status, decision,
reviewer and time, the struck mark and note on the feedback, exactly one audit event) or absent, and
the restarted service goes on working.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, text

from classifier.decision import note_for
from service.db import make_engine
from service.tables import AuditEvent, Feedback, StrikeRequest
from tests.service.realserver import Server, start_server

KEY = "crash-test-admin-key"
HEADERS = {"X-API-Key": KEY}
BATCH = 40  # records per import request
COMMENTS = ["Paketet kom aldrig fram.", "Never arrived, and nobody answered my e-mails 📦😡",
            "Leveransen var två veckor sen – men varan var hel.", "Skärmen var repad.\nThe box was crushed.",
            "שלום, the parcel was lost. Ändå bra säljare."]


def row(batch: int, i: int) -> dict:
    """The record of position ``i`` in import ``batch``: every field can be checked after a crash."""
    n = batch * BATCH + i
    return {"feedback_id": f"crash-{batch}-{i}", "rating": 1 + n % 5, "comment": f"{COMMENTS[n % 5]} #{n}",
            "fulfillment_channel": "AFN" if n % 3 else "MFN", "shipped_via_mcf": n % 7 == 0,
            "order_id": f"203-{n:07d}-0000000", "seller_id": f"S{n % 3}",
            "buyer_email": f"buyer{n}@example.com", "feedback_date": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}"}


def env(db_url: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "FEEDBACK_STRIKE_API_KEYS": KEY, "FEEDBACK_STRIKE_ABUSE_MAX_REQUESTS": "100000",
            "FEEDBACK_STRIKE_ABUSE_MAX_INELIGIBLE_SHARE": "1.0"}


def hammer(server: Server, jobs: list, send, acked: set, sent: set, unexpected: list,  # type: ignore[no-untyped-def,type-arg]
           threads: int = 4) -> list[threading.Thread]:
    """Send ``jobs`` from ``threads`` threads until they run out or the server dies; record what was sent,
    what the server acknowledged (200) and any answer that was neither that nor an expected refusal."""
    queue = list(jobs)
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=server.base, headers=HEADERS, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop(0)
                    sent.add(job)
                try:
                    response = send(client, job)
                except httpx.HTTPError:
                    return  # the server is gone
                with lock:
                    if response.status_code == 200:
                        acked.add(job)
                    elif response.status_code != 409:  # 409: decided before a kill, sent again after it
                        unexpected.append(f"{job}: {response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    return workers


def kill_when(server: Server, acked: set, at_least: int, workers: list[threading.Thread]) -> None:  # type: ignore[type-arg]
    """SIGKILL the server once ``at_least`` jobs were acknowledged, after a random few milliseconds more,
    while the workers are still sending."""
    deadline = time.monotonic() + 120
    while len(acked) < at_least and time.monotonic() < deadline and any(w.is_alive() for w in workers):
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.05))
    assert any(w.is_alive() for w in workers), "the kill must land while requests are in flight"
    server.kill9()
    for w in workers:
        w.join(timeout=60)


def check_integrity(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        if db_url.startswith("sqlite"):
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        engine.dispose()


def stored_feedback(db_url: str) -> dict[str, Feedback]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {r.feedback_id: r for r in conn.execute(select(Feedback))}
    finally:
        engine.dispose()


def check_imports(db_url: str, batches: int, acked: set[int]) -> Counter:  # type: ignore[type-arg]
    """Every stored row exactly as sent; every import whole or absent; every acknowledged one present."""
    rows = stored_feedback(db_url)
    per_batch: Counter = Counter()  # type: ignore[type-arg]
    for fid, r in rows.items():
        _, b, i = fid.split("-")
        want = row(int(b), int(i))
        got = {"feedback_id": r.feedback_id, "rating": r.rating, "comment": r.comment,
               "fulfillment_channel": r.fulfillment_channel, "shipped_via_mcf": r.shipped_via_mcf,
               "order_id": r.order_id, "seller_id": r.seller_id, "buyer_email": r.buyer_email,
               "feedback_date": r.feedback_date.isoformat()}
        assert got == want, f"row {fid} is not what was sent"
        assert r.struck is False and r.note is None
        per_batch[int(b)] += 1
    half = {b: n for b, n in per_batch.items() if n != BATCH}
    assert not half, f"half-written imports: {half}"
    missing = acked - set(per_batch)
    assert not missing, f"acknowledged imports lost: {sorted(missing)}"
    assert set(per_batch) <= set(range(batches))
    return per_batch


def check_decisions(db_url: str, acked: set[int]) -> tuple[int, int]:
    """Each request pending and untouched, or decided completely with one audit event; returns the counts."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            requests = list(conn.execute(select(StrikeRequest)))
            feedback = {r.feedback_id: r for r in conn.execute(select(Feedback))}
            events = Counter((e.request_id, e.action) for e in conn.execute(select(AuditEvent)))
            decided_events = {e.request_id: e for e in conn.execute(select(AuditEvent)
                                                                    .where(AuditEvent.action == "decided"))}
    finally:
        engine.dispose()
    decided = 0
    for req in requests:
        fb = feedback[req.feedback_id]
        assert events[(req.id, "requested")] == 1
        if req.status == "pending":
            assert (req.decision, req.decided_by, req.decided_at) == (None, None, None)
            assert events[(req.id, "decided")] == 0 and fb.struck is False and fb.note is None
            continue
        decided += 1
        assert req.status == "decided" and req.decision == expected_decision(req.id)
        assert req.decided_by and req.decided_at is not None
        assert events[(req.id, "decided")] == 1
        assert decided_events[req.id].details["decision"] == req.decision
        if req.decision == "strike":
            assert fb.struck is True and fb.struck_at is not None
            assert fb.note == note_for("sv" if req.language == "sv" else "en")
        else:
            assert fb.struck is False and fb.note is None and fb.struck_at is None
    lost = acked - {r.id for r in requests if r.status == "decided"}
    assert not lost, f"acknowledged decisions lost: {sorted(lost)}"
    return decided, len(requests) - decided


def expected_decision(request_id: int) -> str:
    return "strike" if request_id % 2 else "keep"


def crash_scenario(db_url: str, tmp_path, kills: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    figures: dict[str, object] = {}
    batches = 30 * kills + 10
    # -- bulk import, killed `kills` times ----------------------------------------------------------
    acked: set[int] = set()
    sent: set[int] = set()

    unexpected: list[str] = []

    def send_import(client: httpx.Client, b: int) -> httpx.Response:
        return client.post("/v1/feedback", json={"items": [row(b, i) for i in range(BATCH)]})

    server = start_server(tmp_path, "import-0", env(db_url))
    for k in range(kills):
        todo = [b for b in range(batches) if b not in acked]
        workers = hammer(server, todo, send_import, acked, sent, unexpected)
        kill_when(server, acked, len(acked) + 8, workers)
        check_integrity(db_url)
        per_batch = check_imports(db_url, batches, acked)
        figures[f"import kill {k + 1}"] = (f"{len(acked)} imports acknowledged, {len(per_batch)} stored whole, "
                                           f"{len(sent - acked)} were in flight")
        server = start_server(tmp_path, f"import-{k + 1}", env(db_url))
    # the restarted service finishes the job; an import sent again is all duplicates and changes nothing
    stored = set(check_imports(db_url, batches, acked))
    with httpx.Client(base_url=server.base, headers=HEADERS, timeout=60) as client:
        for b in [b for b in range(batches) if b not in stored] + sorted(stored)[:2]:
            r = client.post("/v1/feedback", json={"items": [row(b, i) for i in range(BATCH)]})
            assert r.status_code == 200
            assert r.json()["created"] == (0 if b in stored else BATCH)
        assert client.get("/v1/feedback", params={"limit": 1}).json()["total"] == batches * BATCH
    check_imports(db_url, batches, set(range(batches)))

    # -- decisions, killed `kills` times ------------------------------------------------------------
    n_requests = 100 * kills + 30
    with httpx.Client(base_url=server.base, headers=HEADERS, timeout=60) as client:
        for b in range(n_requests):
            r = client.post("/v1/strike-requests", json={"feedback_id": f"crash-{b // BATCH}-{b % BATCH}"})
            assert r.status_code == 201, r.text
            assert r.json()["id"] == b + 1
    decided_ok: set[int] = set()
    decided_sent: set[int] = set()

    def send_decision(client: httpx.Client, rid: int) -> httpx.Response:
        return client.post(f"/v1/strike-requests/{rid}/decision",
                           json={"decision": expected_decision(rid), "comment": f"decided by the crash test {rid}"})

    for k in range(kills):
        todo = [rid for rid in range(1, n_requests + 1) if rid not in decided_ok]
        workers = hammer(server, todo, send_decision, decided_ok, decided_sent, unexpected)
        kill_when(server, decided_ok, len(decided_ok) + 30, workers)
        check_integrity(db_url)
        decided, pending = check_decisions(db_url, decided_ok)
        figures[f"decision kill {k + 1}"] = (f"{len(decided_ok)} decisions acknowledged, {decided} stored whole, "
                                             f"{pending} pending, {len(decided_sent - decided_ok)} were in flight")
        server = start_server(tmp_path, f"decide-{k + 1}", env(db_url))
    decided_now = check_decisions(db_url, decided_ok)[0]
    with httpx.Client(base_url=server.base, headers=HEADERS, timeout=60) as client:
        assert client.get("/v1/review-queue").json()["total"] == n_requests - decided_now
        while items := client.get("/v1/review-queue", params={"limit": 200}).json()["items"]:
            for item in items:
                rid = item["id"]
                r = client.post(f"/v1/strike-requests/{rid}/decision", json={"decision": expected_decision(rid)})
                assert r.status_code == 200
        again = client.post("/v1/strike-requests/1/decision", json={"decision": "keep"})
        assert again.status_code == 409, "a decided request stays decided after the crash"
        assert client.get("/v1/review-queue").json()["total"] == 0
    assert check_decisions(db_url, set(range(1, n_requests + 1))) == (n_requests, 0)
    assert not unexpected, "\n".join(unexpected)
    log = server.stop()
    assert "@example.com" not in log, "no buyer e-mail in the logs, crash or not"
    figures["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return figures


def test_kill_9_during_bulk_import_and_during_decisions(db_url, tmp_path):
    random.seed(7)
    figures = crash_scenario(db_url, tmp_path, kills=1)
    print(figures)


@pytest.mark.slow
def test_kill_9_again_and_again(db_url, tmp_path):
    random.seed(int(os.environ.get("FEEDBACK_STRIKE_CRASH_SEED", "11")))
    figures = crash_scenario(db_url, tmp_path, kills=int(os.environ.get("FEEDBACK_STRIKE_CRASH_KILLS", "5")))
    print(figures)
