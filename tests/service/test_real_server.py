"""The service as users start it: `feedback-strike serve` (uvicorn) on 127.0.0.1, and `keys` on the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.service.realserver import free_port, wait_ready


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/fs.db", "FEEDBACK_STRIKE_API_KEYS": "real-key"}
    proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, proc)
    yield base, time.monotonic()
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert "@example.com" not in out, "buyer e-mail addresses never reach the logs"


def test_a_real_uvicorn_process_answers_verdicts(server):
    base, _ = server
    rec = {"rating": 1, "comment": "Never arrived.", "fulfillment_channel": "AFN",
           "buyer_email": "secret@example.com"}
    r = httpx.post(base + "/v1/verdicts", json=rec, headers={"X-API-Key": "real-key"}, timeout=10)
    assert r.status_code == 200 and r.json()["verdict"] in ("strike", "needs_review")
    assert httpx.post(base + "/v1/verdicts", json=rec, timeout=10).status_code == 401
    assert httpx.post(base + "/v1/verdicts", json=dict(rec, rating=0), headers={"X-API-Key": "real-key"},
                      timeout=10).status_code == 422


def test_keys_cli_creates_lists_and_revokes(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/keys.db"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "classifier.cli", "keys", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    created = run("create", "--role", "seller", "--seller-id", "S7", "--name", "shop seven")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("fs_")
    listed = run("list").stdout
    assert "seller" in listed and "S7" in listed and "active" in listed and key not in listed
    assert run("revoke", "1").returncode == 0
    assert "revoked" in run("list").stdout
    bad = run("create", "--role", "seller")
    assert bad.returncode == 1 and "seller_id" in bad.stderr
