"""The span classifier honours the scikit-learn estimator contract, and its lean path is exact."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score

from classifier.model import SpanClassifier, with_context

SPANS = {
    "amazon_delivery": ["Paketet kom aldrig fram", "package arrived two weeks late", "kartongen var mosad",
                        "tracking stuck for days", "budet lämnade det i regnet", "still waiting after 3 weeks"],
    "amazon_service": ["kundtjänst lade på", "the return label never worked", "refund took a month",
                       "chatten var värdelös", "couldn't cancel in the app", "fick aldrig pengarna tillbaka"],
    "product_condition": ["skärmen var repad", "sold as new but clearly used", "fel storlek",
                          "stopped working after two days", "luktar rök", "missing the charger"],
    "seller_service": ["säljaren svarade aldrig", "seller refused the warranty", "they keep spamming me",
                       "overpriced", "ingen faktura från säljaren", "seller cancelled, out of stock"],
    "other": ["Terrible!", "Aldrig mer.", "1 star", "Bought it as a gift", ":(", "Besviken"],
}
X = [t for texts in SPANS.values() for t in texts] * 2
Y = [lab for lab, texts in SPANS.items() for _ in texts] * 2
SMALL = dict(min_df=1, calibration_cv=0)


def test_init_only_stores_parameters():
    clf = SpanClassifier(C=3.0, context_weight=0.0)
    assert clf.get_params()["C"] == 3.0
    assert not hasattr(clf, "classes_")


def test_fit_returns_self_and_learns_classes():
    clf = SpanClassifier(**SMALL)
    assert clf.fit(X, Y) is clf
    assert list(clf.classes_) == sorted(SPANS)
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_unfitted_raises_not_fitted_error():
    with pytest.raises(NotFittedError):
        SpanClassifier().predict(["x"])


def test_clone_copies_parameters_not_state():
    fitted = SpanClassifier(C=2.0, **SMALL).fit(X, Y)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "coef_")


def test_cross_val_score_and_grid_search_run():
    scores = cross_val_score(SpanClassifier(**SMALL), X, Y, cv=2)
    assert scores.shape == (2,) and np.all(scores >= 0)
    grid = GridSearchCV(SpanClassifier(**SMALL), {"C": [1.0, 10.0], "context_weight": [0.0, 0.3]}, cv=2)
    grid.fit(X, Y)
    assert set(grid.best_params_) == {"C", "context_weight"}


@pytest.mark.parametrize("container", [list, np.array, pd.Series])
def test_accepts_lists_arrays_and_series(container):
    clf = SpanClassifier(**SMALL).fit(container(X), container(Y))
    assert clf.predict(container(["paketet kom aldrig fram"]))[0] == "amazon_delivery"


def test_context_triples_are_accepted():
    items = with_context(["Terrible!", "kartongen var mosad", "säljaren svarade aldrig"])
    clf = SpanClassifier(min_df=1, calibration_cv=0, context_weight=0.5).fit(items * 4, ["other", "amazon_delivery",
                                                                                        "seller_service"] * 4)
    assert list(clf.predict(items)) == ["other", "amazon_delivery", "seller_service"]


def test_bad_items_name_the_problem():
    clf = SpanClassifier(**SMALL).fit(X, Y)
    with pytest.raises(TypeError, match="item 1"):
        clf.predict(["ok", 42])


def test_lean_transform_equals_the_vectorizers_own_transform():
    clf = SpanClassifier(min_df=1, calibration_cv=2).fit(with_context(X), Y)
    items = with_context(["paketet kom aldrig fram, säljaren svarade inte", "refund never came 😡", "ok"])
    blocks = [vec.transform(inp) for vec, inp in zip(clf.vectorizers_, clf._block_inputs(items), strict=True)]
    reference = clf._stack(blocks)
    lean = clf.transform_items(items)
    assert abs(reference - lean).max() < 1e-12
    expected = np.asarray(reference @ clf.coef_.T) + clf.intercept_
    np.testing.assert_allclose(clf.decision_function(items), expected, atol=1e-12)
    assert sp.issparse(lean)


def test_the_scorer_a_saved_model_carries_scores_as_the_estimator_and_sklearn_do():
    """A saved model keeps the span model as a SpanScorer (no scikit-learn object); after a pickle round
    trip it gives the estimator's probabilities, labels and group scores, and sklearn's own matrix product."""
    clf = SpanClassifier(min_df=1, calibration_cv=2).fit(with_context(X), Y)
    scorer = pickle.loads(pickle.dumps(clf.scorer()))
    assert not any(type(v).__module__.startswith("sklearn") for v in vars(scorer).values())
    texts = ["paketet kom aldrig fram, säljaren svarade inte", "refund never came 😡", "ok", "skärmen var repad"]
    items = with_context(texts)
    blocks = [vec.transform(inp) for vec, inp in zip(clf.vectorizers_, clf._block_inputs(items), strict=True)]
    expected = np.asarray(clf._stack(blocks) @ clf.coef_.T) + clf.intercept_
    np.testing.assert_allclose(scorer.decision_function(items), expected, atol=1e-12)
    np.testing.assert_array_equal(scorer.predict_proba(items), clf.predict_proba(items))
    np.testing.assert_array_equal(scorer.predict(items), clf.predict(items))
    np.testing.assert_array_equal(scorer.predict_proba_groups([(texts, "comment")]), clf.predict_proba(items))
    assert list(scorer.classes_) == list(clf.classes_)


def test_reassigned_fitted_numbers_reach_the_scorer():
    clf = SpanClassifier(min_df=1, calibration_cv=0).fit(with_context(X), Y)
    items = with_context(["paketet kom aldrig fram", "skärmen var repad"])
    before = clf.predict_proba(items)
    clf.block_weights_ = np.array([1.0, 1.0, 0.0])  # context off
    np.testing.assert_array_equal(clf.predict_proba(items), clf.predict_proba([(t, "", "") for t, _, _ in items]))
    assert not np.array_equal(clf.predict_proba(items), before)


def test_a_refitted_estimator_scores_with_its_new_numbers():
    clf = SpanClassifier(min_df=1, calibration_cv=0).fit(X, Y)
    first = clf.predict_proba(["paketet kom aldrig"])
    clf.fit(X, ["other" if y == "amazon_delivery" else y for y in Y])
    assert "amazon_delivery" not in clf.classes_
    assert clf.predict_proba(["paketet kom aldrig"]).shape[1] == first.shape[1] - 1


def test_calibration_fits_a_positive_temperature():
    clf = SpanClassifier(min_df=1, calibration_cv=2).fit(X, Y)
    assert clf.temperature_ > 0


def test_binary_problems_follow_sklearns_conventions():
    y = ["blocker" if lab in ("product_condition", "seller_service") else "clean" for lab in Y]
    clf = SpanClassifier(min_df=1, calibration_cv=2).fit(X, y)
    assert clf.decision_function(X[:4]).shape == (4,)
    proba = clf.predict_proba(X[:4])
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(clf.predict(["skärmen var repad", "paketet kom aldrig"])) == ["blocker", "clean"]


def test_the_same_span_scores_the_same_whatever_came_before(shipped_model):
    """Span features never depend on the comments a process has seen before (review finding C1)."""
    item = [("'s😡😡", "", "")]
    before = shipped_model.span_classifier.predict_proba(item)
    shipped_model.suggest({"rating": 1, "comment": "x 's😡😡", "fulfillment_channel": "AFN"})
    np.testing.assert_array_equal(shipped_model.span_classifier.predict_proba(item), before)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
       | st.lists(st.sampled_from(["Paketet", "kom", "inte", "fram", ",", ".", "!!", "😡", "👍🏽", "\n", "\t", "\xa0",
                                   "\u2028", "\u3000", "e\u0301", "don't", "U.S.A.", "http://x.se/a?b=1", "kr.", "'s",
                                   "(", ")", "...", "-", "  "]), max_size=40).map("".join))
def test_words_by_whitespace_chunk_equal_tokenizing_the_whole_text(text):
    """_words tokenizes each whitespace-separated chunk on its own (cached); spaCy splits on whitespace first,
    so that must give exactly the tokens of the whole text, or the shipped model would see other features."""
    from classifier.scoring import _words
    from classifier.segment import fold, tokenizer, word_offsets

    assert _words(text) == tuple(fold(w) for _, _, w in word_offsets(tokenizer().make_doc(text), text))


GROUP_TEXTS = st.lists(st.sampled_from(["paketet kom aldrig", "", "Refund  never came 😡", "skärmen var repad,",
                                        "kundtjänst\nlade på", "ok", "säljaren svarade inte", "bra😡dålig", " "]),
                       max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(GROUP_TEXTS, st.sampled_from(["comment", "neighbours", "none"]), st.booleans()),
                max_size=5))
def test_grouped_scoring_equals_scoring_the_items(groups):
    """The pipeline's path (each span's words read once, context as a concatenation) gives exactly the
    probabilities of the items with_context builds, for every scope, with or without known words."""
    from classifier.scoring import _words

    clf = _grouped_fixture()
    items, calls = [], []
    for texts, scope, known in groups:
        items.extend(with_context(texts, scope) if scope != "none" else [(t, "", "") for t in texts])
        calls.append((texts, scope, [_words(t) for t in texts]) if known else (texts, scope))
    got = clf.predict_proba_groups(calls)
    assert got.shape == (len(items), len(clf.classes_))
    if items:
        np.testing.assert_allclose(got, clf.predict_proba(items), rtol=0, atol=1e-12)


_GROUPED: list[SpanClassifier] = []


def _grouped_fixture() -> SpanClassifier:
    if not _GROUPED:
        _GROUPED.append(SpanClassifier(min_df=1, calibration_cv=2).fit(with_context(X), Y))
    return _GROUPED[0]


def test_grouped_scoring_rejects_an_unknown_scope():
    with pytest.raises(ValueError, match="context scope"):
        _grouped_fixture().predict_proba_groups([(["ok"], "paragraph")])


def test_many_comments_at_once_score_as_each_alone(shipped_model):
    """Large batches count and score features through scipy, single comments through numpy: same numbers."""
    from training.corpus import DATA_DIR, load_corpus

    clf = shipped_model.span_classifier
    groups = [([ln["comment"][s["start"]:s["end"]] for s in ln["spans"]], "comment")
              for ln in load_corpus(DATA_DIR / "dev.jsonl")[:300]]
    together = clf.predict_proba_groups(groups)
    alone = np.vstack([clf.predict_proba_groups([g]) for g in groups])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)


def test_grouped_scoring_of_a_binary_classifier_keeps_both_columns():
    """Review finding: with two classes the scores are one column, which the grouped path softmaxed to 1.0."""
    y = ["blocker" if lab in ("product_condition", "seller_service") else "clean" for lab in Y]
    clf = SpanClassifier(min_df=1, calibration_cv=2).fit(with_context(X), y)
    texts = ["skärmen var repad", "paketet kom aldrig"]
    got = clf.predict_proba_groups([(texts, "comment")])
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got, clf.predict_proba(with_context(texts)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("comment", [
    "Delivery took ages (10 days) :)Otherwise fine",
    "Paketet kom två veckor för sent (igen) :(Skärmen var dessutom repad",
    "Slow delivery (2 weeks) :(The screen was scratched",
    "bra) :(Men kartongen var blöt",
])
def test_the_pipeline_reads_each_span_as_the_span_model_does(shipped_model, comment):
    """Review finding: taking a span's words from the comment's tokens differs where spaCy's special cases
    reach across a space (an emoticon after a bracket); every span must be read as its own text is."""
    analysis = shipped_model.analyze_many([comment])[0]
    items = with_context([s.text for s in analysis.spans], shipped_model.context_scope)
    np.testing.assert_array_equal(analysis.proba, shipped_model.span_classifier.predict_proba(items))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Paketet", "kom", ") :)a", "(igen) :(Skärmen", "bra: (:Men", "ok", " ", "\n",
                                 "t.ex. ", "😡", ":)", "x"]), min_size=1, max_size=12).map(" ".join))
def test_primed_chunk_words_are_the_chunks_own(text):
    """prime_words tokenizes many new chunks in one spaCy call; each must get exactly its own tokens."""
    from classifier import scoring as m
    from classifier.segment import fold, tokenizer, word_offsets

    m._CHUNKS.clear()
    m.prime_words([text, text.upper()])
    for chunk in (text + " " + text.upper()).split():
        alone = tuple(fold(w) for _, _, w in word_offsets(tokenizer().make_doc(chunk), chunk))
        assert m._chunk_words(chunk) == alone
