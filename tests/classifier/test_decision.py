"""The policy, rule by rule, with literal values (no model involved)."""

import pytest

from classifier.decision import NOTES, OrderFacts, ScoredSpan, Thresholds, decide, gold_verdict

AFN = OrderFacts(rating=1, fulfillment_channel="AFN")


def span(label: str, blocking: float | None = None, confidence: float = 0.99) -> ScoredSpan:
    if blocking is None:
        blocking = 0.99 if label in ("product_condition", "seller_service") else 0.01
    return ScoredSpan(0, 4, "text", label, confidence, blocking)


@pytest.mark.parametrize("rating", [3, 4, 5])
def test_rule1_non_negative_rating_is_kept(rating):
    d = decide(OrderFacts(rating, "AFN"), (span("amazon_delivery"),), language="sv")
    assert d.verdict == "keep"
    assert d.reasons[0].code == "not_negative"
    assert d.note is None


@pytest.mark.parametrize("rating", [1, 2])
def test_negative_ratings_can_be_struck(rating):
    assert decide(OrderFacts(rating, "AFN"), (span("amazon_delivery"),), language="sv").verdict == "strike"


def test_rule2_seller_fulfilled_order_is_kept():
    d = decide(OrderFacts(1, "MFN"), (span("amazon_delivery"),), language="en")
    assert (d.verdict, d.reasons[0].code) == ("keep", "not_marketplace_fulfilled")


@pytest.mark.parametrize("channel", ["MFN", "AFN"])
def test_rule2_multi_channel_fulfillment_is_never_eligible(channel):
    d = decide(OrderFacts(1, channel, shipped_via_mcf=True), (span("amazon_delivery"),), language="en")
    assert d.verdict == "keep"
    assert d.reasons[0].code in ("not_marketplace_fulfilled", "multi_channel_fulfillment")


@pytest.mark.parametrize("blocker", ["product_condition", "seller_service"])
def test_rule3_any_blocking_span_keeps(blocker):
    d = decide(AFN, (span("amazon_delivery"), span("amazon_service"), span(blocker)), language="sv")
    assert d.verdict == "keep"
    assert d.reasons == (d.reasons[0],)
    assert d.reasons[0].code == "blocking_span"
    assert d.reasons[0].message == f"span 3 is about {blocker}"


def test_rule4_only_other_spans_is_kept():
    d = decide(AFN, (span("other"), span("other")), language="sv")
    assert (d.verdict, d.reasons[0].code) == ("keep", "nothing_attributable")


@pytest.mark.parametrize(
    "labels", [["amazon_delivery"], ["amazon_service"], ["other", "amazon_delivery", "other", "amazon_service"]]
)
def test_rule5_marketplace_only_is_struck_with_note(labels):
    d = decide(AFN, tuple(span(lab) for lab in labels), language="sv")
    assert d.verdict == "strike"
    assert d.note == "Denna artikel levererades av Amazon och vi tar ansvar för leveransupplevelsen"


@pytest.mark.parametrize("language,note", [("sv", NOTES["sv"]), ("en", NOTES["en"])])
def test_note_follows_the_comment_language(language, note):
    assert decide(AFN, (span("amazon_delivery"),), language=language).note == note


def test_uncertain_span_on_a_would_be_strike_needs_review():
    th = Thresholds(strike_max_blocking=0.2)
    d = decide(AFN, (span("amazon_delivery"), span("other", blocking=0.35)), language="en", thresholds=th)
    assert d.verdict == "needs_review"
    assert "span 2" in d.reasons[0].message
    assert decide(AFN, (span("amazon_delivery"), span("other", blocking=0.15)), language="en",
                  thresholds=th).verdict == "strike"


def test_uncertain_blocker_needs_review_and_a_sure_one_keeps():
    th = Thresholds(keep_min_blocking=0.6)
    unsure = decide(AFN, (span("amazon_delivery"), span("product_condition", blocking=0.55)), language="en",
                    thresholds=th)
    sure = decide(AFN, (span("amazon_delivery"), span("product_condition", blocking=0.8)), language="en",
                  thresholds=th)
    assert (unsure.verdict, sure.verdict) == ("needs_review", "keep")


def test_thresholds_never_turn_an_ineligible_order_into_review():
    th = Thresholds(strike_max_blocking=0.0, keep_min_blocking=1.0)
    mfn = decide(OrderFacts(1, "MFN"), (span("product_condition", 0.3),), language="en", thresholds=th)
    assert mfn.verdict == "keep"
    assert decide(OrderFacts(4, "AFN"), (span("amazon_delivery", 0.5),), language="en", thresholds=th).verdict == "keep"


@pytest.mark.parametrize(
    "facts,labels,expected",
    [
        (OrderFacts(1, "AFN"), ["amazon_delivery", "product_condition"], "keep"),
        (OrderFacts(1, "AFN"), ["amazon_delivery", "seller_service"], "keep"),
        (OrderFacts(2, "AFN"), ["other", "amazon_service"], "strike"),
        (OrderFacts(1, "MFN", True), ["amazon_delivery"], "keep"),
        (OrderFacts(1, "AFN"), ["other"], "keep"),
    ],
)
def test_gold_verdict_from_labels(facts, labels, expected):
    assert gold_verdict(facts, labels) == expected
