"""notebooks/retrain.ipynb: committed without outputs, and it runs end to end on a small subset.

The run uses a temporary copy of the registry (FEEDBACK_STRIKE_NB_REGISTRY), so it never writes
into the real models/; the test checks that too.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from classifier.artifact import verify
from classifier.registry import HISTORY_FILE, POINTER_FILE, SHIPPED_ROOT
from tests.helpers import copy_registry
from training.corpus import DATA_DIR

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "retrain.ipynb"


def test_the_committed_notebook_has_its_outputs_stripped():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"outputs left in cell:\n{cell.source[:200]}"
    assert "widgets" not in nb.metadata
    assert any("parameters" in c.metadata.get("tags", []) for c in code), "a parameters cell, tagged"


def real_registry_state() -> tuple[list[str], bytes, bytes]:
    return (sorted(p.name for p in SHIPPED_ROOT.iterdir()), (SHIPPED_ROOT / POINTER_FILE).read_bytes(),
            (SHIPPED_ROOT / HISTORY_FILE).read_bytes())


def outputs(nb, mime: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if mime in out.get("data", {}):
                found.append(out["data"][mime])
            elif mime == "text/plain" and out.get("output_type") == "stream":
                found.append(out["text"])
    return found


def test_the_notebook_trains_evaluates_compares_and_registers_on_a_subset(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    registry = copy_registry(tmp_path / "models")
    current = registry.current()
    corrections = tmp_path / "corrections.jsonl"  # reviewer lines, as /v1/corrections/export writes them
    dev = (DATA_DIR / "dev.jsonl").read_text(encoding="utf-8").splitlines()[-3:]
    corrections.write_text("".join(json.dumps(dict(json.loads(x), source="reviewer")) + "\n" for x in dev))
    for name, value in (("SUBSET", "300"), ("REGISTRY", str(registry.root)), ("CORRECTIONS", str(corrections)),
                        ("VERSION", "nb-test-1"), ("PROMOTE", "1")):
        monkeypatch.setenv(f"FEEDBACK_STRIKE_NB_{name}", value)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    before = real_registry_state()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert real_registry_state() == before, "the notebook wrote into the real models/"
    assert len(outputs(nb, "image/png")) >= 4, "confusion matrices, PR curves, threshold curve, errors by language"
    html = "\n".join(outputs(nb, "text/html"))
    assert f"current {current}" in html and "candidate nb-test-1" in html, "the side-by-side table"
    assert "false-strike rate (gold keeps)" in html
    text = "\n".join(outputs(nb, "text/plain"))
    assert "3 from corrections" in text

    assert "nb-test-1" in registry.versions()
    assert verify(registry.root / "nb-test-1")["model_version"] == "nb-test-1"
    card = registry.card("nb-test-1")
    assert card["data"]["corrections"]["lines"] == 3 and card["data"]["subset"] == 300
    assert "test" in card["figures"]
    promoted = "promoted nb-test-1" in text
    assert promoted or "not promoted:" in text, "the promotion cell says what happened"
    assert registry.current() == ("nb-test-1" if promoted else current)

