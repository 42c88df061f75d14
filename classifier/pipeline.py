"""From a feedback record to a suggested verdict: segment, identify language, label, decide."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from classifier.decision import BLOCKING_LABELS, MARKETPLACE_LABELS, OrderFacts, ScoredSpan, Thresholds, decide
from classifier.gate import COMMENT_LABELS, FINE_MARGINS, DoubtGate, gate_features
from classifier.gate import FEATURES as GATE_FEATURES
from classifier.langid import LanguageGuess, LanguageIdentifier
from classifier.records import FeedbackRecord, ReasonOut, SpanOut, SuggestedVerdict, parse_record
from classifier.scoring import Group, SpanScorer, with_context
from classifier.segment import ClauseSegmenter, Span, make_doc

if TYPE_CHECKING:
    from classifier.model import SpanClassifier

CHUNK = 2_048  # comments scored per matrix product in suggest_many


@dataclass
class Analysis:
    """The classifier's reading of one comment, before the policy is applied."""

    spans: list[Span]
    language: LanguageGuess
    proba: np.ndarray  # (n_spans, n_labels), columns in ``classes``
    # The gate's doubt that a blocker hides in a comment that looks strikeable (0 when not looked at).
    doubt: float = 0.0


class FeedbackModel:
    """Everything a verdict needs: segmenter, language identifier, span classifier, thresholds.

    ``span_classifier`` is the fitted estimator (:class:`~classifier.model.SpanClassifier`) in a model
    just trained, and its :class:`~classifier.scoring.SpanScorer` in a model loaded from disk: a saved
    model keeps only the fitted numbers, so loading and scoring never import scikit-learn."""

    gate: DoubtGate | None = None  # the second look (classifier.gate); None: no second look
    # The whole comment's reading for the gate (classifier.gate.COMMENT_FEATURE); None in older models.
    comment_classifier: SpanClassifier | SpanScorer | None = None
    context_scope: str = "neighbours"  # what the span model sees around a span (classifier.scoring.with_context)

    def __init__(self, *, segmenter: ClauseSegmenter, langid: LanguageIdentifier,
                 span_classifier: SpanClassifier | SpanScorer, thresholds: Thresholds, version: str,
                 gate: DoubtGate | None = None, context_scope: str = "comment",
                 comment_classifier: SpanClassifier | SpanScorer | None = None) -> None:
        self.segmenter = segmenter
        self.langid = langid
        self.span_classifier = span_classifier
        self.thresholds = thresholds
        self.version = version
        self.gate = gate
        self.context_scope = context_scope
        self.comment_classifier = comment_classifier

    @property
    def classes(self) -> list[str]:
        return list(self._columns()[0])

    def _columns(self) -> tuple[tuple[str, ...], list[int]]:
        """The span model's labels and the columns of the blocking ones (looked up once per model)."""
        cached = self.__dict__.get("_columns_cache")
        if cached is None or cached[2] is not self.span_classifier:
            labels = tuple(str(c) for c in self.span_classifier.classes_)
            cached = (labels, [j for j, c in enumerate(labels) if c in BLOCKING_LABELS], self.span_classifier)
            self.__dict__["_columns_cache"] = cached
        return cached[0], cached[1]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_columns_cache", None)
        for name in ("span_classifier", "comment_classifier"):
            if hasattr(state.get(name), "scorer"):  # an estimator: save its fitted numbers only
                state[name] = state[name].scorer()
        return state

    # -- reading comments ----------------------------------------------------------
    def analyze_many(self, comments: Sequence[str], eligible: Sequence[bool] | None = None) -> list[Analysis]:
        """Segment, identify the language of and label every span of each comment.

        A comment that could be struck (``eligible``, default all; no span labelled a blocker, some
        span about the marketplace) gets a second look: its doubt (:mod:`classifier.gate`).
        """
        margins = (0.0, *FINE_MARGINS) if self.gate is not None else (0.0,)
        levels, per_comment = [], []
        groups: list[Group] = []
        for comment in comments:
            cuts = self.segmenter.segment_levels(comment, make_doc(comment), margins)
            texts = [s.text for s in cuts[0]]
            levels.append(cuts)
            per_comment.append((cuts[0], self.langid.identify(texts)))
            groups.append((texts, self.context_scope, [s.words for s in cuts[0]]))
        proba = self._proba_groups(groups)
        out, k = [], 0
        for spans, lang in per_comment:
            out.append(Analysis(spans, lang, proba[k : k + len(spans)]))
            k += len(spans)
        if self.gate is not None:
            todo = [i for i, a in enumerate(out) if (eligible is None or eligible[i]) and self.could_strike(a)]
            for i, doubt in zip(todo, self.doubts([out[i] for i in todo], [levels[i] for i in todo],
                                                  [comments[i] for i in todo]), strict=True):
                out[i].doubt = doubt
        return out

    def could_strike(self, analysis: Analysis) -> bool:
        """No span labelled a blocker and some span about delivery or service."""
        classes = self._columns()[0]
        labels = {classes[j] for j in analysis.proba.argmax(axis=1)} if len(analysis.spans) else set()
        return not labels & BLOCKING_LABELS and bool(labels & MARKETPLACE_LABELS)

    def gate_features(self, analyses: Sequence[Analysis], levels: Sequence[Sequence[Sequence[Span]]],
                      comments: Sequence[str]) -> np.ndarray:
        """The gate's features for each comment (the second look: finer cuts and no context).

        A finer cut that comes out the same as the cut before it is not scored again: the same span
        texts with the same context give the same probabilities."""
        classes, blocking = self._columns()
        other = classes.index("other")
        groups: list[Group] = []
        n_rows = 0
        plans = []  # per comment, per finer cut: the offset of its scores in the rows, or None to reuse
        for a, cuts in zip(analyses, levels, strict=True):
            plan: list[int | None] = []
            previous = [s.text for s in a.spans]
            for cut in cuts[1:]:
                texts = [s.text for s in cut]
                if texts == previous:
                    plan.append(None)
                else:
                    plan.append(n_rows)
                    groups.append((texts, self.context_scope, [s.words for s in cut]))
                    n_rows += len(texts)
                previous = texts
            plan.append(n_rows)
            groups.append(([s.text for s in a.spans], "none", [s.words for s in a.spans]))
            n_rows += len(a.spans)
            plans.append(plan)
        extra = self._proba_groups(groups)[:, blocking].sum(axis=1)
        rows = []
        for a, cuts, comment, plan in zip(analyses, levels, comments, plans, strict=True):
            coarse = a.proba[:, blocking].sum(axis=1)
            pieces, previous_scores = [], coarse
            for cut, at in zip(cuts[1:], plan, strict=False):
                previous_scores = previous_scores if at is None else extra[at : at + len(cut)]
                pieces.append(previous_scores)
            start = plan[-1]
            assert start is not None
            no_context = extra[start : start + len(a.spans)]
            rows.append(gate_features(coarse, a.proba.max(axis=1), a.proba[:, other], pieces, no_context,
                                      len(comment)))
        features = np.array(rows).reshape(len(rows), len(GATE_FEATURES))
        if self.comment_classifier is None:
            return features
        return np.column_stack([features, self.comment_blocker_log_odds(comments)])

    def comment_blocker_log_odds(self, comments: Sequence[str]) -> np.ndarray:
        """The comment classifier's log-odds that each whole comment holds a blocker."""
        assert self.comment_classifier is not None
        if not comments:
            return np.zeros(0)
        scores = self.comment_classifier.decision_function([(c, "", "") for c in comments])
        return scores if str(self.comment_classifier.classes_[1]) == COMMENT_LABELS[0] else -scores

    def doubts(self, analyses: Sequence[Analysis], levels: Sequence[Sequence[Sequence[Span]]],
               comments: Sequence[str]) -> list[float]:
        if self.gate is None or not analyses:
            return [0.0] * len(analyses)
        return [float(d) for d in self.gate.predict(self.gate_features(analyses, levels, comments))]

    def _proba_groups(self, groups: list[Group]) -> np.ndarray:
        """Probabilities for the spans of each ``(span_texts, scope)`` group, as ``predict_proba`` over
        ``with_context(span_texts, scope)`` gives them (scope "none": each span alone)."""
        return self.span_classifier.predict_proba_groups(groups)

    def span_items(self, span_texts: Sequence[str]) -> list[tuple[str, str, str]]:
        """The span model's input for the spans of one comment."""
        return with_context(span_texts, self.context_scope)

    def predict_span_labels(self, items: list[tuple[str, str, str]]) -> list[str]:
        """Labels for spans given with their neighbours (for evaluation on gold spans)."""
        return [str(x) for x in self.span_classifier.predict(items)] if items else []

    def score_spans(self, analysis: Analysis) -> tuple[ScoredSpan, ...]:
        classes, blocking_cols = self._columns()
        proba = analysis.proba
        if len(analysis.spans) != len(proba):
            raise ValueError(f"{len(analysis.spans)} spans but {len(proba)} rows of probabilities")
        if not len(proba):
            return ()
        top = proba.argmax(axis=1)  # whole arrays at once: the same numbers as span by span
        confidence = proba[np.arange(len(proba)), top].tolist()
        blocking = proba[:, blocking_cols].sum(axis=1).tolist()
        return tuple(ScoredSpan(span.start, span.end, span.text, classes[j], c, b)
                     for span, j, c, b in zip(analysis.spans, top.tolist(), confidence, blocking, strict=True))

    # -- verdicts --------------------------------------------------------------------
    def _verdict(self, record: FeedbackRecord, analysis: Analysis, thresholds: Thresholds) -> SuggestedVerdict:
        spans = self.score_spans(analysis)
        order = OrderFacts(record.rating, record.fulfillment_channel, record.shipped_via_mcf)
        decision = decide(order, spans, language=analysis.language.dominant, thresholds=thresholds,
                          doubt=analysis.doubt)
        return SuggestedVerdict(
            feedback_id=record.feedback_id,
            verdict=decision.verdict,
            reasons=tuple(ReasonOut(r.code, r.message) for r in decision.reasons),
            language=analysis.language.language,
            spans=tuple(SpanOut(s.start, s.end, s.text, s.label, round(s.confidence, 4)) for s in spans),
            note=decision.note,
            model_version=self.version,
        )

    def verdicts(self, records: Sequence[FeedbackRecord], analyses: Sequence[Analysis],
                 thresholds: Thresholds | None = None) -> list[SuggestedVerdict]:
        """Apply the policy to analyses already made (threshold tuning reuses one analysis)."""
        th = thresholds or self.thresholds
        return [self._verdict(r, a, th) for r, a in zip(records, analyses, strict=True)]

    def suggest_many(self, records: Iterable[Any], *, thresholds: Thresholds | None = None) -> list[SuggestedVerdict]:
        """Verdicts for many records, in order.  Raises RecordError on the first invalid record."""
        parsed = [parse_record(r) for r in records]
        out: list[SuggestedVerdict] = []
        for i in range(0, len(parsed), CHUNK):
            chunk = parsed[i : i + CHUNK]
            eligible = [r.rating <= 2 and r.fulfillment_channel == "AFN" and not r.shipped_via_mcf for r in chunk]
            out.extend(self.verdicts(chunk, self.analyze_many([r.comment for r in chunk], eligible), thresholds))
        return out

    def suggest(self, record: Any) -> SuggestedVerdict:
        """The suggested verdict for one record (a dict or a FeedbackRecord)."""
        return self.suggest_many([record])[0]
