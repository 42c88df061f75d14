"""A truncated, altered or wrong-version model is refused at start, by `suggest` and by `serve`: exit
code 3 (README), one clear line naming the file and the reason, and nothing else started (no
database created, no admin key made)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from classifier.artifact import CARD_FILE, MANIFEST_FILE, MODEL_FILE, ModelIntegrityError
from service.app import create_app
from service.config import Settings
from tests.classifier.test_artifact import reseal
from tests.helpers import shipped_model_dir


def truncated(d):  # type: ignore[no-untyped-def]
    data = (d / MODEL_FILE).read_bytes()
    (d / MODEL_FILE).write_bytes(data[: len(data) // 2])
    return "checksum mismatch"


def altered(d):  # type: ignore[no-untyped-def]
    data = bytearray((d / MODEL_FILE).read_bytes())
    data[1000] ^= 0x01
    (d / MODEL_FILE).write_bytes(bytes(data))
    return "checksum mismatch"


def newer_format(d):  # type: ignore[no-untyped-def]
    manifest = json.loads((d / MANIFEST_FILE).read_text())
    manifest["format_version"] = 2
    (d / MANIFEST_FILE).write_text(json.dumps(manifest))
    return "format_version 2"


def other_version(d):  # type: ignore[no-untyped-def]
    card = json.loads((d / CARD_FILE).read_text())
    card["model_version"] = "2099.01.01-1"
    (d / CARD_FILE).write_text(json.dumps(card))
    reseal(d, model_version="2099.01.01-1")
    return "does not hold the model version"


BROKEN = [truncated, altered, newer_format, other_version]


@pytest.fixture(params=BROKEN, ids=lambda f: f.__name__)
def broken_model(request, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), d)
    return d, request.param(d)


def run_cli(*args: str, env: dict[str, str], stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classifier.cli", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=timeout)


def test_suggest_refuses_the_model(broken_model, tmp_path):
    d, reason = broken_model
    record = json.dumps({"rating": 1, "comment": "Never arrived.", "fulfillment_channel": "AFN"})
    done = run_cli("suggest", "--model", str(d), env={}, stdin=record + "\n")
    assert done.returncode == 3
    assert done.stdout == "", "no verdict from a refused model"
    assert reason in done.stderr and str(d) in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_the_model_before_touching_the_database(broken_model, tmp_path):
    d, reason = broken_model
    db = tmp_path / "never.db"
    done = run_cli("serve", "--port", "1", env={"FEEDBACK_STRIKE_MODEL_DIR": str(d), "DATABASE_URL": f"sqlite:///{db}"})
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("feedback-strike: cannot load model:") and reason in lines[0]
    assert not db.exists(), "no database made for a service that cannot start"
    assert "admin API key" not in done.stderr


def test_the_app_factory_refuses_the_model_too(broken_model, tmp_path, caplog):
    """`uvicorn service.app:create_app --factory` (or a worker) gets the same refusal, and a log line saying so."""
    d, reason = broken_model
    db = tmp_path / "never.db"
    app = create_app(Settings(model_dir=d, database_url=f"sqlite:///{db}"))
    with pytest.raises(ModelIntegrityError, match=reason), TestClient(app):
        pass
    assert not db.exists()
    assert any("refusing to start: the model was refused" in r.getMessage() for r in caplog.records)


def test_serve_says_when_the_database_is_what_failed(tmp_path):
    """A good model but no database: exit 4, not 3 (3 means the model was refused)."""
    done = run_cli("serve", "--port", "1", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    assert done.returncode == 4
    assert "could not start" in done.stderr and "cannot load model" not in done.stderr
