"""Figures for a model (or the keyword baseline) against gold corpus lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.decision import ASPECT_LABELS, LABELS
from classifier.records import SuggestedVerdict
from training.corpus import span_items
from training.progress import progress_bar


class Suggests(Protocol):
    def suggest_many(self, records: Any) -> list[SuggestedVerdict]: ...

    def predict_span_labels(self, items: list[tuple[str, str, str]]) -> list[str]: ...


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}


def comment_label_scores(gold: Sequence[set[str]], pred: Sequence[set[str]]) -> dict[str, Any]:
    """Per aspect label: does the comment contain a span with it?  Macro-F1 over the four aspects."""
    per = {}
    for lab in ASPECT_LABELS:
        tp = sum(lab in g and lab in p for g, p in zip(gold, pred, strict=True))
        fp = sum(lab not in g and lab in p for g, p in zip(gold, pred, strict=True))
        fn = sum(lab in g and lab not in p for g, p in zip(gold, pred, strict=True))
        per[lab] = _prf(tp, fp, fn)
    return {"per_label": per, "macro_f1": round(float(np.mean([v["f1"] for v in per.values()])), 4)}


def verdict_scores(lines: Sequence[dict[str, Any]], verdicts: Sequence[SuggestedVerdict]) -> dict[str, Any]:
    gold = [line["verdict"] for line in lines]
    pred = [v.verdict for v in verdicts]
    n = len(gold)
    keep = [i for i, g in enumerate(gold) if g == "keep"]
    eligible_keep = [i for i in keep if lines[i]["rating"] <= 2 and lines[i]["fulfillment_channel"] == "AFN"
                     and not lines[i].get("shipped_via_mcf", False)]
    strike = [i for i, g in enumerate(gold) if g == "strike"]
    pred_strike = [i for i, p in enumerate(pred) if p == "strike"]
    decided = [i for i, p in enumerate(pred) if p != "needs_review"]
    true_strikes = sum(gold[i] == "strike" for i in pred_strike)
    return {
        "comments": n,
        "gold_strike": len(strike),
        "false_strike_rate": round(sum(pred[i] == "strike" for i in keep) / max(len(keep), 1), 4),
        "false_strike_rate_eligible": round(
            sum(pred[i] == "strike" for i in eligible_keep) / max(len(eligible_keep), 1), 4),
        "false_strikes": sum(pred[i] == "strike" for i in keep),
        "strike_precision": round(true_strikes / max(len(pred_strike), 1), 4),
        "strike_recall": round(true_strikes / max(len(strike), 1), 4),
        "needs_review_rate": round(sum(p == "needs_review" for p in pred) / max(n, 1), 4),
        "decided_accuracy": round(sum(gold[i] == pred[i] for i in decided) / max(len(decided), 1), 4),
    }


def segmentation_scores(lines: Sequence[dict[str, Any]], verdicts: Sequence[SuggestedVerdict]) -> dict[str, float]:
    """Precision / recall of span boundaries (where a new span starts, first span excluded)."""
    tp = fp = fn = 0
    for line, v in zip(lines, verdicts, strict=True):
        g = {s["start"] for s in line["spans"][1:]}
        p = {s.start for s in v.spans[1:]}
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
    return _prf(tp, fp, fn)


STEP = 512  # comments per progress step (as fast as one call: tested on dev + test)


def suggest_all(model: Suggests, records: Sequence[Any], *, desc: str = "suggesting",
                progress: bool | None = None) -> list[SuggestedVerdict]:
    """``model.suggest_many(records)`` in steps, with a progress bar (see :mod:`training.progress`)."""
    out: list[SuggestedVerdict] = []
    with progress_bar(total=len(records), desc=desc, unit="comment", enabled=progress) as bar:
        for i in range(0, len(records), STEP):
            out.extend(model.suggest_many(records[i : i + STEP]))
            bar.update(min(STEP, len(records) - i))
    return out


def evaluate(model: Suggests, lines: Sequence[dict[str, Any]],
             verdicts: Sequence[SuggestedVerdict] | None = None, *, progress: bool | None = None) -> dict[str, Any]:
    """Every figure of ``feedback-strike evaluate`` for ``lines`` (gold corpus lines).

    ``verdicts`` are the model's for ``lines`` when the caller has them already.  ``progress``: a bar
    while the comments are scored (None: on a terminal or in a notebook, never under CI)."""
    verdicts = suggest_all(model, lines, desc="evaluating", progress=progress) if verdicts is None else verdicts
    gold_sets = [{s["label"] for s in line["spans"]} for line in lines]
    pred_sets = [{s.label for s in v.spans} for v in verdicts]

    items, gold_span_labels = span_items(lines, getattr(model, "context_scope", "comment"))
    pred_span_labels = model.predict_span_labels(items)
    p, r, f, sup = precision_recall_fscore_support(gold_span_labels, pred_span_labels, labels=list(LABELS),
                                                   zero_division=0)
    span_level = {
        lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4),
              "support": int(sup[i])}
        for i, lab in enumerate(LABELS)
    }
    cm = confusion_matrix(gold_span_labels, pred_span_labels, labels=list(LABELS))

    by_language = {}
    for lang in ("sv", "en", "mixed"):
        idx = [i for i, line in enumerate(lines) if line["language"] == lang]
        if not idx:
            continue
        by_language[lang] = {
            "comments": len(idx),
            "comment_macro_f1": comment_label_scores([gold_sets[i] for i in idx],
                                                     [pred_sets[i] for i in idx])["macro_f1"],
            **{k: v for k, v in verdict_scores([lines[i] for i in idx], [verdicts[i] for i in idx]).items()
               if k in ("false_strike_rate", "strike_recall", "needs_review_rate", "decided_accuracy")},
            "language_id_accuracy": round(float(np.mean([verdicts[i].language == lang for i in idx])), 4),
        }
    return {
        "comment_level": comment_label_scores(gold_sets, pred_sets),
        "span_level_on_gold_spans": {"per_label": span_level,
                                     "macro_f1_aspects": round(float(np.mean([span_level[lab]["f1"]
                                                                              for lab in ASPECT_LABELS])), 4)},
        "confusion_matrix": {"labels": list(LABELS), "rows_gold_cols_pred": cm.tolist()},
        "verdicts": verdict_scores(lines, verdicts),
        "segmentation": segmentation_scores(lines, verdicts),
        "by_language": by_language,
        "language_id_accuracy": round(float(np.mean([v.language == line["language"]
                                                      for v, line in zip(verdicts, lines, strict=True)])), 4),
    }


def format_report(name: str, rep: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`evaluate`'s figures."""
    out = [f"== {name}"]
    v = rep["verdicts"]
    out.append(
        f"verdicts ({v['comments']} comments, {v['gold_strike']} gold strikes): "
        f"false-strike rate {v['false_strike_rate']:.2%} ({v['false_strikes']}; "
        f"{v['false_strike_rate_eligible']:.2%} of negative AFN keeps), "
        f"strike precision {v['strike_precision']:.3f}, strike recall {v['strike_recall']:.3f}, "
        f"needs_review {v['needs_review_rate']:.2%}, accuracy on decided {v['decided_accuracy']:.3f}"
    )
    cl = rep["comment_level"]
    out.append(f"comment-level macro-F1 (4 aspects): {cl['macro_f1']:.3f}")
    out.append(f"  {'label':<18} {'prec':>6} {'rec':>6} {'f1':>6} {'support':>8}")
    for lab, s in cl["per_label"].items():
        out.append(f"  {lab:<18} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} {s['support']:>8}")
    sl = rep["span_level_on_gold_spans"]
    out.append(f"span-level on gold spans: macro-F1 (4 aspects) {sl['macro_f1_aspects']:.3f}")
    for lab, s in sl["per_label"].items():
        out.append(f"  {lab:<18} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} {s['support']:>8}")
    cm = rep["confusion_matrix"]
    short = [lab.replace("amazon_", "az_").replace("product_condition", "product").replace("seller_service", "seller")
             for lab in cm["labels"]]
    out.append("confusion matrix (rows gold, columns predicted):")
    out.append("  " + " " * 12 + "".join(f"{s:>10}" for s in short))
    for s, row in zip(short, cm["rows_gold_cols_pred"], strict=True):
        out.append(f"  {s:<12}" + "".join(f"{x:>10}" for x in row))
    seg = rep["segmentation"]
    out.append(f"segmentation boundaries: precision {seg['precision']:.3f}, recall {seg['recall']:.3f}, "
               f"f1 {seg['f1']:.3f}")
    out.append(f"language id accuracy (comment): {rep['language_id_accuracy']:.3f}")
    out.append(f"  {'lang':<6} {'n':>5} {'macroF1':>8} {'FSR':>7} {'recall':>7} {'review':>7} {'acc':>6} {'langid':>7}")
    for lang, s in rep["by_language"].items():
        out.append(f"  {lang:<6} {s['comments']:>5} {s['comment_macro_f1']:>8.3f} {s['false_strike_rate']:>7.2%} "
                   f"{s['strike_recall']:>7.3f} {s['needs_review_rate']:>7.2%} {s['decided_accuracy']:>6.3f} "
                   f"{s['language_id_accuracy']:>7.3f}")
    return "\n".join(out)
