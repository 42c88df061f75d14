"""The service as users start it: `feedback-strike serve` (uvicorn) on 127.0.0.1, and `keys` on the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.service.conftest import free_port, wait_ready
from tests.service.realserver import start_server


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


def test_a_client_that_hangs_up_mid_body_is_a_499_not_a_500(tmp_path):
    """The peer closes the socket after part of a declared body: uvicorn tells the app ``http.disconnect``.
    Before the fix the JSON route was logged as 400 and the review form as 500, with a ClientDisconnect
    traceback ("Exception in ASGI application") in the server's log."""
    server = start_server(tmp_path, "hangup", {"DATABASE_URL": f"sqlite:///{tmp_path}/fs.db",
                                                "FEEDBACK_STRIKE_API_KEYS": "real-key"})
    try:
        port = int(server.base.rsplit(":", 1)[1])
        for rid, path, content_type, partial in [
                ("gone-json", "/v1/verdicts", "application/json", b'{"rating": 1, "comm'),
                ("gone-form", "/review/requests/1/decision", "application/x-www-form-urlencoded", b"decision=str")]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: real-key\r\n"
                          f"X-Request-ID: {rid}\r\nContent-Type: {content_type}\r\nContent-Length: 900\r\n\r\n"
                          .encode() + partial)
                time.sleep(0.2)  # the app is waiting for the rest of the body when the socket closes
        deadline = time.monotonic() + 20
        while not all(rid in server.log.read_text(errors="replace") for rid in ("gone-json", "gone-form")):
            assert time.monotonic() < deadline, "no access log line for the requests"
            time.sleep(0.2)
    finally:
        out = server.stop()
    logged = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    lines = {line["request_id"]: line for line in logged if line.get("msg") == "request"}
    assert lines["gone-json"]["status"] == lines["gone-form"]["status"] == 499, out
    assert "Exception in ASGI application" not in out and "ClientDisconnect" not in out
