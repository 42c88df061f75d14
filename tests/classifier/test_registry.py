"""The model registry: versions, the CURRENT pointer, promotion checks, rollback, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from classifier.artifact import CARD_FILE, MODEL_FILE, load_model, verify
from classifier.cli import main
from classifier.registry import (
    HISTORY_FILE,
    SHIPPED_ROOT,
    CandidateRejected,
    Registry,
    RegistryError,
    UnknownVersion,
    WorseThanCurrent,
    smoke_test,
    write_atomic,
)
from tests.helpers import copy_registry, save_variant, shipped_model_dir

SHIPPED = shipped_model_dir().name


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Model directories built once: stricter (fewer false strikes), looser (more), scrambled labels."""
    root = tmp_path_factory.mktemp("variants")
    save_variant(root, "strict-1", strike_max_blocking=0.01)
    save_variant(root, "loose-1", strike_max_blocking=0.9)
    save_variant(root, "scrambled-1", scramble_labels=True)
    return root


@pytest.fixture
def reg(tmp_path, variants, monkeypatch):
    """A private registry (the shipped version current, plus the variants), and the default loads pointed at it."""
    registry = copy_registry(tmp_path / "models")
    for d in variants.iterdir():
        shutil.copytree(d, registry.root / d.name)
    monkeypatch.setenv("FEEDBACK_STRIKE_REGISTRY_DIR", str(registry.root))
    monkeypatch.delenv("FEEDBACK_STRIKE_MODEL_DIR", raising=False)
    return registry


def snapshot(registry: Registry) -> tuple[bytes, bytes]:
    return registry.pointer.read_bytes(), (registry.root / HISTORY_FILE).read_bytes()


def test_the_shipped_registry_points_at_a_sound_version(monkeypatch):
    monkeypatch.delenv("FEEDBACK_STRIKE_REGISTRY_DIR", raising=False)
    monkeypatch.delenv("FEEDBACK_STRIKE_MODEL_DIR", raising=False)
    shipped = Registry(SHIPPED_ROOT)
    infos = shipped.list()
    assert [i.version for i in infos if i.current] == [shipped.current()]
    assert all(i.problem is None for i in infos)
    assert shipped.history()["stack"][-1] == shipped.current()
    assert not (SHIPPED_ROOT / "default").exists(), "models/default moved into the registry"
    assert Registry().root == SHIPPED_ROOT
    from classifier.artifact import default_model_dir

    assert default_model_dir() == SHIPPED_ROOT / shipped.current()


def test_the_shipped_model_passes_the_smoke_test(shipped_model):
    assert smoke_test(shipped_model) == []


def test_promote_a_candidate_no_worse_than_the_current_then_roll_back(reg):
    change = reg.promote("strict-1")
    assert (change.action, change.version, change.previous, change.forced) == ("promote", "strict-1", SHIPPED, False)
    assert change.candidate_false_strikes.false_strikes <= change.current_false_strikes.false_strikes
    assert change.current_false_strikes.keeps == 719
    assert reg.pointer.read_text() == "strict-1\n" and reg.current() == "strict-1"
    assert load_model().version == "strict-1", "the default load follows the pointer"
    assert reg.history()["stack"][-2:] == [SHIPPED, "strict-1"]
    assert [i.version for i in reg.list() if i.current] == ["strict-1"]

    back = reg.rollback()
    assert (back.action, back.version, back.previous) == ("rollback", SHIPPED, "strict-1")
    assert reg.current() == SHIPPED and load_model().version == SHIPPED
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    assert reg.promote(SHIPPED).action == "none"
    events = [e["action"] for e in reg.history()["events"]]
    assert events[-2:] == ["promote", "rollback"]


def test_a_candidate_with_more_false_strikes_is_refused_unless_forced(reg):
    before = snapshot(reg)
    with pytest.raises(WorseThanCurrent, match=r"loose-1 strikes more gold keeps .* force") as info:
        reg.promote("loose-1")
    assert info.value.overridable
    assert snapshot(reg) == before, "a refused promotion changes nothing"
    change = reg.promote("loose-1", force=True)
    assert change.forced and reg.current() == "loose-1"
    assert change.candidate_false_strikes.false_strikes > change.current_false_strikes.false_strikes
    assert reg.history()["events"][-1]["forced"] is True


def test_a_candidate_failing_the_smoke_test_is_refused_even_with_force(reg):
    before = snapshot(reg)
    for force in (False, True):
        with pytest.raises(CandidateRejected, match="smoke test failed") as info:
            reg.promote("scrambled-1", force=force)
        assert "pure delivery complaint" in str(info.value) and "product_condition" in str(info.value)
        assert not info.value.overridable
    assert snapshot(reg) == before


