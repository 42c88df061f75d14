"""Service fixtures: an app per test on SQLite and on a fresh database of the real local PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service import crud
from service.app import create_app
from service.config import Settings
from service.db import transaction

ADMIN_KEY = "bootstrap-admin-key-for-tests"
PG_SERVER = os.environ.get("FEEDBACK_STRIKE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL server, dropped afterwards (even with clients connected)."""
    if os.environ.get("FEEDBACK_STRIKE_SKIP_POSTGRES") == "1":
        pytest.skip("FEEDBACK_STRIKE_SKIP_POSTGRES=1: told to skip PostgreSQL")
    import psycopg

    name = "fs_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_SERVER + "postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_SERVER + name
    finally:
        with psycopg.connect(PG_SERVER + "postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def fresh_pg_database() -> Iterator[str]:
    """A new database on the local PostgreSQL for one test, dropped after it (for ``yield from`` in fixtures)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/feedback-strike.db"
        return
    yield from fresh_pg_database()


@pytest.fixture
def pg_url():
    yield from fresh_pg_database()


@pytest.fixture
def client(db_url):
    app = create_app(Settings(database_url=db_url, api_keys=ADMIN_KEY, max_batch_items=5))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = ADMIN_KEY
        yield c


def new_key(client: TestClient, role: str, seller_id: str | None = None) -> dict[str, str]:
    """Headers with a fresh key of ``role`` stored in the app's database."""
    with transaction(client.app.state.sessions) as session:
        _, key = crud.create_key(session=session, role=role, name=f"test-{role}", seller_id=seller_id)
    return {"X-API-Key": key}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen, seconds: float = 60, log: Path | None = None) -> None:
    """Poll /readyz; on failure say why, with the end of the server's output when it goes to ``log``."""
    deadline = time.monotonic() + seconds
    tail = (lambda: "\n" + log.read_text(errors="replace")[-3000:]) if log is not None else (lambda: "")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}{tail()}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the server did not become ready within {seconds} s{tail()}")
