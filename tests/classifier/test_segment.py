"""Segmentation: real Swedish and English comments, and properties on arbitrary text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.segment import ClauseSegmenter, fold

RULES = ClauseSegmenter()


@pytest.mark.parametrize(
    "comment,expected",
    [
        ("Paketet kom två veckor för sent, men skärmen var repad.",
         ["Paketet kom två veckor för sent,", "men skärmen var repad."]),
        ("Never arrived. Customer service hung up on me!", ["Never arrived.", "Customer service hung up on me!"]),
        ("Leveransen tog tre veckor\nKundtjänst svarade inte",
         ["Leveransen tog tre veckor", "Kundtjänst svarade inte"]),
        ("Kom aldrig fram 😡", ["Kom aldrig fram", "😡"]),
        ("ok", ["ok"]),
    ],
)
def test_rule_segmentation_of_canonical_comments(comment, expected):
    assert [s.text for s in RULES.segment(comment)] == expected


@pytest.mark.parametrize(
    "comment,n_min",
    [
        ("Paketet kom två veckor för sent men skärmen var repad och säljaren svarade aldrig på mina mejl", 2),
        ("the box was crushed, however the blender itself works fine. seller never replied though", 3),
        ("leveransen var super slow, typ 2 weeks. But the headphones sound great", 2),
    ],
)
def test_trained_segmenter_cuts_multi_point_comments(segmenter, comment, n_min):
    spans = segmenter.segment(comment)
    assert len(spans) >= n_min
    assert all(comment[s.start : s.end] == s.text for s in spans)


def check_invariants(comment: str, spans) -> None:
    prev_end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(comment)
        assert s.start >= prev_end, "spans overlap or are out of order"
        assert comment[s.start : s.end] == s.text
        assert s.text == s.text.strip(), "a span starts or ends with whitespace"
        prev_end = s.end
    covered = set()
    for s in spans:
        covered.update(range(s.start, s.end))
    uncovered = [ch for i, ch in enumerate(comment) if i not in covered and not ch.isspace()]
    assert not uncovered, f"characters outside every span: {uncovered[:5]}"


TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300
) | st.lists(
    st.sampled_from(["Paketet", "kom", "aldrig", "men", "but", "the", "box", ",", ".", "!!", "😡", "👍🏽", "\n",
                     "é", "e\u0301", "שלום", "مرحبا", "\x00", "\u200d", "  ", "and", "och", "🤦‍♂️", "...", "-"]),
    max_size=60,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_rule_segmenter_invariants_on_arbitrary_text(comment):
    check_invariants(comment, RULES.segment(comment))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_trained_segmenter_invariants_on_arbitrary_text(segmenter, comment):
    check_invariants(comment, segmenter.segment(comment))


def test_whitespace_only_has_no_spans():
    assert RULES.segment(" \n\t ") == []


@pytest.mark.parametrize("a,b", [("försenad", "forsenad"), ("KUNDTJÄNST", "kundtjanst"), ("Öppnad", "oppnad")])
def test_fold_makes_missing_diacritics_equal(a, b):
    assert fold(a) == fold(b)


def test_fast_boundary_score_equals_the_feature_sum(segmenter):
    from classifier.segment import _kind, _position_features, _rule_boundary

    w = segmenter.weights
    for comment in ["Paketet kom två veckor för sent, men skärmen var repad och säljaren svarade inte 😡",
                    "never came!! customer service useless and the seller wont answer", "ok"]:
        toks = [fold(t) for t in comment.split()]
        kinds = [_kind(t) for t in comment.split()]
        for i in range(1, len(toks)):
            for since in (1, 3, 8, 20):
                feats = _position_features(toks, kinds, i, since) + (["rule"] if _rule_boundary(kinds, toks, i) else [])
                expected = segmenter.bias + sum(w.get(f, 0.0) for f in feats)
                assert abs(segmenter.score(toks, kinds, i, since) - expected) < 1e-9


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_hot_path_starts_equal_the_reference_scoring(segmenter, comment):
    """segment() hoists lookups out of its loop; it must cut exactly where score() says."""
    from classifier.segment import _kind, tokenizer

    words = [(t.idx, t.idx + len(t.text), t.text) for t in tokenizer().make_doc(comment) if not t.is_space]
    toks, kinds = [fold(w) for _, _, w in words], [_kind(w) for _, _, w in words]
    expected = [0]
    for i in range(1, len(words)):
        if "\n" in comment[words[i - 1][1] : words[i][0]] or segmenter._is_boundary(toks, kinds, i, i - expected[-1]):
            expected.append(i)
    spans = segmenter.segment(comment)
    assert [s.start for s in spans] == [words[i][0] for i in expected][: len(spans)] if words else spans == []
