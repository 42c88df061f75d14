"""Corpus lines as pandas DataFrames, for notebooks.

>>> from training.frames import load_frame          # doctest: +SKIP
>>> spans = load_frame("data/train.jsonl", level="spans")
>>> SpanClassifier().fit(spans[["text", "prev_text", "next_text"]].itertuples(index=False, name=None), spans.label)

Any JSONL of corpus lines works: the corpus files, reviewer corrections from
``GET /v1/corrections/export``, or lines written by a notebook.  Lines are validated first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from classifier.model import with_context
from training.corpus import load_corpus

ORDER_COLUMNS = ("feedback_id", "rating", "fulfillment_channel", "shipped_via_mcf", "language", "verdict")


def comments_frame(lines: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per comment: order facts, language, gold verdict, the set of labels, span count."""
    rows = []
    for line in lines:
        labels = [s["label"] for s in line["spans"]]
        rows.append({**{c: line.get(c) for c in ORDER_COLUMNS}, "comment": line["comment"],
                     "labels": sorted(set(labels)), "n_spans": len(labels), "source": line.get("source", "")})
    return pd.DataFrame(rows, columns=[*ORDER_COLUMNS, "comment", "labels", "n_spans", "source"])


def spans_frame(lines: Sequence[dict[str, Any]], scope: str = "comment") -> pd.DataFrame:
    """One row per gold span, with its context (``classifier.scoring.with_context``: the text before and
    after it) and the order facts."""
    rows = []
    for line in lines:
        texts = [line["comment"][s["start"] : s["end"]] for s in line["spans"]]
        for i, ((text, prev, nxt), s) in enumerate(zip(with_context(texts, scope), line["spans"], strict=True)):
            rows.append({**{c: line.get(c) for c in ORDER_COLUMNS}, "span_index": i, "start": s["start"],
                         "end": s["end"], "text": text, "prev_text": prev, "next_text": nxt, "label": s["label"],
                         "source": line.get("source", "")})
    return pd.DataFrame(rows, columns=[*ORDER_COLUMNS, "span_index", "start", "end", "text", "prev_text",
                                       "next_text", "label", "source"])


def load_frame(path: str | Path, *, level: Literal["spans", "comments"] = "comments") -> pd.DataFrame:
    """A validated corpus file (or corrections export) as a DataFrame of comments or of spans."""
    lines = load_corpus(path)
    return spans_frame(lines) if level == "spans" else comments_frame(lines)
