"""DataFrames of the corpus and of reviewer corrections, and the estimator fed from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier.model import SpanClassifier
from training.corpus import DATA_DIR, CorpusError, load_corpus
from training.frames import comments_frame, load_frame, spans_frame


def test_frames_match_the_corpus():
    lines = load_corpus(DATA_DIR / "dev.jsonl")
    comments, spans = comments_frame(lines), spans_frame(lines)
    assert len(comments) == len(lines)
    assert len(spans) == sum(len(line["spans"]) for line in lines) == comments.n_spans.sum()
    first = lines[0]
    assert comments.iloc[0].comment == first["comment"]
    row = spans.iloc[0]
    assert row.text == first["comment"][row.start : row.end] and row.prev_text == ""
    assert set(spans.label) <= {"amazon_delivery", "amazon_service", "product_condition", "seller_service", "other"}


def test_the_estimator_fits_on_frame_columns():
    spans = load_frame(DATA_DIR / "dev.jsonl", level="spans").head(600)
    items = list(spans[["text", "prev_text", "next_text"]].itertuples(index=False, name=None))
    clf = SpanClassifier(calibration_cv=0).fit(items, spans.label)
    assert clf.predict(spans.text.head(5)).shape == (5,)
    assert np.isclose(clf.predict_proba(items[:3]).sum(axis=1), 1.0).all()


def test_a_corrections_export_loads_like_the_corpus(tmp_path):
    line = {"feedback_id": "fb-1", "rating": 1, "comment": "Paketet kom aldrig fram", "fulfillment_channel": "AFN",
            "shipped_via_mcf": False, "language": "sv", "verdict": "strike", "source": "reviewer",
            "spans": [{"start": 0, "end": 23, "label": "amazon_delivery"}]}
    path = tmp_path / "corrections.jsonl"
    path.write_text(json.dumps(line) + "\n")
    frame = load_frame(path, level="spans")
    assert list(frame.label) == ["amazon_delivery"] and frame.source.iloc[0] == "reviewer"
    path.write_text(json.dumps(dict(line, verdict="keep")) + "\n")
    with pytest.raises(CorpusError, match="verdict"):
        load_frame(path)
