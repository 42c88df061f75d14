"""Behavioural tests of the shipped model: minimum functionality, invariance, direction, figures."""

import pytest

from training.corpus import DATA_DIR, load_corpus
from training.evaluate import evaluate


def verdict(model, comment: str, rating: int = 1, channel: str = "AFN") -> str:
    return model.suggest({"rating": rating, "comment": comment, "fulfillment_channel": channel}).verdict


def labels(model, comment: str) -> set[str]:
    return {s.label for s in model.suggest({"rating": 1, "comment": comment, "fulfillment_channel": "AFN"}).spans}


STRIKE = [
    "Paketet kom aldrig fram.",
    "Leveransen tog tre veckor och spårningen stod still.",
    "Kundtjänst lade på luren två gånger.",
    "Still waiting after three weeks.",
    "The courier left the parcel in the rain at the gate.",
    "Return label never worked and the refund took a month.",
]
KEEP = [
    "Skärmen var repad.",
    "Sold as new but clearly used.",
    "Säljaren svarade aldrig på mina mejl.",
    "They keep spamming me to change my review.",
    "Wrong size.",
    "Terrible!",
]


@pytest.mark.parametrize("comment", STRIKE)
def test_marketplace_only_complaints_are_struck(shipped_model, comment):
    assert verdict(shipped_model, comment) in ("strike", "needs_review")
    assert labels(shipped_model, comment) <= {"amazon_delivery", "amazon_service", "other"}


@pytest.mark.parametrize("comment", KEEP)
def test_blocked_or_empty_complaints_are_kept(shipped_model, comment):
    assert verdict(shipped_model, comment) in ("keep", "needs_review")


@pytest.mark.parametrize("comment", STRIKE[:3])
def test_seller_fulfilled_and_positive_are_always_kept(shipped_model, comment):
    assert verdict(shipped_model, comment, channel="MFN") == "keep"
    assert verdict(shipped_model, comment, rating=4) == "keep"


@pytest.mark.parametrize(
    "original,variant",
    [
        ("Paketet kom två veckor för sent.", "Paketet kom tva veckor for sent."),
        ("Kundtjänsten var värdelös.", "kundtjansten var vardelos"),
        ("Skärmen var repad när jag öppnade den.", "skarmen var repad nar jag oppnade den"),
        ("The package never arrived.", "the pakage never arived"),
        ("Seller never answered my messages.", "seller never answerd my mesages"),
    ],
)
def test_typos_and_missing_diacritics_do_not_change_labels(shipped_model, original, variant):
    assert labels(shipped_model, original) == labels(shipped_model, variant)


@pytest.mark.parametrize(
    "base,addition",
    [
        ("Paketet kom två veckor för sent.", " Men varan var begagnad fast den såldes som ny."),
        ("The package arrived a week late.", " But the item was used."),
        ("Leveransen tog en evighet.", " Och säljaren svarade aldrig på mina mejl."),
        ("Delivery took three weeks.", " Also the seller refused the warranty claim."),
    ],
)
def test_adding_a_blocker_flips_strike_to_keep(shipped_model, base, addition):
    assert verdict(shipped_model, base) == "strike"
    assert verdict(shipped_model, base + addition) in ("keep", "needs_review")


def test_strike_note_is_in_the_comment_language(shipped_model):
    sv = shipped_model.suggest({"rating": 1, "comment": "Paketet kom aldrig fram.", "fulfillment_channel": "AFN"})
    en = shipped_model.suggest({"rating": 1, "comment": "The parcel never arrived.", "fulfillment_channel": "AFN"})
    assert sv.note.startswith("Denna artikel levererades av Amazon")
    assert en.note.startswith("This item was fulfilled by Amazon")


@pytest.fixture(scope="module")
def test_report(shipped_model):
    return evaluate(shipped_model, load_corpus(DATA_DIR / "test.jsonl"))


def test_figures_on_the_held_out_test_split_meet_the_targets(test_report):
    v = test_report["verdicts"]
    assert test_report["comment_level"]["macro_f1"] >= 0.93
    assert v["false_strike_rate"] <= 0.01
    assert v["needs_review_rate"] <= 0.10


@pytest.mark.xfail(strict=True, reason="issue 2 is open on this target: strike recall on test is below 0.85 "
                                       "(see README 'How good it is'); strict, so reaching it fails this marker")
def test_strike_recall_on_the_held_out_test_split_meets_the_target(test_report):
    assert test_report["verdicts"]["strike_recall"] >= 0.85


def test_model_card_reports_the_figures_that_evaluation_gives_now(shipped_model, test_report):
    from classifier.artifact import load_card

    card = load_card()
    assert card["model_version"] == shipped_model.version
    assert card["figures"]["test"]["verdicts"] == test_report["verdicts"]
    assert card["figures"]["test"]["comment_level"] == test_report["comment_level"]
