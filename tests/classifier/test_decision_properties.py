"""Properties of the policy that must hold for any spans, confidences and thresholds (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.decision import BLOCKING_LABELS, LABELS, NOTES, OrderFacts, ScoredSpan, Thresholds, decide, gold_verdict

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


# --- issue 7: each rule of the policy as an exact property -------------------------------------------
@settings(max_examples=500)
@given(orders, spans, thresholds, languages)
def test_a_blocking_span_keeps_unless_every_blocker_is_uncertain_and_then_asks_for_review(order, ss, th, lang):
    blockers = [s for s in ss if s.label in BLOCKING_LABELS]
    d = decide(order, ss, language=lang, thresholds=th)
    if not blockers or order.rating >= 3 or order.fulfillment_channel != "AFN" or order.shipped_via_mcf:
        return
    if max(s.blocking_probability for s in blockers) >= th.keep_min_blocking:
        assert d.verdict == "keep"
    else:
        assert d.verdict == "needs_review" and "low_confidence" in {r.code for r in d.reasons}
    assert {r.code for r in d.reasons} >= {"blocking_span"}


@settings(max_examples=300)
@given(st.integers(1, 5), st.sampled_from([("MFN", False), ("MFN", True), ("AFN", True)]), spans, thresholds,
       languages)
def test_a_seller_fulfilled_order_always_keeps_even_via_mcf(rating, channel, ss, th, lang):
    d = decide(OrderFacts(rating, *channel), ss, language=lang, thresholds=th)
    assert d.verdict == "keep" and d.note is None
    if rating <= 2:
        expected = "not_marketplace_fulfilled" if channel[0] == "MFN" else "multi_channel_fulfillment"
        assert d.reasons[0].code == expected


@settings(max_examples=300)
@given(st.integers(3, 5), st.sampled_from(["AFN", "MFN"]), st.booleans(), spans, thresholds, languages)
def test_rating_three_or_more_always_keeps_whatever_the_spans(rating, channel, mcf, ss, th, lang):
    d = decide(OrderFacts(rating, channel, mcf), ss, language=lang, thresholds=th)
    assert d.verdict == "keep" and d.note is None
    assert [r.code for r in d.reasons] == ["not_negative"]


@settings(max_examples=500)
@given(orders, st.lists(st.sampled_from(LABELS), max_size=8))
def test_gold_verdict_is_exactly_the_policy(order, labels):
    """POLICY.md in one line: strike iff negative, AFN (not MCF), no blocking span and a marketplace span."""
    expected = ("strike" if order.rating <= 2 and order.fulfillment_channel == "AFN" and not order.shipped_via_mcf
                and not set(labels) & BLOCKING_LABELS and set(labels) & {"amazon_delivery", "amazon_service"}
                else "keep")
    assert gold_verdict(order, labels) == expected


@settings(max_examples=300)
@given(spans, thresholds, st.sampled_from(["sv", "en", "mixed", "de", ""]))
def test_the_note_is_swedish_only_for_swedish_and_english_otherwise(ss, th, lang):
    d = decide(OrderFacts(1, "AFN"), ss, language=lang, thresholds=th)
    if d.verdict == "strike":
        assert d.note == (NOTES["sv"] if lang == "sv" else NOTES["en"])


# --- the note language, through the shipped model ----------------------------------------------------
SV = ["Paketet kom aldrig fram", "Leveransen tog tre veckor", "Kundtjänst svarade inte på mina mejl",
      "Budet lämnade paketet i regnet", "Försändelsen var försenad en vecka", "Ingen spårning fungerade",
      "Paketet hamnade hos grannen", "Supporten lovade återbetalning men inget hände"]
EN = ["The parcel never arrived", "Delivery took three weeks", "Customer service never answered my emails",
      "The courier left the box in the rain", "Shipping was delayed by a week", "Tracking never updated",
      "The package was delivered to the wrong address", "Support promised a refund but nothing happened"]
SEPARATORS = st.sampled_from([". ", ", ", "\n", "! ", " - "])


def _comment(phrases: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(st.sampled_from(phrases), SEPARATORS), min_size=1, max_size=4).map(
        lambda parts: "".join(p + s for p, s in parts).strip())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["sv", "en", "mixed"]).flatmap(lambda lang: st.tuples(
    st.just(lang), _comment(SV) if lang == "sv" else _comment(EN) if lang == "en" else
    st.tuples(_comment(SV), _comment(EN)).map(lambda ab: ab[0] + ". " + ab[1]))))
def test_a_struck_comment_gets_the_note_in_its_own_language(shipped_model, case):
    """Swedish comments get the Swedish note, English ones the English note, mixed ones their dominant language's."""
    lang, comment = case
    v = shipped_model.suggest({"rating": 1, "comment": comment, "fulfillment_channel": "AFN"})
    if lang != "mixed":
        assert v.language == lang
    if v.verdict == "strike":
        dominant = shipped_model.analyze_many([comment])[0].language.dominant
        assert v.note == NOTES[dominant]
        if v.language != "mixed":
            assert v.note == NOTES[v.language]
    else:
        assert v.note is None


@settings(max_examples=300, deadline=None)
@given(order=orders, ss=spans, doubt=st.floats(0, 1), limit=st.floats(0, 1))
def test_doubt_only_ever_turns_a_strike_into_review(order, ss, doubt, limit):
    plain = decide(order, ss, language="en").verdict
    doubtful = decide(order, ss, language="en", thresholds=Thresholds(strike_max_doubt=limit), doubt=doubt).verdict
    if plain == "strike":
        assert doubtful == ("needs_review" if doubt > limit else "strike")
    else:
        assert doubtful == plain
