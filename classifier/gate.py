"""The second look: how likely a comment that *looks* strikeable still holds a blocker.

The span model labels each span on its own.  A comment is struck only when no span is a blocker,
so one missed clause ("..., seller never answered") is a false strike.  For the comments that could
be struck, the pipeline reads the spans twice more (cut finer, and without context) and this gate
turns those readings into one number, the *doubt*: the probability that the comment holds a point
about the product or the seller after all.  The decision layer sends a comment with too much doubt
to review instead of striking it (``Thresholds.strike_max_doubt``, tuned on dev).

The gate is a logistic regression over a handful of summary features.  It is fitted on
out-of-fold span probabilities of the training comments (``training.train.fit_gate``), so it
learns how wrong the span model is on text it has not seen.  Inference is one dot product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The two finer cuts: segmenter score margins (see ``ClauseSegmenter.segment_levels``).
FINE_MARGINS = (1.0, 2.0)

FEATURES = (
    "max_blocking", "second_blocking", "sum_blocking", "any_blocking", "spans",
    "fine1_max_blocking", "fine1_extra_pieces", "fine2_max_blocking", "fine2_extra_pieces",
    "no_context_max_blocking", "min_confidence", "max_other", "length_100_chars",
    "log_max_blocking", "log_second_blocking", "log_any_blocking", "log_fine1_max_blocking",
    "log_fine2_max_blocking", "log_no_context_max_blocking",
)


# A model trained since 2026.11.26-6 adds one more reading: the whole comment's log-odds of holding a
# blocker, from a binary model over the comment's words and character n-grams (``comment_classifier``
# of :class:`~classifier.pipeline.FeedbackModel`).  It sees what no cut shows: a blocker the segmenter
# merged into a delivery span, or one spread over several spans.  On the out-of-fold training readings
# it raised the gate's AUC from 0.895 to 0.901 and, at 5 held-out keeps let through, the share of
# strikeable comments passed from 0.30-0.34 to 0.37-0.38; on dev, strike recall at the false-strike
# limits went from 0.64 to 0.70.
COMMENT_FEATURE = "comment_blocker_log_odds"
COMMENT_LABELS = ("blocker", "clean")  # the comment classifier's two classes


def gate_features(blocking: np.ndarray, top: np.ndarray, other: np.ndarray, fine: Sequence[np.ndarray],
                  no_context: np.ndarray, n_chars: int) -> np.ndarray:
    """One row of :data:`FEATURES` for a comment.

    blocking / top / other: per span, P(product_condition) + P(seller_service), the top label's
    probability and P(other), with context; ``fine``: per finer cut, the blocking probability of
    each piece; ``no_context``: the spans' blocking probability read without their neighbours.
    """
    n = len(blocking)
    ordered = np.sort(blocking)
    raw = [
        float(ordered[-1]), float(ordered[-2]) if n > 1 else 0.0, float(blocking.sum()),
        float(1.0 - np.prod(1.0 - blocking)), float(n),
    ]
    for pieces in fine:
        raw += [float(pieces.max()) if len(pieces) else 0.0, float(len(pieces) - n)]
    raw += [float(no_context.max()), float(top.min()), float(other.max()), n_chars / 100.0]
    logs = np.log(np.clip(np.array([raw[0], raw[1], raw[3], raw[5], raw[7], raw[9]]), 1e-6, 1 - 1e-6))
    return np.concatenate([np.array(raw), logs])


class DoubtGate:
    """Standardised features -> logistic regression -> P(the comment holds a blocker).

    The features are :data:`FEATURES`, followed by :data:`COMMENT_FEATURE` for models that carry a
    comment classifier (``feature_names``)."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURES + (COMMENT_FEATURE,) if len(self.coef_) == len(FEATURES) + 1 else FEATURES

    def fit(self, X: np.ndarray, y: np.ndarray) -> DoubtGate:
        if X.shape[1] not in (len(FEATURES), len(FEATURES) + 1):
            raise ValueError(f"expected {len(FEATURES)} gate features (or one more, {COMMENT_FEATURE}), "
                             f"got {X.shape[1]}")
        if len(set(y.tolist())) < 2:
            raise ValueError("the gate needs both outcomes among its training comments")
        from sklearn.linear_model import LogisticRegression  # training only: scoring needs numpy alone
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X)
        lr = LogisticRegression(C=self.C, max_iter=5_000).fit(scaler.transform(X), y)
        # Fold the scaler into the weights: doubt = sigmoid(X @ coef + intercept).
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        self.coef_ = lr.coef_[0] / scale
        self.intercept_ = float(lr.intercept_[0] - np.dot(lr.coef_[0], scaler.mean_ / scale))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The doubt of each row of features."""
        z = np.asarray(X, dtype=float) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))
