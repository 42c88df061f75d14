"""Active learning: pick the pool comments the model is least sure about, as corpus lines to correct.

>>> from classifier import load_model                                   # doctest: +SKIP
>>> from training.select import read_pool, select, write_lines
>>> pool = read_pool("pool.jsonl")           # bad lines land in pool.problems, with their numbers
>>> lines = select(load_model(), pool, n=100, strategy="margin")
>>> write_lines(lines, "to_label.jsonl")     # passes `feedback-strike data validate`

Strategies (each ranks the whole pool; ties go to the earlier pool line, so the order is fixed):

- ``margin``: the smallest gap, over the comment's spans, between a span's two likeliest labels
  (classic margin sampling).  Smaller is less sure; the span with the smallest gap is named.
- ``verdict``: how close the verdict is to a coin flip.  With the spans taken as independent,
  P(strike) = P(no span is a blocker) x P(some span is about the marketplace), for an eligible
  order (rating 1-2, AFN, not MCF; any other order is kept whatever its spans, so it scores 0);
  the score is ``1 - |2 P(strike) - 1|``.  This is the margin of the deciding spans: it finds the
  comments whose strike-or-keep hinges on one uncertain label.
- ``disagreement``: how strongly one span says "the marketplace's fault" (P(amazon_delivery) +
  P(amazon_service)) while another says "the product or the seller" (P(product_condition) +
  P(seller_service)): the largest ``min(P_marketplace(i), P_blocking(j))`` over two different spans.
  These mixed comments are where one label decides strike against keep (transit damage, "the
  seller" in an aside).  Ties, single-span comments included, fall back to the margin.

Each picked comment becomes a corpus line (INTERFACES.md): the record's fields (never the buyer's
e-mail, which a labeller does not need), ``language``, the predicted ``spans`` with their text and
confidence, the ``verdict`` the policy gives for the predicted labels and order facts (``strike`` or
``keep``, so the line is valid as it stands), ``source: "selected"``, and a ``selection`` object
(strategy, score, rank, pool line, the model's suggested verdict, model version) for the person
who corrects it.  Corrected lines go back into training like any corpus file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from classifier.decision import BLOCKING_LABELS, MARKETPLACE_LABELS, OrderFacts, gold_verdict
from classifier.jsonl import Line, read_lines
from classifier.pipeline import Analysis, FeedbackModel
from classifier.records import FeedbackRecord, RecordError, parse_record
from training.corpus import line_problems
from training.progress import progress_bar

Strategy = Literal["margin", "verdict", "disagreement"]
STRATEGIES: tuple[str, ...] = ("margin", "verdict", "disagreement")
CHUNK = 256  # comments analysed per step (one matrix product each); small enough for a moving bar
# Record fields copied into a picked line; buyer_email is left out on purpose.
RECORD_FIELDS = ("feedback_id", "rating", "comment", "fulfillment_channel", "shipped_via_mcf", "order_id",
                 "seller_id", "feedback_date")


@dataclass
class Pool:
    """Valid records with their pool line numbers, and what was left out and why."""

    records: list[tuple[int, FeedbackRecord]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message): invalid, skipped
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (line, earlier line): same comment, skipped


def pool_from_lines(lines: Iterable[Line]) -> Pool:
    """A :class:`Pool` from parsed JSONL lines: every non-blank line ends up in exactly one of
    ``records``, ``problems`` (invalid record, or a feedback_id used before) and ``repeats``."""
    pool = Pool()
    ids: dict[str, int] = {}
    comments: dict[str, int] = {}
    for line in lines:
        n = line.number
        if line.error:
            pool.problems.append((n, line.error))
            continue
        try:
            record = parse_record(line.value)
        except RecordError as exc:
            pool.problems.extend((n, f"{f}: {m}") for f, m in exc.problems)
            continue
        fid = record.feedback_id
        if fid is not None and fid in ids:
            pool.problems.append((n, f"feedback_id {fid!r} already used on line {ids[fid]}"))
            continue
        if record.comment in comments:
            pool.repeats.append((n, comments[record.comment]))
            continue
        if fid is not None:
            ids[fid] = n
        comments[record.comment] = n
        pool.records.append((n, record))
    return pool


def read_pool(path: str | Path) -> Pool:
    """The pool file at ``path`` (JSONL of feedback records or corpus lines), read line by line."""
    with open(path, "rb") as fh:
        return pool_from_lines(read_lines(fh))


def pool_from_records(records: Iterable[Any]) -> Pool:
    """A :class:`Pool` from records in memory (dicts or FeedbackRecords), numbered from 1."""
    return pool_from_lines(Line(i, r) for i, r in enumerate(records, 1))


def _margins(proba: np.ndarray) -> np.ndarray:
    """Per span: the likeliest label's probability minus the runner-up's."""
    if proba.shape[1] < 2:
        return np.ones(len(proba))
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _group(proba: np.ndarray, classes: Sequence[str], labels: frozenset[str]) -> np.ndarray:
    return proba[:, [k for k, c in enumerate(classes) if c in labels]].sum(axis=1)


def strike_probability(proba: np.ndarray, classes: Sequence[str], order: OrderFacts) -> float:
    """P(strike) with independent spans: no span a blocker, and at least one about the marketplace."""
    if order.rating >= 3 or order.fulfillment_channel != "AFN" or order.shipped_via_mcf or len(proba) == 0:
        return 0.0
    no_blocker = float(np.prod(1.0 - _group(proba, classes, BLOCKING_LABELS)))
    no_marketplace = float(np.prod(1.0 - _group(proba, classes, MARKETPLACE_LABELS)))
    return no_blocker * (1.0 - no_marketplace)


def disagreement(proba: np.ndarray, classes: Sequence[str]) -> float:
    """max over spans i != j of min(P_marketplace(i), P_blocking(j)); 0 for a single span."""
    if len(proba) < 2:
        return 0.0
    market = _group(proba, classes, MARKETPLACE_LABELS)
    blocking = _group(proba, classes, BLOCKING_LABELS)
    pair = np.minimum(market[:, None], blocking[None, :])
    np.fill_diagonal(pair, 0.0)
    return float(pair.max())


@dataclass(frozen=True)
class Uncertainty:
    margin: float  # the smallest label margin among the comment's spans
    span: int  # which span (0-based) has it
    strike_probability: float
    disagreement: float

    @property
    def verdict(self) -> float:
        """1 when strike and keep are equally likely, 0 when the verdict is certain."""
        return 1.0 - abs(2.0 * self.strike_probability - 1.0)


def uncertainty(analysis: Analysis, classes: Sequence[str], order: OrderFacts) -> Uncertainty:
    """How unsure the model is about one comment (see the module docstring)."""
    if len(analysis.proba) == 0:
        return Uncertainty(0.0, 0, 0.0, 0.0)
    margins = _margins(analysis.proba)
    k = int(np.argmin(margins))
    return Uncertainty(float(margins[k]), k, strike_probability(analysis.proba, classes, order),
                       disagreement(analysis.proba, classes))


def _rank_key(strategy: str, u: Uncertainty, line: int) -> tuple[float, float, int]:
    """Sort key, smallest first: the strategy's score, then the label margin, then the pool line."""
    if strategy == "margin":
        return (u.margin, 0.0, line)
    if strategy == "verdict":
        return (-u.verdict, u.margin, line)
    return (-u.disagreement, u.margin, line)


