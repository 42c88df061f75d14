"""Soak: mixed traffic against a real `feedback-strike serve` on 127.0.0.1 for a while.

Sellers ask for suggestions (single and batch), import feedback, list it, read their metrics and
request strikes; a reviewer reads the queue and the review page and decides; an admin reads the
metrics and the audit trail; one seller floods strike requests on positive ratings.  Required: no
5xx and no dropped connection, resident memory of the server at the end within 10% of what it was
after warming up, and the abuse guard answering 429 (with Retry-After) to the flooding seller while
every other seller is still served.

The default suite runs a short version (FEEDBACK_STRIKE_SOAK_SECONDS, default 40 s, dev and test
comments); ``-m slow`` runs 10 minutes on every corpus comment, on SQLite and PostgreSQL.  A fifth of
the comments get a word never seen before (FEEDBACK_STRIKE_SOAK_NOVEL, default 0.2): the rate at which
the corpus itself still brings new words after 15,000 comments (0.3 a comment), so the per-word
caches grow as they would in service.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import string
import threading
import time
from collections import Counter
from pathlib import Path
from statistics import median

import httpx
import pytest

from service import crud
from service.db import make_engine, migrate, session_factory, transaction
from service.routes.review import COOKIE
from tests.service.realserver import Server, start_server

DATA = Path(__file__).resolve().parents[2] / "data"
ADMIN = "soak-admin-key"
SELLERS = ("S1", "S2", "S3", "S4")
# What the sellers ask strikes for: delivery-only complaints (a seller asking for random feedback would be
# limited by the guard's share of plainly ineligible requests, rightly).
DELIVERY = ["Paketet kom aldrig fram.", "Never arrived.", "Leveransen tog tre veckor.",
            "The parcel was two weeks late.", "Kom en vecka för sent, ingen spårning.",
            "Delivery was late and the courier left it in the rain."]
FLOODER = "FLOOD"
NOVEL = float(os.environ.get("FEEDBACK_STRIKE_SOAK_NOVEL", "0.2"))  # share of comments with a never-seen word


def comments(files: tuple[str, ...]) -> list[str]:
    out = []
    for name in files:
        with open(DATA / name, encoding="utf-8") as fh:
            out.extend(json.loads(line)["comment"] for line in fh if line.strip())
    return sorted(set(out))


def make_keys(db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    migrate(engine)
    try:
        with transaction(session_factory(engine)) as session:
            keys = {s: crud.create_key(session=session, role="seller", name=s, seller_id=s)[1]
                    for s in (*SELLERS, FLOODER)}
            keys["reviewer"] = crud.create_key(session=session, role="reviewer", name="reviewer")[1]
            return keys
    finally:
        engine.dispose()


class Traffic:
    """The load: worker threads drawing mixed requests; every answer's status is counted."""

    def __init__(self, server: Server, keys: dict[str, str], pool: list[str], seed: int) -> None:
        self.server, self.keys, self.pool = server, keys, pool
        self.rng = random.Random(seed)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.failures: list[str] = []
        self.flood: list[int] = []  # the flooding seller's strike-request answers, in order
        self.others_after_flood_limited: Counter[int] = Counter()
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def comment(self, rng: random.Random) -> str:
        text = rng.choice(self.pool)
        if rng.random() < NOVEL:  # names, order numbers, typos: words the service has never seen
            text += " " + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 11)))
        return text[:5000]

    def record(self, rng: random.Random, seller: str, rating: int = 1, comment: str | None = None) -> dict:
        n = next(self.ids)
        return {"feedback_id": f"soak-{seller}-{n}", "rating": rating, "comment": comment or self.comment(rng),
                "fulfillment_channel": "AFN", "order_id": f"203-{n:07d}-0000000", "seller_id": seller,
                "buyer_email": f"buyer{n}@example.com", "feedback_date": "2026-11-20"}

    def note(self, route: str, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[(route, response.status_code)] += 1
            if response.status_code >= 500:
                self.failures.append(f"{route}: {response.status_code} {response.text[:200]}")

    def seller_loop(self, seller: str, seed: int) -> None:
        rng = random.Random(seed)
        key = {"X-API-Key": self.keys[seller]}
        last_request = 0.0
        with httpx.Client(base_url=self.server.base, headers=key, timeout=60) as c:
            while not self.stop.is_set():
                roll = rng.random()
                if roll < 0.45:
                    r = c.post("/v1/verdicts", json={"rating": rng.randint(1, 5), "comment": self.comment(rng),
                                                     "fulfillment_channel": rng.choice(["AFN", "MFN"])})
                    self.note("verdicts", r)
                elif roll < 0.55:
                    items = [{"rating": 1, "comment": self.comment(rng), "fulfillment_channel": "AFN"}
                             for _ in range(10)]
                    self.note("batch", c.post("/v1/verdicts/batch", json={"items": items}))
                elif roll < 0.70:
                    batch = [self.record(rng, seller) for _ in range(rng.randint(1, 20))]
                    self.note("import", c.post("/v1/feedback", json={"items": batch}))
                elif roll < 0.85:
                    self.note("list", c.get("/v1/feedback", params={"limit": 20, "rating": rng.randint(1, 5)}))
                elif roll < 0.93:
                    self.note("metrics", c.get(f"/v1/sellers/{seller}/metrics"))
                elif time.monotonic() - last_request > 4:  # well under the guard's 200 an hour
                    last_request = time.monotonic()
                    rec = self.record(rng, seller, comment=rng.choice(DELIVERY))
                    self.note("import", c.post("/v1/feedback", json=rec))
                    r = c.post("/v1/strike-requests", json={"feedback_id": rec["feedback_id"]})
                    self.note("strike-request", r)
                    with self.lock:
                        if FLOODER in self.limited_sellers():
                            self.others_after_flood_limited[r.status_code] += 1

    def limited_sellers(self) -> set[str]:
        return {FLOODER} if 429 in self.flood else set()

    def flooder_loop(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.server.base, headers={"X-API-Key": self.keys[FLOODER]}, timeout=60) as c:
            while not self.stop.is_set():
                rec = self.record(rng, FLOODER, rating=5)  # a positive rating: plainly ineligible
                self.note("import", c.post("/v1/feedback", json=rec))
                r = c.post("/v1/strike-requests", json={"feedback_id": rec["feedback_id"]})
                self.note("flood", r)
                with self.lock:
                    self.flood.append(r.status_code)
                if r.status_code == 429 and not r.headers.get("Retry-After", "").isdigit():
                    self.failures.append("429 without Retry-After")
                time.sleep(0.2)

    def reviewer_loop(self, seed: int) -> None:
        rng = random.Random(seed)
        key = self.keys["reviewer"]
        with httpx.Client(base_url=self.server.base, headers={"X-API-Key": key}, timeout=60) as c:
            while not self.stop.is_set():
                queue = c.get("/v1/review-queue", params={"limit": 10})
                self.note("queue", queue)
                items = queue.json()["items"] if queue.status_code == 200 else []
                if items:
                    item = rng.choice(items)
                    r = c.post(f"/v1/strike-requests/{item['id']}/decision",
                               json={"decision": rng.choice(["strike", "keep"])})
                    self.note("decision", r)
                    page = c.get(f"/review/requests/{item['id']}", headers={"Cookie": f"{COOKIE}={key}"})
                    self.note("review-page", page)
                self.note("export", c.get("/v1/corrections/export"))
                time.sleep(0.5)

    def admin_loop(self) -> None:
        with httpx.Client(base_url=self.server.base, headers={"X-API-Key": ADMIN}, timeout=60) as c:
            while not self.stop.is_set():
                self.note("prometheus", c.get("/metrics"))
                self.note("audit", c.get("/v1/admin/audit", params={"limit": 50}))
                self.note("guard", c.get("/v1/admin/abuse-guard"))
                self.note("readyz", c.get("/readyz"))
                time.sleep(1)

    def run(self, seconds: float, on_tick) -> None:  # type: ignore[no-untyped-def]
        def guarded(target, *args) -> None:  # type: ignore[no-untyped-def]
            try:
                target(*args)
            except Exception as exc:  # a dropped connection or a timeout is a failure too
                with self.lock:
                    self.failures.append(f"{target.__name__}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=guarded, args=(self.seller_loop, s, i)) for i, s in enumerate(SELLERS)]
        threads += [threading.Thread(target=guarded, args=(self.flooder_loop, 91)),
                    threading.Thread(target=guarded, args=(self.reviewer_loop, 92)),
                    threading.Thread(target=guarded, args=(self.admin_loop,))]
        for t in threads:
            t.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.failures:
            on_tick()
            time.sleep(1)
        self.stop.set()
        for t in threads:
            t.join(timeout=120)


def warm_up(server: Server, key: str, pool: list[str]) -> None:
    """Every comment of the pool once, every route once: what the service keeps from then on is what
    it needs, and growth past it is what the soak measures."""
    with httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=300) as c:
        for i in range(0, len(pool), 1000):
            items = [{"rating": 1, "comment": t, "fulfillment_channel": "AFN"} for t in pool[i : i + 1000]]
            r = c.post("/v1/verdicts/batch", json={"items": items})
            assert r.status_code == 200, r.text


def soak(db_url: str, tmp_path: Path, seconds: float, pool: list[str]) -> dict[str, object]:
    keys = make_keys(db_url)
    server = start_server(tmp_path, "soak", {"DATABASE_URL": db_url, "FEEDBACK_STRIKE_API_KEYS": ADMIN})
    try:
        warm_up(server, ADMIN, pool)
        traffic = Traffic(server, keys, pool, seed=5)
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        traffic.run(seconds, lambda: samples.append((time.monotonic() - started, server.rss())))
    finally:
        log = server.stop()
    assert not traffic.failures, "\n".join(traffic.failures[:20])
    # memory: the start is the steady state after the first fifth of the run (caches of the live
    # traffic filled), the end the last five samples
    settle = [rss for t, rss in samples if t <= max(8.0, seconds / 5)]
    start_rss = max(settle[-3:])
    end_rss = int(median(rss for _, rss in samples[-5:]))
    growth = end_rss / start_rss - 1
    served = sum(traffic.statuses.values())
    figures = {"seconds": seconds, "requests": served, "per_second": round(served / seconds, 1),
               "rss_start_mb": round(start_rss / 1e6), "rss_end_mb": round(end_rss / 1e6),
               "rss_peak_mb": round(max(rss for _, rss in samples) / 1e6), "growth": f"{growth:.1%}",
               "flood": Counter(traffic.flood), "others_after_flood_limited": dict(traffic.others_after_flood_limited),
               "rss_mb_every_10s": [round(rss / 1e6) for t, rss in samples[::10]]}
    print(json.dumps({k: (dict(v) if isinstance(v, Counter) else v) for k, v in figures.items()}))
    print({f"{route} {code}": n for (route, code), n in sorted(traffic.statuses.items())})
    assert not any(code >= 500 for _, code in traffic.statuses), "no 5xx"
    assert growth < 0.10, f"resident memory grew {growth:.1%} ({start_rss} -> {end_rss} bytes)"
    # the guard: the flooder is refused from some point on, and stays refused; the others are served
    assert 429 in traffic.flood, "the flooding seller was never refused"
    first = traffic.flood.index(429)
    assert 10 <= first <= 12, f"refused after {first} requests (the share applies from the 10th)"
    assert set(traffic.flood[first:]) == {429}
    assert traffic.others_after_flood_limited[201] >= 1 and 429 not in traffic.others_after_flood_limited
    assert "Traceback" not in log and "@example.com" not in log
    return figures


def test_soak_short(tmp_path):
    seconds = float(os.environ.get("FEEDBACK_STRIKE_SOAK_SECONDS", "40"))
    soak(f"sqlite:///{tmp_path}/soak.db", tmp_path, seconds, comments(("dev.jsonl", "test.jsonl")))


@pytest.mark.slow
def test_soak_ten_minutes(db_url, tmp_path):
    seconds = float(os.environ.get("FEEDBACK_STRIKE_SOAK_SECONDS", "600"))
    soak(db_url, tmp_path, seconds, comments(("train.jsonl", "dev.jsonl", "test.jsonl")))
