"""Helpers for tests that need model directories: the shipped one, and cheap variants of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from classifier.artifact import load_card, load_model, save_model
from classifier.decision import Thresholds
from classifier.registry import HISTORY_FILE, POINTER_FILE, SHIPPED_ROOT, Registry


def shipped_model_dir() -> Path:
    """The directory of the version ``models/CURRENT`` names (the shipped registry, whatever the environment)."""
    return Registry(SHIPPED_ROOT).current_dir()


def copy_registry(dst: Path) -> Registry:
    """A private registry holding the shipped version, current (tests never write into models/)."""
    src = shipped_model_dir()
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst / src.name)
    (dst / POINTER_FILE).write_text(src.name + "\n")
    shutil.copy(SHIPPED_ROOT / HISTORY_FILE, dst / HISTORY_FILE)
    return Registry(dst)


def save_variant(root: Path, version: str, *, strike_max_blocking: float | None = None,
                 scramble_labels: bool = False) -> Path:
    """The shipped model re-saved as ``version``, with another strike threshold or with its labels scrambled.

    A stricter threshold turns some strikes into needs_review (fewer false strikes, different
    answers: a second model whose verdicts can be told apart); a looser one adds false strikes;
    scrambled labels make pure delivery complaints come out as product complaints (a model whose
    checksum is fine but whose answers are not).
    """
    model = load_model(shipped_model_dir())
    model.version = version
    if strike_max_blocking is not None:
        model.thresholds = Thresholds(strike_max_blocking, model.thresholds.keep_min_blocking)
    if scramble_labels:
        model.span_classifier.classes_ = np.roll(model.span_classifier.classes_, 2)
    card = dict(load_card(shipped_model_dir()), model_version=version,
                thresholds={"strike_max_blocking": model.thresholds.strike_max_blocking,
                            "keep_min_blocking": model.thresholds.keep_min_blocking})
    return save_model(model, root / version, card)
