"""`feedback-strike evaluate --report DIR`: the evaluation figures as Markdown with PNG plots.

Writes ``report.md``, ``confusion.png`` (span labels, gold against predicted) and ``thresholds.png``
(false-strike, strike-recall and needs_review rates as the strike threshold moves), and lists the
worst errors: false strikes first, then the most confident missed strikes.  Buyer e-mail addresses
are never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from classifier.decision import ASPECT_LABELS
from classifier.pipeline import Analysis, FeedbackModel
from classifier.records import parse_record
from training.evaluate import STEP, evaluate, verdict_scores
from training.progress import progress_bar

SHORT = {"amazon_delivery": "delivery", "amazon_service": "service", "product_condition": "product",
         "seller_service": "seller", "other": "other"}


def strike_knob(model: FeedbackModel) -> str:
    """The threshold that trades recall against false strikes: the gate's doubt when the model has
    a gate, else the spans' blocking probability."""
    return "strike_max_doubt" if model.gate is not None else "strike_max_blocking"


def analyze_all(model: FeedbackModel, comments: Sequence[str], *, desc: str = "reading comments",
                progress: bool | None = None) -> list[Analysis]:
    """``model.analyze_many(comments)`` in steps, with a progress bar."""
    out: list[Analysis] = []
    with progress_bar(total=len(comments), desc=desc, unit="comment", enabled=progress) as bar:
        for i in range(0, len(comments), STEP):
            out.extend(model.analyze_many(comments[i : i + STEP]))
            bar.update(min(STEP, len(comments) - i))
    return out


def threshold_curve(model: FeedbackModel, lines: Sequence[dict[str, Any]],
                    grid: Sequence[float] = tuple(np.round(np.arange(0.02, 1.0, 0.02), 2)),
                    analyses: Sequence[Analysis] | None = None, *,
                    progress: bool | None = None) -> list[dict[str, float]]:
    """Verdict figures for each value of the strike threshold that matters (:func:`strike_knob`),
    the model's other thresholds kept."""
    records = [parse_record(line) for line in lines]
    if analyses is None:
        analyses = analyze_all(model, [r.comment for r in records], progress=progress)
    out = []
    for s in progress_bar(grid, desc="threshold curve", unit="threshold", enabled=progress):
        th = replace(model.thresholds, **{strike_knob(model): float(s)})
        v = verdict_scores(lines, model.verdicts(records, analyses, th))
        out.append({"threshold": float(s), "false_strike_rate": v["false_strike_rate"],
                    "strike_recall": v["strike_recall"], "needs_review_rate": v["needs_review_rate"]})
    return out


