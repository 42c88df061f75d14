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


def test_reusing_unchanged_finer_cuts_gives_the_features_of_scoring_every_cut(model):
    """gate_features skips a finer cut that equals the cut before it; the features must not change."""
    import numpy as np

    from classifier.gate import gate_features
    from classifier.model import with_context
    from training.corpus import DATA_DIR, load_corpus

    comments = [line["comment"] for line in load_corpus(DATA_DIR / "dev.jsonl")[:300]]
    analyses = model.analyze_many(comments)
    todo = [i for i, a in enumerate(analyses) if model.could_strike(a)]
    levels = [model.segmenter.segment_levels(comments[i], None, (0.0, *FINE_MARGINS)) for i in todo]
    assert any(len(cuts[1]) == len(cuts[0]) for cuts in levels) and any(len(cuts[2]) > len(cuts[0]) for cuts in levels)
    fast = model.gate_features([analyses[i] for i in todo], levels, [comments[i] for i in todo])
    classes, blocking = model._columns()
    reference = []
    for i, cuts in zip(todo, levels, strict=True):
        a = analyses[i]
        proba = model.span_classifier.predict_proba
        pieces = [proba(with_context([s.text for s in cut], model.context_scope))[:, blocking].sum(axis=1)
                  for cut in cuts[1:]]
        no_context = proba([(s.text, "", "") for s in a.spans])[:, blocking].sum(axis=1)
        reference.append(gate_features(a.proba[:, blocking].sum(axis=1), a.proba.max(axis=1),
                                       a.proba[:, classes.index("other")], pieces, no_context, len(comments[i])))
    np.testing.assert_allclose(fast[:, : len(reference[0])], np.array(reference), rtol=0, atol=1e-12)


def test_the_whole_comment_reading_rises_with_a_point_about_the_product(model):
    """The gate's last feature: the comment classifier's log-odds that the comment holds a blocker."""
    from classifier.gate import COMMENT_FEATURE

    assert model.comment_classifier is not None and model.gate.feature_names[-1] == COMMENT_FEATURE
    clean, blocked = model.comment_blocker_log_odds([STRIKEABLE, BLOCKED])
    assert blocked > 0 > clean
    a = model.analyze_many([STRIKEABLE])[0]
    levels = model.segmenter.segment_levels(STRIKEABLE, None, (0.0, *FINE_MARGINS))
    assert model.gate_features([a], [levels], [STRIKEABLE])[0, -1] == clean
