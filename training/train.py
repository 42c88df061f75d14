"""Train the whole model from corpus files: segmenter, language identifier, span classifier, thresholds."""

from __future__ import annotations

import hashlib
import platform
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from classifier.artifact import save_model
from classifier.decision import BLOCKING_LABELS, OrderFacts, Thresholds, decide, gold_verdict
from classifier.gate import COMMENT_LABELS, FINE_MARGINS, DoubtGate
from classifier.langid import LanguageIdentifier
from classifier.model import SpanClassifier
from classifier.pipeline import FeedbackModel
from classifier.records import parse_record
from classifier.segment import ClauseSegmenter, gold_start_offsets
from training.corpus import DATA_DIR, load_corpus, span_items
from training.evaluate import evaluate, verdict_scores
from training.progress import message, progress_bar

# The policy's promise: false strikes stay under 1%.  Tuning aims lower so that the unseen test
# split keeps the promise too, and also bounds the rate among the gold keeps that reach the model
# at all (rating 1-2, AFN, not MCF), which the overall rate dilutes with always-kept comments.
TARGET_FALSE_STRIKE_RATE = 0.005
TARGET_FALSE_STRIKE_RATE_ELIGIBLE = 0.01
MAX_NEEDS_REVIEW_RATE = 0.10
GATE_FOLDS = 4  # cross-validation folds for the gate's out-of-fold training features
# The comment classifier (classifier.gate.COMMENT_FEATURE): the span model's features over the whole
# comment, no context, plain log-odds (the gate scales them).  C=2 between 0.5 and 8, which gave dev
# strike recalls of 0.71 and 0.69 and out-of-fold gate AUCs of 0.901 and 0.904.
COMMENT_PARAMS: dict[str, Any] = {"C": 2.0, "context_weight": 0.0, "calibration_cv": 0, "class_weight": None}


def fit_components(lines: Sequence[dict[str, Any]], *, seed: int = 0, span_params: dict[str, Any] | None = None,
                   context_scope: str = "comment") -> tuple[ClauseSegmenter, LanguageIdentifier, SpanClassifier]:
    comments = [line["comment"] for line in lines]
    segmenter = ClauseSegmenter().fit(comments, [gold_start_offsets(line["spans"]) for line in lines],
                                      random_state=seed)
    texts: list[str] = []
    langs: list[str] = []
    for line in lines:
        if line["language"] in ("sv", "en"):
            texts.extend(line["comment"][s["start"] : s["end"]] for s in line["spans"])
            langs.extend(line["language"] for _ in line["spans"])
    langid = LanguageIdentifier().fit(texts, langs)
    items, labels = span_items(lines, context_scope)
    clf = SpanClassifier(random_state=seed, **(span_params or {})).fit(items, labels)
    return segmenter, langid, clf


def fit_comment_classifier(lines: Sequence[dict[str, Any]], *, seed: int = 0) -> SpanClassifier:
    """Whole comments -> does the comment hold a blocker (a gold span about the product or the seller)?"""
    labels = [COMMENT_LABELS[0] if any(s["label"] in BLOCKING_LABELS for s in line["spans"]) else COMMENT_LABELS[1]
              for line in lines]
    return SpanClassifier(random_state=seed, **COMMENT_PARAMS).fit([line["comment"] for line in lines], labels)


