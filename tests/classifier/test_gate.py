"""The second look: gate features, the folded logistic regression, and the doubt in decisions."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from classifier.decision import OrderFacts, ScoredSpan, Thresholds, decide
from classifier.gate import COMMENT_FEATURE, FEATURES, DoubtGate, gate_features


def test_gate_features_summarise_the_readings():
    blocking = np.array([0.1, 0.3])
    row = gate_features(blocking, top=np.array([0.9, 0.6]), other=np.array([0.05, 0.2]),
                        fine=[np.array([0.1, 0.7, 0.2]), np.array([0.05, 0.4, 0.3, 0.2])],
                        no_context=np.array([0.2, 0.5]), n_chars=150)
    assert row.shape == (len(FEATURES),)
    named = dict(zip(FEATURES, row, strict=True))
    assert named["max_blocking"] == pytest.approx(0.3)
    assert named["second_blocking"] == pytest.approx(0.1)
    assert named["sum_blocking"] == pytest.approx(0.4)
    assert named["any_blocking"] == pytest.approx(1 - 0.9 * 0.7)
    assert named["fine1_max_blocking"] == pytest.approx(0.7) and named["fine1_extra_pieces"] == 1
    assert named["fine2_max_blocking"] == pytest.approx(0.4) and named["fine2_extra_pieces"] == 2
    assert named["no_context_max_blocking"] == pytest.approx(0.5)
    assert named["min_confidence"] == pytest.approx(0.6) and named["max_other"] == pytest.approx(0.2)
    assert named["length_100_chars"] == pytest.approx(1.5)
    assert named["log_fine1_max_blocking"] == pytest.approx(np.log(0.7))


def test_one_span_comment_has_no_second_blocking():
    row = gate_features(np.array([0.2]), np.array([0.8]), np.array([0.1]), [np.array([0.2]), np.array([0.2])],
                        np.array([0.3]), 10)
    assert dict(zip(FEATURES, row, strict=True))["second_blocking"] == 0.0


def test_folded_gate_equals_the_sklearn_pipeline():
    rng = np.random.default_rng(0)
    X = rng.random((400, len(FEATURES))) * rng.random(len(FEATURES)) * 10
    y = X[:, 0] + rng.normal(0, 1, 400) > X[:, 0].mean()
    gate = DoubtGate(C=0.5).fit(X, y)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5_000)).fit(X, y)
    np.testing.assert_allclose(gate.predict(X), ref.predict_proba(X)[:, 1], atol=1e-9)


def test_a_gate_with_the_comment_reading_names_it_last():
    rng = np.random.default_rng(1)
    X = rng.random((200, len(FEATURES) + 1))
    y = X[:, -1] > 0.5
    gate = DoubtGate().fit(X, y)
    assert gate.feature_names == (*FEATURES, COMMENT_FEATURE)
    assert DoubtGate().fit(X[:, :-1], y).feature_names == FEATURES
    assert gate.predict(np.array([[0.5] * len(FEATURES) + [0.9]]))[0] > gate.predict(
        np.array([[0.5] * len(FEATURES) + [0.1]]))[0]


def test_gate_refuses_bad_training_data():
    with pytest.raises(ValueError, match="features"):
        DoubtGate().fit(np.zeros((10, 3)), np.array([0, 1] * 5))
    with pytest.raises(ValueError, match="both outcomes"):
        DoubtGate().fit(np.zeros((10, len(FEATURES))), np.zeros(10, dtype=bool))


SPANS = (ScoredSpan(0, 10, "kom sent", "amazon_delivery", 0.95, 0.02),
         ScoredSpan(11, 20, "tack", "other", 0.9, 0.01))


def test_doubt_above_the_threshold_sends_a_strike_to_review():
    th = Thresholds(strike_max_doubt=0.3)
    order = OrderFacts(1, "AFN")
    assert decide(order, SPANS, language="sv", thresholds=th, doubt=0.3).verdict == "strike"
    d = decide(order, SPANS, language="sv", thresholds=th, doubt=0.31)
    assert d.verdict == "needs_review" and d.note is None
    assert [r.code for r in d.reasons] == ["low_confidence"] and "0.31" in d.reasons[0].message


def test_doubt_never_changes_a_keep():
    th = Thresholds(strike_max_doubt=0.0)
    for order in (OrderFacts(3, "AFN"), OrderFacts(1, "MFN"), OrderFacts(1, "MFN", True)):
        assert decide(order, SPANS, language="sv", thresholds=th, doubt=1.0).verdict == "keep"
    blocked = (*SPANS, ScoredSpan(21, 30, "repad", "product_condition", 0.9, 0.9))
    assert decide(OrderFacts(1, "AFN"), blocked, language="sv", thresholds=th, doubt=1.0).verdict == "keep"
