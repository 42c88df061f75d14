"""Train the whole model from corpus files: segmenter, language identifier, span classifier, thresholds."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.artifact import save_model
from classifier.decision import Thresholds
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


def fit_components(lines: Sequence[dict[str, Any]], *, seed: int = 0,
                   span_params: dict[str, Any] | None = None) -> tuple[ClauseSegmenter, LanguageIdentifier,
                                                                        SpanClassifier]:
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
    items, labels = span_items(lines)
    clf = SpanClassifier(random_state=seed, **(span_params or {})).fit(items, labels)
    return segmenter, langid, clf


def tune_thresholds(model: FeedbackModel, dev: Sequence[dict[str, Any]], *,
                    target_fsr: float = TARGET_FALSE_STRIKE_RATE,
                    target_fsr_eligible: float = TARGET_FALSE_STRIKE_RATE_ELIGIBLE,
                    max_review: float = MAX_NEEDS_REVIEW_RATE,
                    progress: bool | None = None) -> tuple[Thresholds, dict[str, Any]]:
    """Pick the review thresholds on the dev split.

    Among the pairs whose false-strike rates are at most ``target_fsr`` (all gold keeps) and
    ``target_fsr_eligible`` (negative AFN keeps) and whose ``needs_review`` rate is at most
    ``max_review``, take the one with the best strike recall, then the fewest reviews.  If no pair
    meets the limits, take the one with the fewest false strikes among eligible keeps (then the
    best recall), and say so in the returned figures (``met_limits``).  The test split is never
    looked at here.
    """
    records = [parse_record(line) for line in dev]
    analyses = model.analyze_many([r.comment for r in records])
    grid_strike = [round(x, 2) for x in np.arange(0.02, 0.96, 0.02)]
    grid_keep = [round(x, 2) for x in np.arange(0.0, 0.91, 0.05)]
    best: tuple[tuple[float, float], Thresholds, dict[str, Any]] | None = None
    safest: tuple[tuple[float, float], Thresholds, dict[str, Any]] | None = None
    for s in progress_bar(grid_strike, desc="tuning thresholds", unit="threshold", enabled=progress):
        for k in grid_keep:
            th = Thresholds(strike_max_blocking=s, keep_min_blocking=k)
            scores = verdict_scores(dev, model.verdicts(records, analyses, th))
            safe_key = (-scores["false_strike_rate_eligible"], scores["strike_recall"])
            if safest is None or safe_key > safest[0]:
                safest = (safe_key, th, scores)
            if (scores["false_strike_rate"] > target_fsr or scores["false_strike_rate_eligible"] > target_fsr_eligible
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
          seed: int = 0, span_params: dict[str, Any] | None = None,
          progress: bool | None = None) -> tuple[FeedbackModel, dict[str, Any]]:
    """Train on ``train_path``, tune on ``dev_path``, report (only) on ``test_path``; save if ``out_dir``.

    ``progress``: stage lines and bars on stderr (None: on a terminal or in a notebook, never under CI)."""
    t0 = time.perf_counter()

    def stage(msg: str) -> None:
        message(f"[{time.perf_counter() - t0:6.1f} s] {msg}", enabled=progress)

    stage(f"loading {train_path} and {dev_path}")
    lines, dev = load_corpus(train_path, progress=progress), load_corpus(dev_path, progress=progress)
    stage(f"fitting segmenter, language identifier and span classifier on {len(lines)} comments")
    segmenter, langid, clf = fit_components(lines, seed=seed, span_params=span_params)
    model = FeedbackModel(segmenter=segmenter, langid=langid, span_classifier=clf, thresholds=Thresholds(),
                          version=version)
    stage(f"tuning review thresholds on {len(dev)} dev comments")
    model.thresholds, tuned_on_dev = tune_thresholds(model, dev, progress=progress)
    stage("evaluating")
    card: dict[str, Any] = {
        "model_version": version,
        "labels": model.classes,
        "thresholds": {"strike_max_blocking": float(model.thresholds.strike_max_blocking),
                       "keep_min_blocking": float(model.thresholds.keep_min_blocking)},
        "threshold_tuning": {"split": "dev", "target_false_strike_rate": TARGET_FALSE_STRIKE_RATE,
                             "target_false_strike_rate_eligible": TARGET_FALSE_STRIKE_RATE_ELIGIBLE,
                             "max_needs_review_rate": MAX_NEEDS_REVIEW_RATE, "dev_verdicts": tuned_on_dev},
        "span_classifier": {k: (list(v) if isinstance(v, tuple) else v) for k, v in clf.get_params().items()},
        "temperature": clf.temperature_,
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