def corpus_line(record: FeedbackRecord, model: FeedbackModel, analysis: Analysis) -> dict[str, Any]:
    """A corpus line (INTERFACES.md) with the model's spans and labels, and the verdict those labels give."""
    verdict = model.verdicts([record], [analysis])[0]
    out: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        value = getattr(record, name)
        if value is not None or name == "feedback_id":
            out[name] = value.isoformat() if name == "feedback_date" else value
    out["language"] = verdict.language
    out["spans"] = [{"start": s.start, "end": s.end, "text": s.text, "label": s.label, "confidence": s.confidence}
                    for s in verdict.spans]
    order = OrderFacts(record.rating, record.fulfillment_channel, record.shipped_via_mcf)
    out["verdict"] = gold_verdict(order, [s.label for s in verdict.spans])
    out["source"] = "selected"
    out["selection"] = {"suggested_verdict": verdict.verdict, "model_version": model.version}
    return out


def select(model: FeedbackModel, pool: Pool | Iterable[Any], *, n: int = 100, strategy: str = "margin",
           progress: bool | None = None) -> list[dict[str, Any]]:
    """The ``n`` comments of ``pool`` the model is least sure about, as corpus lines, most uncertain first.

    ``pool`` is a :class:`Pool` (see :func:`read_pool`) or records in memory; invalid records in memory
    raise :class:`RecordError` naming their positions (a Pool carries its problems itself).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    if not isinstance(pool, Pool):
        pool = pool_from_records(pool)
        if pool.problems:
            raise RecordError([(f"record {i}", msg) for i, msg in pool.problems])
    classes = model.classes
    scored: list[tuple[tuple[float, float, int], int, Uncertainty]] = []  # (rank key, pool index, scores)
    with progress_bar(total=len(pool.records), desc=f"scoring the pool ({strategy})", unit="comment",
                      enabled=progress) as bar:
        for start in range(0, len(pool.records), CHUNK):
            chunk = pool.records[start : start + CHUNK]
            analyses = model.analyze_many([record.comment for _, record in chunk])
            for k, ((pool_line, r), analysis) in enumerate(zip(chunk, analyses, strict=True)):
                u = uncertainty(analysis, classes, OrderFacts(r.rating, r.fulfillment_channel, r.shipped_via_mcf))
                scored.append((_rank_key(strategy, u, pool_line), start + k, u))
            bar.update(len(chunk))
    picked = sorted(scored, key=lambda item: item[0])[:n]
    # Only the picked comments are analysed again (the same numbers): the pool's analyses are not kept.
    analyses = model.analyze_many([pool.records[index][1].comment for _, index, _ in picked])
    out = []
    for rank, ((_, index, u), analysis) in enumerate(zip(picked, analyses, strict=True), 1):
        line_no, record = pool.records[index]
        line = corpus_line(record, model, analysis)
        line["selection"] = {"strategy": strategy, "rank": rank, "pool_line": line_no,
                             "margin": round(u.margin, 4), "least_sure_span": u.span,
                             "strike_probability": round(u.strike_probability, 4),
                             "disagreement": round(u.disagreement, 4), **line["selection"]}
        problems = line_problems(line)
        if problems:  # cannot happen for a valid record; never hand out a line that fails validation
            raise RuntimeError(f"pool line {line_no}: the picked line is not a valid corpus line: {problems}")
        out.append(line)
    return out


def write_lines(lines: Iterable[dict[str, Any]], path: str | Path) -> None:
    """Write corpus lines as JSONL (UTF-8, one object a line)."""
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
