"""Saving and loading model artifacts with a SHA-256 manifest.

A model directory holds ``model.joblib`` (the pickled :class:`~classifier.pipeline.FeedbackModel`),
``card.json`` (version, data hash, labels, thresholds, library versions, dev and test figures)
and ``manifest.json`` (the SHA-256 of both).  Loading checks every checksum *before* it
unpickles anything: a pickle runs code, so a file that does not match its manifest is refused.
Model directories live in the registry (:mod:`classifier.registry`): ``models/<version>/``, with
``models/CURRENT`` naming the one every default load serves.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

if TYPE_CHECKING:
    from classifier.pipeline import FeedbackModel

FORMAT_VERSION = 1
MODEL_FILE, CARD_FILE, MANIFEST_FILE = "model.joblib", "card.json", "manifest.json"


class ModelIntegrityError(RuntimeError):
    """The artifact is missing, altered, truncated or of another format; nothing was loaded."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: FeedbackModel, directory: str | os.PathLike[str], card: dict[str, Any]) -> Path:
    """Write model, card and manifest into ``directory`` (created if needed)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / MODEL_FILE, compress=3)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_version": model.version,
        "files": {name: sha256_file(out / name) for name in (MODEL_FILE, CARD_FILE)},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


def verify(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the manifest against the files; return the manifest or raise ModelIntegrityError."""
    d = Path(directory)
    mpath = d / MANIFEST_FILE
    if not mpath.is_file():
        raise ModelIntegrityError(f"no {MANIFEST_FILE} in {d}: refusing to load an unverified model")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' must be an object of name -> sha256")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{mpath} is not a valid manifest: {exc}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelIntegrityError(
            f"{mpath} has format_version {manifest.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    for name in (MODEL_FILE, CARD_FILE):
        path = d / name
        if name not in files:
            raise ModelIntegrityError(f"{mpath} lists no checksum for {name}")
        if not path.is_file():
            raise ModelIntegrityError(f"{path} is missing")
        actual = sha256_file(path)
        if actual != files[name]:
            raise ModelIntegrityError(
                f"checksum mismatch for {path}: manifest says {files[name][:16]}..., file is {actual[:16]}...; "
                "the file was altered or truncated, refusing to load it"
            )
    try:
        card_version = json.loads((d / CARD_FILE).read_text(encoding="utf-8")).get("model_version")
    except (ValueError, AttributeError) as exc:
        raise ModelIntegrityError(f"{d / CARD_FILE} is not a valid model card: {exc}") from None
    if card_version != manifest.get("model_version"):
        raise ModelIntegrityError(f"{d / CARD_FILE} names model version {card_version!r} but {mpath} names "
                                  f"{manifest.get('model_version')!r}: the files come from different models")
    return manifest


def default_model_dir() -> Path:
    """``$FEEDBACK_STRIKE_MODEL_DIR`` if set, else the registry's current version (``models/CURRENT``)."""
    if os.environ.get("FEEDBACK_STRIKE_MODEL_DIR"):
        return Path(os.environ["FEEDBACK_STRIKE_MODEL_DIR"])
    from classifier.registry import Registry

    return Registry().current_dir()


def load_model(directory: str | os.PathLike[str] | None = None) -> FeedbackModel:
    """Load a verified model; the default is :func:`default_model_dir` (the registry's current model)."""
    from classifier.pipeline import FeedbackModel

    d = Path(directory or default_model_dir())
    manifest = verify(d)
    # Unpickle exactly the bytes whose checksum matched (no window to swap the file in between).
    data = (d / MODEL_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["files"][MODEL_FILE]:
        raise ModelIntegrityError(f"{d / MODEL_FILE} changed while it was being loaded; refusing it")
    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as exc:  # checksums matched, so the code reading the bytes is what differs
        raise ModelIntegrityError(f"{d / MODEL_FILE} cannot be read by this code ({type(exc).__name__}: "
                                  f"{exc}); it was probably saved by another version") from None
    _refuse_estimators_of_another_sklearn(model, d)
    if not isinstance(model, FeedbackModel) or model.version != manifest.get("model_version"):
        raise ModelIntegrityError(f"{d / MODEL_FILE} does not hold the model version its manifest names")
    return model


def load_card(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    d = Path(directory or default_model_dir())
    return json.loads((d / CARD_FILE).read_text(encoding="utf-8"))


def _refuse_estimators_of_another_sklearn(model: Any, d: Path) -> None:
    """An estimator pickled by another scikit-learn may load yet compute wrong answers.  Models saved by
    this code hold none (classifier.scoring.SpanScorer); older ones hold the span model's estimator, and
    are refused when the scikit-learn their card records is not the one installed.  (Not by catching
    scikit-learn's InconsistentVersionWarning: the warnings filters are process-wide, and a reload runs
    beside requests whose own ``catch_warnings`` could swallow the warning or leave a filter behind.)"""
    from classifier.scoring import SpanScorer

    parts = (getattr(model, "span_classifier", None), getattr(model, "comment_classifier", None))
    if all(p is None or isinstance(p, SpanScorer) for p in parts):
        return
    import sklearn

    card = json.loads((d / CARD_FILE).read_text(encoding="utf-8"))
    saved = (card.get("library_versions") or {}).get("scikit-learn")
    if saved != sklearn.__version__:
        raise ModelIntegrityError(
            f"{d / MODEL_FILE} was saved with scikit-learn {saved}; this is {sklearn.__version__}: "
            "retrain the model or install the version it was saved with")
