"""Helpers for tests that need model directories: the shipped one, and cheap variants of it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from classifier.artifact import load_card, load_model, save_model
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
    # Only the current version is copied, so the history starts with it alone (the shipped history
    # names earlier versions this private registry does not hold).
    (dst / HISTORY_FILE).write_text(json.dumps({"stack": [src.name], "events": []}, indent=2) + "\n")
    return Registry(dst)


def save_variant(root: Path, version: str, *, strike_max_blocking: float | None = None,
                 scramble_labels: bool = False) -> Path:
    """The shipped model re-saved as ``version``, with another strike threshold or with its labels scrambled.

    A stricter threshold (both strike thresholds) turns some strikes into needs_review (no more false
    strikes, different answers: a second model whose verdicts can be told apart); a looser one adds false strikes;
    scrambled labels make pure delivery complaints come out as product complaints (a model whose
    checksum is fine but whose answers are not).
    """
    model = load_model(shipped_model_dir())
    model.version = version
    if strike_max_blocking is not None:  # both strike thresholds move together: stricter, or looser
        model.thresholds = replace(model.thresholds, strike_max_blocking=strike_max_blocking,
                                   strike_max_doubt=strike_max_blocking)
    if scramble_labels:
        model.span_classifier.classes_ = np.roll(model.span_classifier.classes_, 2)
    card = dict(load_card(shipped_model_dir()), model_version=version, thresholds=asdict(model.thresholds))
    return save_model(model, root / version, card)
