"""The span classifier: a scikit-learn estimator over spaCy-token features.

An input item is a span's text, or a ``(text, previous_span_text, next_span_text)`` triple
so that the neighbouring spans can serve as context.  The features (words, character n-grams,
the neighbours' words) are described in :mod:`classifier.scoring`.

A multinomial logistic regression scores them and a single temperature, fitted on
out-of-fold scores, calibrates the probabilities.

scikit-learn's vectorizers learn the vocabularies and IDF weights in ``fit``; prediction
then goes through a :class:`~classifier.scoring.SpanScorer` over the same fitted vocabulary and
coefficients (no per-call input validation, no scikit-learn), which gives the same matrix as the
vectorizers' own ``transform`` and the same probabilities (tested) at a fraction of the per-call cost.
"""

from __future__ import annotations

import copy
import math
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from classifier.packing import pack, unpack

# char_features, context_features, word_features: re-exported, because models saved before the scorer
# existed name these analyzers as ``classifier.model.*``; with_context: imported from here by training.
from classifier.scoring import (  # noqa: F401
    SpanScorer,
    _as_items,
    _softmax,
    _two_columns,
    char_features,
    context_features,
    with_context,
    word_features,
)


class SpanClassifier(ClassifierMixin, BaseEstimator):
    """Labels spans as amazon_delivery, amazon_service, product_condition, seller_service or other.

    Parameters
    ----------
    C : float, default=8.0
        Inverse regularisation strength of the logistic regression.
    word_ngram_max : int, default=2
        Longest word n-gram.
    char_ngram_range : tuple of int, default=(2, 5)
        Character n-gram lengths, inside word boundaries.
    context_weight : float, default=0.6
        Weight of the neighbouring spans' words; 0 turns context off.  0.6 gave the best dev strike
        recall at the false-strike limits (0.35: 3 points lower, 0.9: could not meet the limits).
    min_df : int, default=2
        Features seen in fewer training spans are dropped.
    class_weight : "balanced" or None, default="balanced"
    calibration_cv : int, default=3
        Folds for the out-of-fold scores that fit the temperature; 0 or 1 skips calibration.
    random_state : int, default=0

    Examples
    --------
    >>> clf = SpanClassifier(calibration_cv=0, min_df=1).fit(
    ...     ["paketet kom aldrig", "skärmen var repad", "kundtjänst lade på"] * 3,
    ...     ["amazon_delivery", "product_condition", "amazon_service"] * 3)
    >>> clf.predict(["paketet kom aldrig fram"])[0]
    'amazon_delivery'
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "word_ngram_max": [Interval(Integral, 1, 3, closed="both")],
        "char_ngram_range": [tuple],
        "context_weight": [Interval(Real, 0, None, closed="left")],
        "min_df": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), None],
        "calibration_cv": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, C: float = 8.0, word_ngram_max: int = 2, char_ngram_range: tuple[int, int] = (2, 5),
                 context_weight: float = 0.6, min_df: int = 2, class_weight: str | None = "balanced",
                 calibration_cv: int = 3, random_state: int | None = 0) -> None:
        self.C = C
        self.word_ngram_max = word_ngram_max
        self.char_ngram_range = char_ngram_range
        self.context_weight = context_weight
        self.min_df = min_df
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------
    def _make_vectorizers(self) -> list[TfidfVectorizer]:
        lo, hi = self.char_ngram_range
        analyzers = [
            partial(word_features, ngram_max=self.word_ngram_max),
            partial(char_features, lo=lo, hi=hi),
            context_features,
        ]
        return [
            TfidfVectorizer(analyzer=a, min_df=self.min_df, sublinear_tf=True, dtype=np.float64)
            for a in analyzers
        ]

    @staticmethod
    def _block_inputs(items: list[tuple[str, str, str]]) -> list[list[Any]]:
        return [[t for t, _, _ in items], [t for t, _, _ in items], [(p, n) for _, p, n in items]]

    def fit(self, X: Any, y: Any) -> SpanClassifier:
        """Learn vocabularies, IDF weights, coefficients and the calibration temperature."""
        self._validate_params()
        items = _as_items(X)
        y = np.asarray(y)
        if len(items) != len(y):
            raise ValueError(f"X has {len(items)} items but y has {len(y)} labels")
        self.vectorizers_ = self._make_vectorizers()
        blocks = []
        for vec, inputs in zip(self.vectorizers_, self._block_inputs(items), strict=True):
            blocks.append(vec.fit_transform(inputs))
            vec.stop_words_ = None  # only needed for introspection; large when pickled
        self.block_weights_ = np.array([1.0, 1.0, self.context_weight])
        Xm = self._stack(blocks)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000,
                                random_state=self.random_state)
        lr.fit(Xm, y)
        self.classes_ = lr.classes_
        self.coef_ = lr.coef_
        self.intercept_ = lr.intercept_
        self.temperature_ = 1.0
        if self.calibration_cv >= 2:
            cv = StratifiedKFold(self.calibration_cv, shuffle=True, random_state=self.random_state)
            scores = cross_val_predict(lr, Xm, y, cv=cv, method="decision_function")
            self.temperature_ = _fit_temperature(_two_columns(scores), np.searchsorted(self.classes_, y))
        self.n_features_in_ = 1
        return self

    def _stack(self, blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
        return sp.hstack([b * w for b, w in zip(blocks, self.block_weights_, strict=True)], format="csr")

    # -- inference: a SpanScorer over the fitted numbers -------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_scorer", None)  # rebuilt lazily, never pickled
        state.pop("_scorer_of", None)
        if "vectorizers_" in state:  # vocabularies travel packed (see classifier.packing)
            vecs = []
            for vec in self.vectorizers_:
                vec = copy.copy(vec)
                vec.vocabulary_ = pack(vec.vocabulary_)
                vecs.append(vec)
            state["vectorizers_"] = vecs
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("_word_cache", "_idf_cache", "_coef_t"):  # caches of models saved before the scorer
            state.pop(key, None)
        for vec in state.get("vectorizers_", []):
            vec.vocabulary_ = unpack(vec.vocabulary_)
        self.__dict__.update(state)

    def scorer(self) -> SpanScorer:
        """The fitted numbers as a :class:`~classifier.scoring.SpanScorer` (shares the vocabularies;
        built once per fit).  Saved models carry this instead of the estimator."""
        check_is_fitted(self, "coef_")
        scorer = self.__dict__.get("_scorer")
        fitted = (self.coef_, self.intercept_, self.classes_, self.temperature_, self.block_weights_,
                  self.vectorizers_)
        if scorer is None or any(a is not b for a, b in zip(fitted, self.__dict__["_scorer_of"], strict=True)):
            self.__dict__["_scorer_of"] = fitted
            scorer = self.__dict__["_scorer"] = SpanScorer(
                vocabularies=[v.vocabulary_ for v in self.vectorizers_],
                idf=np.concatenate([v.idf_ for v in self.vectorizers_]), coef=self.coef_,
                intercept=self.intercept_, classes=self.classes_, temperature=self.temperature_,
                block_weights=self.block_weights_, word_ngram_max=self.word_ngram_max,
                char_ngram_range=self.char_ngram_range)
        return scorer

    def transform_items(self, items: list[tuple[str, str, str]]) -> sp.csr_matrix:
        """The feature matrix of the fitted vocabularies; equal to stacking the fitted
        vectorizers' own ``transform`` (tested), without their per-call overhead."""
        return self.scorer().transform_items(items)

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores (binary: 1-D, like scikit-learn's)."""
        return self.scorer().decision_function(X)

    def predict_proba_groups(self, groups: Any) -> np.ndarray:
        """Calibrated probabilities for the spans of many comments (see ``SpanScorer.predict_proba_groups``)."""
        return self.scorer().predict_proba_groups(groups)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, columns in the order of ``classes_``."""
        return self.scorer().predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.scorer().predict(X)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _fit_temperature(scores: np.ndarray, y_idx: np.ndarray) -> float:
    """The temperature T that minimises the log loss of softmax(scores / T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = _softmax(scores / math.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(y_idx)), y_idx] + 1e-12)))

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(math.exp(res.x))