def _plots(rep: dict[str, Any], curve: list[dict[str, float]], chosen: float, knob: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(rep["confusion_matrix"]["rows_gold_cols_pred"], dtype=float)
    labels = [SHORT[lab] for lab in rep["confusion_matrix"]["labels"]]
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=120)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Span labels on gold spans (colour: share of the row)")
    fig.tight_layout()
    fig.savefig(out / "confusion.png")
    plt.close(fig)

    xs = [c["threshold"] for c in curve]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(xs, [c["strike_recall"] for c in curve], label="strike recall")
    ax.plot(xs, [c["needs_review_rate"] for c in curve], label="needs_review rate")
    ax.plot(xs, [c["false_strike_rate"] * 10 for c in curve], label="false-strike rate x 10")
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.axvline(chosen, color="black", lw=1, ls="--", label=f"shipped threshold {chosen:.2f}")
    ax.set_xlabel(f"{knob} (a strike needs "
                  + ("the comment's doubt" if knob == "strike_max_doubt" else "every span's blocking probability")
                  + " below it)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="center right")
    ax.set_title("The review threshold: recall against false strikes and reviews")
    fig.tight_layout()
    fig.savefig(out / "thresholds.png")
    plt.close(fig)


def _describe(line: dict[str, Any], verdict: Any) -> str:
    gold = " | ".join(f"[{SHORT[s['label']]}] {line['comment'][s['start']:s['end']]}" for s in line["spans"])
    pred = " | ".join(f"[{SHORT[s.label]} {s.confidence:.2f}] {s.text}" for s in verdict.spans)
    return (f"- `{line.get('feedback_id')}` ({line['language']}, rating {line['rating']}, "
            f"{line['fulfillment_channel']}): gold **{line['verdict']}**, suggested **{verdict.verdict}**\n"
            f"  - gold: {gold}\n  - model: {pred}")


def write_report(model: FeedbackModel, lines: Sequence[dict[str, Any]], out_dir: str | Path, *, name: str,
                 worst: int = 20, progress: bool | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = [parse_record(line) for line in lines]
    analyses = analyze_all(model, [r.comment for r in records], progress=progress)  # once, for every figure
    verdicts = model.verdicts(records, analyses)
    rep = evaluate(model, lines, verdicts)
    curve = threshold_curve(model, lines, analyses=analyses, progress=progress)
    knob = strike_knob(model)
    _plots(rep, curve, getattr(model.thresholds, knob), knob, out)
    false_strikes = [(ln, v) for ln, v in zip(lines, verdicts, strict=True)
                     if ln["verdict"] == "keep" and v.verdict == "strike"]
    missed = [(ln, v) for ln, v in zip(lines, verdicts, strict=True)
              if ln["verdict"] == "strike" and v.verdict == "keep"]
    missed.sort(key=lambda lv: -max((s.confidence for s in lv[1].spans if s.label in ("product_condition",
                                                                                       "seller_service")),
                                    default=0.0))
    v, cl = rep["verdicts"], rep["comment_level"]
    md = [f"# Evaluation: model {model.version} on {name}", "",
          f"{v['comments']} comments, {v['gold_strike']} gold strikes.", "",
          "| figure | value |", "|---|---:|",
          f"| comment-level macro-F1 (4 aspects) | {cl['macro_f1']:.3f} |",
          f"| false-strike rate (of gold keeps) | {v['false_strike_rate']:.2%} ({v['false_strikes']}) |",
          f"| ... of negative AFN keeps | {v['false_strike_rate_eligible']:.2%} |",
          f"| strike precision | {v['strike_precision']:.3f} |",
          f"| strike recall | {v['strike_recall']:.3f} |",
          f"| needs_review rate | {v['needs_review_rate']:.2%} |",
          f"| accuracy on decided comments | {v['decided_accuracy']:.3f} |",
          f"| span-level macro-F1 on gold spans | {rep['span_level_on_gold_spans']['macro_f1_aspects']:.3f} |",
          f"| segmentation boundary F1 | {rep['segmentation']['f1']:.3f} |",
          f"| language id accuracy | {rep['language_id_accuracy']:.3f} |", "",
          "## Per label (comment level)", "",
          "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    md += [f"| {lab} | {cl['per_label'][lab]['precision']:.3f} | {cl['per_label'][lab]['recall']:.3f} | "
           f"{cl['per_label'][lab]['f1']:.3f} | {cl['per_label'][lab]['support']} |" for lab in ASPECT_LABELS]
    md += ["", "## Per language", "", "| language | comments | macro-F1 | false strikes | recall | review | langid |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {lang} | {s['comments']} | {s['comment_macro_f1']:.3f} | {s['false_strike_rate']:.2%} | "
           f"{s['strike_recall']:.3f} | {s['needs_review_rate']:.2%} | {s['language_id_accuracy']:.3f} |"
           for lang, s in rep["by_language"].items()]
    md += ["", "## Span labels", "", "![confusion matrix](confusion.png)", "",
           "## The review threshold", "", "![threshold curve](thresholds.png)", "",
           f"## Worst errors: false strikes ({len(false_strikes)})", ""]
    md += [_describe(ln, vv) for ln, vv in false_strikes[:worst]] or ["None."]
    md += ["", f"## Worst errors: missed strikes, most confident blockers first ({len(missed)})", ""]
    md += [_describe(ln, vv) for ln, vv in missed[:worst]] or ["None."]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return out / "report.md"