def _params(estimator: SpanClassifier) -> dict[str, Any]:
    """An estimator's parameters as the card's JSON holds them (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in estimator.get_params().items()}


def _fold(line_id: str, folds: int) -> int:
    return zlib.crc32(line_id.encode("utf-8")) % folds


def _derived_from(line: dict[str, Any], held: set[str], held_texts: list[str]) -> bool:
    """Is ``line`` a held-out comment, or a noisy copy or composition made from one?"""
    source = line.get("source", "written")
    if source == "written":
        return line["feedback_id"] in held
    if source == "noise":
        return line["feedback_id"].split("~")[0] in held
    return any(t in line["comment"] for t in held_texts)


def fit_gate(lines: Sequence[dict[str, Any]], *, seed: int = 0, span_params: dict[str, Any] | None = None,
             folds: int = GATE_FOLDS, context_scope: str = "comment",
             stage: Callable[[str], None] | None = None) -> DoubtGate:
    """Fit the second look (:mod:`classifier.gate`) on out-of-fold readings of the written comments.

    Each fold's comments are read by a model trained without them (nor their noisy copies or
    compositions), so the gate learns how the span model errs on text it has never seen.  The
    target is whether the gold labels hold a blocker (or nothing marketplace), i.e. whether a
    one-star AFN order with this comment must be kept.
    """
    written = [line for line in lines if line.get("source", "written") == "written"]
    X: list[np.ndarray] = []
    y: list[bool] = []
    for k in range(folds):
        held_lines = [line for line in written if _fold(line["feedback_id"], folds) == k]
        held = {line["feedback_id"] for line in held_lines}
        held_texts = [line["comment"] for line in held_lines]
        if stage:
            stage(f"gate fold {k + 1}/{folds}: training without {len(held_lines)} comments")
        rest = [line for line in lines if not _derived_from(line, held, held_texts)]
        segmenter, langid, clf = fit_components(rest, seed=seed, span_params=span_params,
                                                context_scope=context_scope)
        model = FeedbackModel(segmenter=segmenter, langid=langid, span_classifier=clf, thresholds=Thresholds(),
                              version="out-of-fold", context_scope=context_scope,
                              comment_classifier=fit_comment_classifier(rest, seed=seed))
        analyses = model.analyze_many(held_texts)
        todo = [i for i, a in enumerate(analyses) if model.could_strike(a)]
        levels = [segmenter.segment_levels(held_texts[i], None, (0.0, *FINE_MARGINS)) for i in todo]
        X.append(model.gate_features([analyses[i] for i in todo], levels, [held_texts[i] for i in todo]))
        y.extend(gold_verdict(OrderFacts(1, "AFN"), [s["label"] for s in held_lines[i]["spans"]]) == "keep"
                 for i in todo)
    return DoubtGate().fit(np.vstack(X), np.array(y))


# Candidate thresholds: fine where the false strikes are decided (low values), coarse above.
THRESHOLD_GRID = (*(round(0.01 * i, 2) for i in range(1, 11)), *(round(0.12 + 0.02 * i, 2) for i in range(20)),
                  *(round(0.55 + 0.05 * i, 2) for i in range(10)))


def tune_thresholds(model: FeedbackModel, dev: Sequence[dict[str, Any]], *,
                    target_fsr: float = TARGET_FALSE_STRIKE_RATE,
                    target_fsr_eligible: float = TARGET_FALSE_STRIKE_RATE_ELIGIBLE,
                    max_review: float = MAX_NEEDS_REVIEW_RATE,
                    progress: bool | None = None) -> tuple[Thresholds, dict[str, Any]]:
    """Pick the strike thresholds on the dev split.

    Among the pairs (``strike_max_blocking``, ``strike_max_doubt``) whose false-strike rates are at
    most ``target_fsr`` (all gold keeps) and ``target_fsr_eligible`` (negative AFN keeps) and whose
    ``needs_review`` rate is at most ``max_review``, take the one with the best strike recall, then
    the fewest reviews.  If none meets the limits, take the one with the fewest false strikes among
    eligible keeps (then the best recall), and say so in the returned figures (``met_limits``).
    ``keep_min_blocking`` stays 0: it only turns keeps into reviews, which never raises recall.
    The test split is never looked at here.  The decision layer itself is applied to one analysis
    of dev per pair.
    """
    records = [parse_record(line) for line in dev]
    analyses = model.analyze_many([r.comment for r in records])
    cases = [(OrderFacts(r.rating, r.fulfillment_channel, r.shipped_via_mcf), model.score_spans(a),
              a.language.dominant, a.doubt) for r, a in zip(records, analyses, strict=True)]
    grid_doubt = THRESHOLD_GRID if model.gate is not None else (1.0,)
    best: tuple[tuple[float, float], Thresholds, dict[str, Any]] | None = None
    safest: tuple[tuple[float, float], Thresholds, dict[str, Any]] | None = None
    for s in progress_bar(THRESHOLD_GRID, desc="tuning thresholds", unit="threshold", enabled=progress):
        for d in grid_doubt:
            th = Thresholds(strike_max_blocking=s, strike_max_doubt=d)
            verdicts = [SimpleNamespace(verdict=decide(order, spans, language=lang, thresholds=th,
                                                       doubt=doubt).verdict)
                        for order, spans, lang, doubt in cases]
            scores = verdict_scores(dev, verdicts)  # type: ignore[arg-type]
            safe_key = (-scores["false_strike_rate_eligible"], scores["strike_recall"])
            if safest is None or safe_key > safest[0]:
                safest = (safe_key, th, scores)
            if (scores["false_strike_rate"] > target_fsr
                    or scores["false_strike_rate_eligible"] > target_fsr_eligible
                    or scores["needs_review_rate"] > max_review):
                continue
            key = (scores["strike_recall"], -scores["needs_review_rate"])
            if best is None or key > best[0]:
                best = (key, th, scores)
    chosen, met = (best, True) if best is not None else (safest, False)
    assert chosen is not None
    return chosen[1], {**chosen[2], "met_limits": met}


def file_sha256(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    import joblib
    import scipy
    import sklearn
    import spacy

    return {"python": platform.python_version(), "spacy": spacy.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "joblib": joblib.__version__}


def train(*, train_path: Path = DATA_DIR / "train.jsonl", dev_path: Path = DATA_DIR / "dev.jsonl",
          test_path: Path | None = DATA_DIR / "test.jsonl", out_dir: Path | None = None, version: str,
          seed: int = 0, span_params: dict[str, Any] | None = None, gate_folds: int = GATE_FOLDS,
          context_scope: str = "comment", progress: bool | None = None) -> tuple[FeedbackModel, dict[str, Any]]:
    """Train on ``train_path``, tune on ``dev_path``, report (only) on ``test_path``; save if ``out_dir``.

    ``progress``: stage lines and bars on stderr (None: on a terminal or in a notebook, never under CI)."""
    t0 = time.perf_counter()

    def stage(msg: str) -> None:
        message(f"[{time.perf_counter() - t0:6.1f} s] {msg}", enabled=progress)

    stage(f"loading {train_path} and {dev_path}")
    lines, dev = load_corpus(train_path, progress=progress), load_corpus(dev_path, progress=progress)
    stage(f"fitting segmenter, language identifier and span classifier on {len(lines)} comments")
    segmenter, langid, clf = fit_components(lines, seed=seed, span_params=span_params, context_scope=context_scope)
    comment_clf = fit_comment_classifier(lines, seed=seed) if gate_folds else None
    gate = (fit_gate(lines, seed=seed, span_params=span_params, folds=gate_folds, context_scope=context_scope,
                     stage=stage) if gate_folds else None)
    model = FeedbackModel(segmenter=segmenter, langid=langid, span_classifier=clf, thresholds=Thresholds(),
                          version=version, gate=gate, context_scope=context_scope, comment_classifier=comment_clf)
    stage(f"tuning review thresholds on {len(dev)} dev comments")
    model.thresholds, tuned_on_dev = tune_thresholds(model, dev, progress=progress)
    stage("evaluating")
    card: dict[str, Any] = {
        "model_version": version,
        "labels": model.classes,
        "thresholds": {"strike_max_blocking": float(model.thresholds.strike_max_blocking),
                       "keep_min_blocking": float(model.thresholds.keep_min_blocking),
                       "strike_max_doubt": float(model.thresholds.strike_max_doubt)},
        "gate": ({"features": list(gate.feature_names), "folds": gate_folds,
                  "coef": [round(float(c), 6) for c in gate.coef_], "intercept": round(gate.intercept_, 6)}
                 if gate is not None else None),
        "threshold_tuning": {"split": "dev", "target_false_strike_rate": TARGET_FALSE_STRIKE_RATE,
                             "target_false_strike_rate_eligible": TARGET_FALSE_STRIKE_RATE_ELIGIBLE,
                             "max_needs_review_rate": MAX_NEEDS_REVIEW_RATE, "dev_verdicts": tuned_on_dev},
        "span_classifier": _params(clf),
        "comment_classifier": _params(comment_clf) if comment_clf is not None else None,
        "temperature": clf.temperature_,
        "context_scope": context_scope,
        "seed": seed,
        "data": {"train": str(Path(train_path).name), "train_sha256": file_sha256(Path(train_path)),
                 "dev": str(Path(dev_path).name), "dev_sha256": file_sha256(Path(dev_path)),
                 "train_comments": len(lines), "dev_comments": len(dev)},
        "library_versions": library_versions(),
        "figures": {"dev": evaluate(model, dev, progress=progress)},
    }
    if test_path is not None:
        card["data"]["test"] = str(Path(test_path).name)
        card["data"]["test_sha256"] = file_sha256(Path(test_path))
        card["figures"]["test"] = evaluate(model, load_corpus(test_path, progress=progress), progress=progress)
    card["training_seconds"] = round(time.perf_counter() - t0, 1)
    if out_dir is not None:
        stage(f"saving to {out_dir}")
        save_model(model, out_dir, card)
    return model, card
