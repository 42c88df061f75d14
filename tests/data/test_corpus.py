"""Checks on the data itself: validity, size, balance, and no leaks between splits."""

import json
import re
from collections import Counter

import pytest

from training.build import build, normalise
from training.corpus import DATA_DIR, load_corpus, validate_file


@pytest.fixture(scope="module")
def splits():
    return {name: load_corpus(DATA_DIR / f"{name}.jsonl") for name in ("train", "dev", "test")}


@pytest.mark.parametrize("name", ["train", "dev", "test"])
def test_every_line_validates(name):
    count, problems = validate_file(DATA_DIR / f"{name}.jsonl")
    assert count > 0
    assert problems == []


def test_corpus_size_and_label_balance(splits):
    lines = [line for split in splits.values() for line in split]
    spans = Counter(s["label"] for line in lines for s in line["spans"])
    assert len(lines) >= 6000
    assert sum(spans.values()) >= 12000
    for label in ("amazon_delivery", "amazon_service", "product_condition", "seller_service"):
        assert spans[label] >= 1000, label
    assert spans["other"] >= 800


def test_language_shares_and_order_facts(splits):
    lines = [line for split in splits.values() for line in split]
    langs = Counter(line["language"] for line in lines)
    share = {k: v / len(lines) for k, v in langs.items()}
    assert 0.35 <= share["sv"] <= 0.55 and 0.30 <= share["en"] <= 0.50 and share["mixed"] >= 0.08
    assert set(Counter(line["rating"] for line in lines)) == {1, 2, 3, 4, 5}
    channels = Counter((line["fulfillment_channel"], line["shipped_via_mcf"]) for line in lines)
    assert channels[("AFN", False)] and channels[("MFN", False)] and channels[("MFN", True)]


def test_long_multi_point_reviews_are_common(splits):
    negative = [line for line in splits["train"] if line["rating"] <= 2]
    assert sum(len(line["spans"]) >= 4 for line in negative) / len(negative) >= 0.3


def test_test_split_is_separate_and_untouched(splits):
    test_ids = {line["feedback_id"] for line in splits["test"]}
    assert all(re.fullmatch(r"x\d-\d{4}", i) for i in test_ids), "test holds only the test writers' comments"
    assert {line["source"] for line in splits["test"]} == {"written"}
    for name in ("train", "dev"):
        ids = {line["feedback_id"] for line in splits[name]}
        assert not any(i.startswith("x") for i in ids)


def test_no_comment_text_is_shared_across_splits(splits):
    texts = {name: {normalise(line["comment"]) for line in lines} for name, lines in splits.items()}
    assert not texts["train"] & texts["test"]
    assert not texts["dev"] & texts["test"]
    assert not texts["train"] & texts["dev"]


def test_dev_holds_only_hand_written_comments(splits):
    assert {line["source"] for line in splits["dev"]} == {"written"}


def test_build_is_deterministic(tmp_path):
    counts = build(DATA_DIR / "raw", tmp_path)
    for name in ("train", "dev", "test"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (DATA_DIR / f"{name}.jsonl").read_bytes(), name
    assert counts["test"] == len((DATA_DIR / "test.jsonl").read_text(encoding="utf-8").splitlines())


def test_every_hard_case_is_present_many_times(splits):
    train = splits["train"]

    def count(pattern: str, label: str) -> int:
        rx = re.compile(pattern, re.I)
        return sum(1 for line in train for s in line["spans"]
                   if s["label"] == label and rx.search(line["comment"][s["start"]:s["end"]]))

    damaged_box = r"(box|kartong|låda|lada|paket).*(crush|mosad|trasig|smashed|dent|sönder|sonder)"
    assert count(damaged_box, "amazon_delivery") >= 20
    assert count(r"wrong|fel (storlek|färg|farg|modell|vara)", "product_condition") >= 30
    assert count(r"out of stock|slut i lager|slutsåld|inte i lager|none left|hade inga", "seller_service") >= 10
    assert count(r"(seller|säljare|saljare).*(late|sent|slow|seint)|shipped late", "amazon_delivery") >= 5
    assert count(r"fee|avgift|kostade|cost me", "seller_service") >= 10
    assert count(r"return label|returetikett|refund|återbetal|aterbetal", "amazon_service") >= 30


def test_raw_files_are_json_lines_with_segments():
    for path in sorted((DATA_DIR / "raw").glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            first = json.loads(fh.readline())
        assert {"id", "language", "rating", "segments"} <= first.keys(), path.name
