"""Training is seeded and reproducible, and writes artifact, card and manifest."""

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.artifact import load_model, verify
from classifier.gate import COMMENT_FEATURE
from classifier.scoring import SpanScorer
from training.corpus import DATA_DIR, load_corpus, span_items
from training.train import train


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """A slice of the training and dev data (never the test split) so this stays fast."""
    d = tmp_path_factory.mktemp("corpus")
    for name, n in (("train", 700), ("dev", 150)):
        lines = (DATA_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (d / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


def test_training_is_reproducible_and_saves_a_verified_artifact(small_corpus, tmp_path):
    kw = dict(train_path=small_corpus / "train.jsonl", dev_path=small_corpus / "dev.jsonl", test_path=None,
              version="test-1", seed=7, span_params={"calibration_cv": 2}, gate_folds=2)
    m1, card1 = train(out_dir=tmp_path / "a", **kw)
    m2, _ = train(out_dir=tmp_path / "b", **kw)
    items, _ = span_items(load_corpus(small_corpus / "dev.jsonl")[:50])
    np.testing.assert_array_equal(m1.span_classifier.predict_proba(items), m2.span_classifier.predict_proba(items))
    assert m1.segmenter.weights == m2.segmenter.weights
    assert m1.thresholds == m2.thresholds
    assert m1.gate is not None and m2.gate is not None
    np.testing.assert_array_equal(m1.gate.coef_, m2.gate.coef_)

    manifest = verify(tmp_path / "a")
    assert manifest["model_version"] == "test-1"
    card = json.loads((tmp_path / "a" / "card.json").read_text())
    assert card == json.loads(json.dumps(card1))
    assert card["gate"]["folds"] == 2 and len(card["gate"]["coef"]) == len(card["gate"]["features"])
    assert card["gate"]["features"][-1] == COMMENT_FEATURE and card["comment_classifier"]["context_weight"] == 0.0
    assert set(card["thresholds"]) == {"strike_max_blocking", "keep_min_blocking", "strike_max_doubt"}
    for key in ("model_version", "labels", "thresholds", "library_versions", "data", "figures", "seed"):
        assert key in card
    assert len(card["data"]["train_sha256"]) == 64
    assert "dev" in card["figures"] and "test" not in card["figures"]
    reloaded = load_model(tmp_path / "a")
    assert isinstance(reloaded.comment_classifier, SpanScorer) and isinstance(reloaded.span_classifier, SpanScorer)
    comments = [line["comment"] for line in load_corpus(small_corpus / "dev.jsonl")[:20]]
    np.testing.assert_array_equal(reloaded.comment_blocker_log_odds(comments), m1.comment_blocker_log_odds(comments))
    assert reloaded.suggest({"rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN"}) \
        .model_version == "test-1"


def test_data_files_are_where_training_expects_them():
    for name in ("train", "dev", "test"):
        assert Path(DATA_DIR / f"{name}.jsonl").is_file()


def test_gate_folds_hold_out_noisy_copies_and_compositions_of_their_comments():
    from training.train import _derived_from

    held = {"a-1"}
    texts = ["Paketet kom aldrig fram."]
    assert _derived_from({"feedback_id": "a-1", "comment": texts[0], "source": "written"}, held, texts)
    assert _derived_from({"feedback_id": "a-1~n", "comment": "paketet kom aldrig fram", "source": "noise"},
                         held, texts)
    assert _derived_from({"feedback_id": "cmp-1", "comment": "Trasig. Paketet kom aldrig fram.",
                          "source": "composed"}, held, texts)
    assert not _derived_from({"feedback_id": "a-2", "comment": "Trasig.", "source": "written"}, held, texts)
    assert not _derived_from({"feedback_id": "a-2~n", "comment": "trasig", "source": "noise"}, held, texts)
    assert not _derived_from({"feedback_id": "cmp-2", "comment": "Trasig. Fel färg.", "source": "composed"},
                             held, texts)
