"""Properties of the policy that must hold for any spans, confidences and thresholds (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.decision import BLOCKING_LABELS, LABELS, NOTES, OrderFacts, ScoredSpan, Thresholds, decide

spans = st.lists(
    st.builds(ScoredSpan, start=st.just(0), end=st.just(1), text=st.just("x"), label=st.sampled_from(LABELS),
              confidence=st.floats(0, 1), blocking_probability=st.floats(0, 1)),
    min_size=0, max_size=12,
).map(tuple)
orders = st.builds(OrderFacts, rating=st.integers(1, 5), fulfillment_channel=st.sampled_from(["AFN", "MFN"]),
                   shipped_via_mcf=st.booleans())
thresholds = st.builds(Thresholds, strike_max_blocking=st.floats(0, 1), keep_min_blocking=st.floats(0, 1))
languages = st.sampled_from(["sv", "en"])


@settings(max_examples=500)
@given(orders, spans, thresholds, languages)
def test_a_blocking_span_never_lets_a_strike_through(order, ss, th, lang):
    if any(s.label in BLOCKING_LABELS for s in ss):
        assert decide(order, ss, language=lang, thresholds=th).verdict != "strike"


@settings(max_examples=500)
@given(orders, spans, thresholds, languages)
def test_ineligible_orders_and_ratings_are_always_kept(order, ss, th, lang):
    d = decide(order, ss, language=lang, thresholds=th)
    if order.rating >= 3 or order.fulfillment_channel != "AFN" or order.shipped_via_mcf:
        assert d.verdict == "keep" and d.note is None


@settings(max_examples=500)
@given(orders, spans, thresholds, languages)
def test_a_strike_needs_a_marketplace_span_and_carries_the_note_in_the_comment_language(order, ss, th, lang):
    d = decide(order, ss, language=lang, thresholds=th)
    if d.verdict == "strike":
        assert any(s.label in ("amazon_delivery", "amazon_service") for s in ss)
        assert all(s.label not in BLOCKING_LABELS for s in ss)
        assert d.note == NOTES[lang]
    else:
        assert d.note is None
    assert d.reasons, "every verdict gives at least one reason"


@settings(max_examples=300)
@given(orders, spans, languages)
def test_stricter_thresholds_never_add_strikes(order, ss, lang):
    loose = decide(order, ss, language=lang, thresholds=Thresholds(1.0, 0.0)).verdict
    strict = decide(order, ss, language=lang, thresholds=Thresholds(0.1, 0.9)).verdict
    if strict == "strike":
        assert loose == "strike"
