"""The pipeline's second look on the shipped model: who gets it, and what it does to a verdict."""

from dataclasses import replace

import pytest

from classifier.gate import FINE_MARGINS

STRIKEABLE = "Paketet kom två veckor för sent och kundtjänst svarade aldrig på mina mejl."
BLOCKED = "Paketet kom sent och skärmen var repad."


@pytest.fixture(scope="module")
def model(shipped_model):
    if shipped_model.gate is None:
        pytest.fail("the shipped model should carry the gate (classifier.gate)")
    return shipped_model


def test_only_comments_that_could_be_struck_get_a_second_look(model):
    strikeable, blocked = model.analyze_many([STRIKEABLE, BLOCKED])
    assert model.could_strike(strikeable) and not model.could_strike(blocked)
    assert 0.0 < strikeable.doubt < 1.0
    assert blocked.doubt == 0.0
    assert model.analyze_many([STRIKEABLE], eligible=[False])[0].doubt == 0.0


def test_the_doubt_is_the_gate_on_the_second_look_features(model):
    a = model.analyze_many([STRIKEABLE])[0]
    levels = model.segmenter.segment_levels(STRIKEABLE, None, (0.0, *FINE_MARGINS))
    expected = model.gate.predict(model.gate_features([a], [levels], [STRIKEABLE]))[0]
    assert a.doubt == pytest.approx(expected, abs=1e-12)


def test_too_much_doubt_sends_the_strike_to_review(model):
    record = {"rating": 1, "comment": STRIKEABLE, "fulfillment_channel": "AFN"}
    assert model.suggest(record).verdict == "strike"
    doubt = model.analyze_many([STRIKEABLE])[0].doubt
    strict = replace(model.thresholds, strike_max_doubt=doubt * 0.99)
    v = model.suggest_many([record], thresholds=strict)[0]
    assert v.verdict == "needs_review" and v.note is None
    assert any("no span shows" in r.message for r in v.reasons)