@pytest.mark.parametrize("damage", ["flip", "truncate", "card", "renamed"])
def test_a_tampered_or_misnamed_candidate_is_refused(reg, damage):
    d = reg.root / "strict-1"
    if damage == "flip":
        data = bytearray((d / MODEL_FILE).read_bytes())
        data[len(data) // 2] ^= 0x01
        (d / MODEL_FILE).write_bytes(bytes(data))
    elif damage == "truncate":
        (d / MODEL_FILE).write_bytes((d / MODEL_FILE).read_bytes()[:1000])
    elif damage == "card":
        card = json.loads((d / CARD_FILE).read_text())
        card["thresholds"]["strike_max_blocking"] = 1.0
        (d / CARD_FILE).write_text(json.dumps(card))
    else:
        d.rename(reg.root / "strict-2")
    before = snapshot(reg)
    with pytest.raises(CandidateRejected, match="checksum mismatch" if damage != "renamed" else "named after"):
        reg.promote("strict-1" if damage != "renamed" else "strict-2", force=True)
    assert snapshot(reg) == before
    assert [i.problem is not None for i in reg.list() if i.version.startswith("strict")] == [True]


@pytest.mark.parametrize("name", ["nope", "../models", "", "a/b"])
def test_unknown_or_invalid_versions_are_refused(reg, name):
    with pytest.raises(UnknownVersion):
        reg.promote(name)


def test_rollback_refuses_a_version_that_no_longer_verifies(reg):
    reg.promote("strict-1")
    with open(reg.root / SHIPPED / MODEL_FILE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(CandidateRejected, match=f"cannot roll back to {SHIPPED}: .*checksum mismatch"):
        reg.rollback()
    assert reg.current() == "strict-1"


def test_a_pointer_set_by_hand_is_adopted_into_the_history(reg):
    reg.pointer.write_text("strict-1\n")
    assert reg.rollback().version == SHIPPED
    assert [e["action"] for e in reg.history()["events"]][-2:] == ["adopt", "rollback"]


def test_a_broken_current_model_blocks_comparison_but_force_replaces_it(reg):
    (reg.root / SHIPPED / MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(WorseThanCurrent, match="does not load"):
        reg.promote("strict-1")
    change = reg.promote("strict-1", force=True)
    assert change.current_false_strikes is None and reg.current() == "strict-1"


def test_pointer_writes_are_atomic(tmp_path, monkeypatch):
    pointer = tmp_path / "CURRENT"
    values = [b"aaaaaaaa-1\n", b"b-2\n"]
    pointer.write_bytes(values[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(pointer.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(400):
            write_atomic(pointer, values[i % 2])
    finally:
        stop.set()
        reader.join()
    assert seen <= set(values), f"a reader saw a partial pointer: {seen - set(values)}"

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(pointer, b"c-3\n")
    assert pointer.read_bytes() in values
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT"], "no temporary file is left behind"


def test_add_stores_a_version_whole_and_never_overwrites(reg, shipped_model, monkeypatch):
    model = load_model(reg.root / "strict-1")
    model.version = "added-1"
    card = dict(reg.card("strict-1"), model_version="added-1")
    path = reg.add(model, card)
    assert verify(path)["model_version"] == "added-1" and "added-1" in reg.versions()
    with pytest.raises(RegistryError, match="already exists"):
        reg.add(model, card)

    import classifier.registry as registry_module

    def crash(*_args):
        raise OSError("disk full")

    model.version = "added-2"
    monkeypatch.setattr(registry_module, "save_model", crash)
    with pytest.raises(OSError):
        reg.add(model, dict(card, model_version="added-2"))
    assert not (reg.root / "added-2").exists()
    assert not [p for p in reg.root.iterdir() if p.name.startswith(".tmp-")], "nothing half-stored"


def test_smoke_test_reports_a_model_that_crashes(shipped_model):
    class Broken:
        version = "x"

        def suggest_many(self, records):
            raise ValueError("boom")

    assert smoke_test(Broken()) == ["scoring the canned records raised ValueError: boom"]  # type: ignore[arg-type]


# --- the command line ---------------------------------------------------------------------------
def models(reg: Registry, *args: str) -> int:
    return main(["models", "--root", str(reg.root), *args])


def test_cli_list_promote_rollback_and_exit_codes(reg, capsys):
    assert models(reg, "list") == 0
    out = capsys.readouterr().out
    assert f"* {SHIPPED}" in out and "  strict-1" in out and "false strikes" in out

    assert models(reg, "promote", "loose-1") == 4
    assert "refused" in capsys.readouterr().err and reg.current() == SHIPPED
    assert models(reg, "promote", "scrambled-1", "--force") == 3
    assert "smoke test failed" in capsys.readouterr().err and reg.current() == SHIPPED
    assert models(reg, "promote", "nope") == 2
    assert "no version 'nope'" in capsys.readouterr().err

    assert models(reg, "promote", "strict-1") == 0
    out = capsys.readouterr().out
    assert "promoted strict-1" in out and "smoke test passed" in out and "false-strike rate" in out
    assert models(reg, "rollback") == 0
    assert f"rolled back to {SHIPPED}" in capsys.readouterr().out
    assert models(reg, "rollback") == 4
    assert "nothing to roll back to" in capsys.readouterr().err


def test_cli_model_option_takes_a_registry_version(reg, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}))
    out = tmp_path / "out.jsonl"
    assert main(["suggest", "--input", str(src), "--output", str(out), "--model", "strict-1"]) == 0
    assert json.loads(out.read_text())["model_version"] == "strict-1"
    assert main(["suggest", "--input", str(src), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["model_version"] == SHIPPED
    with pytest.raises(SystemExit) as info:
        main(["suggest", "--input", str(src), "--output", str(out), "--model", "nope"])
    assert info.value.code == 2 and "not a model directory" in capsys.readouterr().err


def test_cli_train_refuses_an_existing_version_before_training(reg, capsys):
    assert main(["train", "--version", SHIPPED]) == 2
    assert "already exists" in capsys.readouterr().err
