"""From a feedback record to a suggested verdict: segment, identify language, label, decide."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import config_context

from classifier.decision import BLOCKING_LABELS, OrderFacts, ScoredSpan, Thresholds, decide
from classifier.langid import LanguageGuess, LanguageIdentifier
from classifier.model import SpanClassifier, with_context
from classifier.records import FeedbackRecord, ReasonOut, SpanOut, SuggestedVerdict, parse_record
from classifier.segment import ClauseSegmenter, Span, make_doc

CHUNK = 2_048  # comments scored per matrix product in suggest_many


@dataclass
class Analysis:
    """The classifier's reading of one comment, before the policy is applied."""

    spans: list[Span]
    language: LanguageGuess
    proba: np.ndarray  # (n_spans, n_labels), columns in ``classes``


class FeedbackModel:
    """Everything a verdict needs: segmenter, language identifier, span classifier, thresholds."""

    def __init__(self, *, segmenter: ClauseSegmenter, langid: LanguageIdentifier, span_classifier: SpanClassifier,
                 thresholds: Thresholds, version: str) -> None:
        self.segmenter = segmenter
        self.langid = langid
        self.span_classifier = span_classifier
        self.thresholds = thresholds
        self.version = version

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.span_classifier.classes_]

    # -- reading comments ----------------------------------------------------------
    def analyze_many(self, comments: Sequence[str]) -> list[Analysis]:
        """Segment, identify the language of and label every span of each comment."""
        per_comment = []
        items: list[tuple[str, str, str]] = []
        for comment in comments:
            spans = self.segmenter.segment(comment, make_doc(comment))
            texts = [s.text for s in spans]
            per_comment.append((spans, self.langid.identify(texts)))
            items.extend(with_context(texts))
        with config_context(assume_finite=True, skip_parameter_validation=True):
            proba = self.span_classifier.predict_proba(items) if items else np.zeros((0, len(self.classes)))
        out, k = [], 0
        for spans, lang in per_comment:
            out.append(Analysis(spans, lang, proba[k : k + len(spans)]))
            k += len(spans)
        return out

    def predict_span_labels(self, items: list[tuple[str, str, str]]) -> list[str]:
        """Labels for spans given with their neighbours (for evaluation on gold spans)."""
        with config_context(assume_finite=True, skip_parameter_validation=True):
            return [str(x) for x in self.span_classifier.predict(items)] if items else []

    def score_spans(self, analysis: Analysis) -> tuple[ScoredSpan, ...]:
        classes = self.classes
        blocking_cols = [j for j, c in enumerate(classes) if c in BLOCKING_LABELS]
        scored = []
        for span, p in zip(analysis.spans, analysis.proba, strict=True):
            j = int(np.argmax(p))
            scored.append(ScoredSpan(span.start, span.end, span.text, classes[j], float(p[j]),
                                     float(p[blocking_cols].sum())))
        return tuple(scored)

    # -- verdicts --------------------------------------------------------------------
    def _verdict(self, record: FeedbackRecord, analysis: Analysis, thresholds: Thresholds) -> SuggestedVerdict:
        spans = self.score_spans(analysis)
        order = OrderFacts(record.rating, record.fulfillment_channel, record.shipped_via_mcf)
        decision = decide(order, spans, language=analysis.language.dominant, thresholds=thresholds)
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
            out.extend(self.verdicts(chunk, self.analyze_many([r.comment for r in chunk]), thresholds))
        return out

    def suggest(self, record: Any) -> SuggestedVerdict:
        """The suggested verdict for one record (a dict or a FeedbackRecord)."""
        return self.suggest_many([record])[0]
