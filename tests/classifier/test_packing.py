"""Packed tables round-trip exactly, and a packed model predicts exactly as before pickling."""

import pickle

import pytest

from classifier.packing import pack, unpack


@pytest.mark.parametrize("table", [{}, {"a": 1, "b": 2}, {"ö~": 0.5, "P:^": -1.25, "w|n1=x|</s>": 3.0}])
def test_round_trip(table):
    assert unpack(pack(table)) == table


def test_a_key_with_the_separator_is_kept_as_it_is():
    table = {"a\x00b": 1}
    assert pack(table) is table
    assert unpack(pack(table)) == table


def test_pickled_model_parts_are_identical(shipped_model):
    clone = pickle.loads(pickle.dumps(shipped_model))
    assert clone.segmenter.weights == shipped_model.segmenter.weights
    assert clone.langid.log_odds_ == shipped_model.langid.log_odds_
    for a, b in zip(clone.span_classifier.vocabularies, shipped_model.span_classifier.vocabularies, strict=True):
        assert a == b
    record = {"rating": 1, "comment": "Leveransen tog tre veckor, men skärmen var repad 😡",
              "fulfillment_channel": "AFN"}
    assert clone.suggest(record) == shipped_model.suggest(record)
