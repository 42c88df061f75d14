"""Switching models without a restart: the admin route, the pointer watcher, refusals, no mixed answers."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from classifier.artifact import MODEL_FILE, load_model
from classifier.registry import Registry, write_atomic
from service.app import create_app
from service.config import Settings
from service.db import make_engine, migrate
from tests.helpers import copy_registry, save_variant, shipped_model_dir
from tests.service.conftest import ADMIN_KEY, new_key
from training.corpus import DATA_DIR, load_corpus

OLD, NEW = shipped_model_dir().name, "strict-1"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A registry built once: the shipped version (current), a stricter variant, a scrambled one."""
    reg = copy_registry(tmp_path_factory.mktemp("template") / "models")
    save_variant(reg.root, NEW, strike_max_blocking=0.01)
    save_variant(reg.root, "scrambled-1", scramble_labels=True)
    return reg.root


@pytest.fixture
def reg(template, tmp_path) -> Registry:
    shutil.copytree(template, tmp_path / "models")
    return Registry(tmp_path / "models")


@pytest.fixture(scope="module")
def cases(template) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Records, and what each model answers for each: many of them differ between the two models."""
    lines = load_corpus(DATA_DIR / "test.jsonl")
    records = [{k: line[k] for k in ("feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf")}
               for line in lines]
    models = {v: load_model(template / v) for v in (OLD, NEW)}
    answers = {v: [x.to_dict() for x in m.suggest_many(records)] for v, m in models.items()}
    differ = [i for i in range(len(records)) if answers[OLD][i]["verdict"] != answers[NEW][i]["verdict"]]
    same = [i for i in range(len(records)) if i not in set(differ)]
    chosen = differ[:30] + same[:10]
    assert len(differ) >= 20, "the two models must be told apart by their answers"
    return [records[i] for i in chosen], {v: [a[i] for i in chosen] for v, a in answers.items()}


def make_client(reg: Registry, tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/fs.db", api_keys=ADMIN_KEY,
                              registry_dir=reg.root, **settings))
    client = TestClient(app, raise_server_exceptions=False)  # a server error is a 500 to count
    client.headers["X-API-Key"] = ADMIN_KEY
    return client


class Firing:
    """Threads posting records (single and batch) until stopped; every response is kept with its record index."""

    def __init__(self, post: Callable[[str, Any], tuple[int, Any]], n_records: int, threads: int = 4) -> None:
        self.post, self.n = post, n_records
        self.results: list[tuple[float, float, str, Any, int, Any]] = []  # (sent, received, kind, index, status, body)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def start(self, records: list[dict[str, Any]]) -> Firing:
        self.records = records
        for t in self.threads:
            t.start()
        return self

    def _run(self, seed: int) -> None:
        for k in itertools.count(seed * 7):
            if self.stop.is_set():
                return
            i = k % self.n
            sent = time.monotonic()
            # every third request a batch of all the records: long enough that some are in flight at the switch
            kind, index = ("batch", [(i + j) % self.n for j in range(self.n)]) if k % 3 == 0 else ("single", i)
            try:
                if kind == "batch":
                    status, body = self.post("/v1/verdicts/batch", {"items": [self.records[j] for j in index]})
                else:
                    status, body = self.post("/v1/verdicts", self.records[i])
            except Exception as exc:  # a failure to count, not a thread to lose
                status, body = -1, repr(exc)
            with self.lock:
                self.results.append((sent, time.monotonic(), kind, index, status, body))

    def finish(self) -> list[tuple[float, float, str, Any, int, Any]]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        return self.results


def check_answers(results, answers) -> dict[str, int]:
    """Zero failures; every answer is exactly what the model it names gives for that record."""
    failures = [(status, body) for *_, status, body in results if status != 200]
    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:2]}"
    seen = {OLD: 0, NEW: 0}
    for _, _, kind, index, _, body in results:
        items = body["items"] if kind == "batch" else [body]
        indices = index if kind == "batch" else [index]
        versions = {item["model_version"] for item in items}
        assert len(versions) == 1, "one request, one model"
        (version,) = versions
        assert version in answers, f"unknown model_version {version}"
        for item, i in zip(items, indices, strict=True):
            assert item == answers[version][i], "the answer is what the model it names gives for that record"
        seen[version] += 1
    return seen


def test_admin_reload_under_load_fails_nothing_and_mixes_nothing(reg, tmp_path, cases):
    records, answers = cases
    with make_client(reg, tmp_path, watch_model_pointer=False) as client:
        assert client.get("/readyz").json()["model_version"] == OLD

        def post(path: str, body: Any) -> tuple[int, Any]:
            r = client.post(path, json=body)
            return r.status_code, r.json()

        firing = Firing(post, len(records)).start(records)
        time.sleep(1.0)
        reg.promote(NEW)  # the pointer moves; with no watcher, this process switches on the admin route
        time.sleep(0.5)
        assert client.get("/readyz").json()["model_version"] == OLD
        r = client.post("/v1/admin/model/reload")
        switched_at = time.monotonic()
        time.sleep(1.0)
        results = firing.finish()
        assert r.status_code == 200, r.text
        assert (r.json()["model_version"], r.json()["previous"], r.json()["changed"]) == (NEW, OLD, True)
        seen = check_answers(results, answers)
        assert seen[OLD] > 10 and seen[NEW] > 10, seen
        late = [body for sent, _, kind, _, _, body in results if sent > switched_at]
        assert late and all((b["items"][0] if "items" in b else b)["model_version"] == NEW for b in late)

        again = client.post("/v1/admin/model/reload").json()
        assert (again["model_version"], again["changed"]) == (NEW, False)
        assert client.get("/readyz").json()["model_version"] == NEW
        metrics = client.get("/metrics").text
        assert f'feedback_strike_model_info{{version="{NEW}"}} 1.0' in metrics
        assert f'version="{OLD}"' not in metrics
        assert 'feedback_strike_model_reloads_total{outcome="switched"} 1.0' in metrics


def test_only_admins_may_reload(reg, tmp_path):
    with make_client(reg, tmp_path, watch_model_pointer=False) as client:
        for role, sid in (("seller", "S1"), ("reviewer", None)):
            assert client.post("/v1/admin/model/reload", headers=new_key(client, role, sid)).status_code == 403
            assert client.get("/v1/admin/model", headers=new_key(client, role, sid)).status_code == 403
        assert client.post("/v1/admin/model/reload", headers={"X-API-Key": "nope"}).status_code == 401
        state = client.get("/v1/admin/model").json()
        assert state["model_version"] == OLD and state["watching_pointer"] is False


def test_the_served_model_is_out_of_the_cyclic_collectors_reach_after_start_and_reload(reg, tmp_path):
    """A full collection over a loaded model took ~85 ms (a pause for every request in flight), so the
    holder freezes what is alive after each switch; the model before a switch is released again."""
    import gc
    import weakref

    with make_client(reg, tmp_path, watch_model_pointer=False) as client:
        first = client.app.state.model
        assert gc.get_freeze_count() > 0 and not any(o is first for o in gc.get_objects())
        gone = weakref.ref(first)
        del first
        write_atomic(reg.pointer, (NEW + "\n").encode())
        assert client.post("/v1/admin/model/reload").json()["model_version"] == NEW
        assert not any(o is client.app.state.model for o in gc.get_objects())
        gc.collect()
        assert gone() is None  # the old model was not kept alive by the freeze


def damage(reg: Registry, how: str) -> None:
    """Point CURRENT at a broken artifact the way a bad copy, an attacker or a typo would."""
    target = NEW
    if how == "flipped byte":
        data = bytearray((reg.root / NEW / MODEL_FILE).read_bytes())
        data[len(data) // 2] ^= 0x01
        (reg.root / NEW / MODEL_FILE).write_bytes(bytes(data))
    elif how == "truncated":
        (reg.root / NEW / MODEL_FILE).write_bytes((reg.root / NEW / MODEL_FILE).read_bytes()[:4096])
    elif how == "swapped pickle":  # a whole other model.joblib, with the manifest left as it was
        shutil.copy(reg.root / OLD / MODEL_FILE, reg.root / NEW / MODEL_FILE)
    elif how == "smoke test":
        target = "scrambled-1"
    elif how == "missing version":
        target = "not-there-1"
    write_atomic(reg.pointer, (target + "\n").encode())


REFUSALS = [("flipped byte", 422, "checksum mismatch"), ("truncated", 422, "checksum mismatch"),
            ("swapped pickle", 422, "checksum mismatch"), ("smoke test", 422, "smoke test failed"),
            ("missing version", 409, "no version 'not-there-1'")]


@pytest.mark.parametrize("how,status,reason", REFUSALS)
def test_a_broken_artifact_is_refused_and_the_old_model_keeps_serving(reg, tmp_path, how, status, reason):
    with make_client(reg, tmp_path, watch_model_pointer=False) as client:
        damage(reg, how)
        r = client.post("/v1/admin/model/reload")
        assert r.status_code == status and reason in r.json()["detail"], r.text
        assert r.json()["model_version"] == OLD
        v = client.post("/v1/verdicts", json={"rating": 1, "comment": "Never arrived.", "fulfillment_channel": "AFN"})
        assert v.status_code == 200 and v.json()["model_version"] == OLD
        assert client.get("/readyz").json()["model_version"] == OLD
        assert reason in client.get("/v1/admin/model").json()["last_error"]
        assert 'feedback_strike_model_reloads_total{outcome="refused"} 1.0' in client.get("/metrics").text


def test_the_watcher_follows_promotions_and_rollbacks_and_logs_refusals(reg, tmp_path, caplog):
    def wait_for(client: TestClient, version: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if client.get("/readyz").json()["model_version"] == version:
                return
            time.sleep(0.05)
        pytest.fail(f"the service did not switch to {version} within {seconds} s")

    caplog.set_level("INFO", logger="feedback_strike.model")
    with make_client(reg, tmp_path, model_poll_seconds=0.1) as client:
        assert client.get("/v1/admin/model").json()["watching_pointer"] is True
        reg.promote(NEW)
        wait_for(client, NEW)
        damage(reg, "truncated")  # NEW's file, while NEW serves from memory: the serving model is unaffected
        write_atomic(reg.pointer, b"scrambled-1\n")
        time.sleep(1.0)
        assert client.get("/readyz").json()["model_version"] == NEW
        refusals = [r for r in caplog.records if r.getMessage().startswith("model reload refused")]
        assert len(refusals) == 1, "a refused pointer is logged once, not at every poll"
        assert "smoke test failed" in refusals[0].fields["reason"]
        write_atomic(reg.pointer, (NEW + "\n").encode())
        reg.rollback()
        wait_for(client, OLD)
        body = client.post("/v1/verdicts", json={"rating": 1, "comment": "Kom aldrig.", "fulfillment_channel": "AFN"})
        assert body.json()["model_version"] == OLD
        assert any(r.getMessage() == f"model switched from {NEW} to {OLD}" for r in caplog.records)


def test_a_pinned_model_dir_is_not_watched(reg, tmp_path):
    with make_client(reg, tmp_path, model_dir=reg.root / NEW, model_poll_seconds=0.1) as client:
        state = client.get("/v1/admin/model").json()
        assert state["model_version"] == NEW and state["watching_pointer"] is False
        assert "pinned" in state["source"]
        write_atomic(reg.pointer, b"scrambled-1\n")
        time.sleep(0.5)
        assert client.get("/readyz").json()["model_version"] == NEW
        r = client.post("/v1/admin/model/reload")  # reloads the pinned directory, not the pointer
        assert r.status_code == 200 and r.json()["model_version"] == NEW


def test_every_worker_of_a_real_server_follows_a_promotion_under_load(reg, tmp_path, cases):
    """`serve --workers 2` with the pointer watcher: promote while requests flow; then a refused pointer."""
    import httpx

    from tests.service.test_real_server import free_port, wait_ready

    records, answers = cases
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/fs.db", "FEEDBACK_STRIKE_API_KEYS": "real-key",
           "FEEDBACK_STRIKE_REGISTRY_DIR": str(reg.root), "FEEDBACK_STRIKE_MODEL_POLL_SECONDS": "0.3"}
    env.pop("FEEDBACK_STRIKE_MODEL_DIR", None)
    migrate(make_engine(env["DATABASE_URL"]))  # two workers migrating one new SQLite file at once can collide
    log_path = tmp_path / "server.log"  # a file, not a pipe: a full pipe would block the workers' logging
    log_file = open(log_path, "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    # one client, no keep-alive: every request is a new connection, so both workers get some
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": "real-key"}, timeout=60,
                        limits=httpx.Limits(max_keepalive_connections=0))

    def post(path: str, body: Any) -> tuple[int, Any]:
        r = http.post(path, json=body)
        return r.status_code, r.json()

    def wait_for_log(text: str, count: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while log_path.read_text().count(text) < count:
            assert time.monotonic() < deadline, f"no {count} x {text!r} in the log within {seconds} s"
            time.sleep(0.1)

    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, seconds=180)
        firing = Firing(post, len(records)).start(records)
        time.sleep(1.0)
        reg.promote(NEW)
        wait_for_log(f"model switched from {OLD} to {NEW}", 2)  # each worker logs its own switch
        time.sleep(0.5)
        results = firing.finish()
        seen = check_answers(results, answers)
        assert seen[OLD] > 0 and seen[NEW] > 0, seen
        assert all(post("/v1/verdicts", records[0])[1] == answers[NEW][0] for _ in range(20))

        write_atomic(reg.pointer, b"scrambled-1\n")
        wait_for_log("model reload refused", 2)
        for _ in range(20):
            status, body = post("/v1/verdicts", records[0])
            assert status == 200 and body == answers[NEW][0]
    finally:
        http.close()
        proc.terminate()
        proc.wait(timeout=30)
        log_file.close()
    out = log_path.read_text()
    switched = [json.loads(x) for x in out.splitlines() if f"model switched from {OLD} to {NEW}" in x]
    refused = [json.loads(x) for x in out.splitlines() if "model reload refused" in x]
    assert len(switched) == 2, f"each of the 2 workers logs its switch:\n{out[-3000:]}"
    assert len(refused) == 2 and all("smoke test failed" in r["reason"] for r in refused), out[-3000:]
