"""Artifacts: a model loads only when every file matches its manifest."""

import json
import shutil

import pytest

from classifier.artifact import (
    CARD_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    ModelIntegrityError,
    load_model,
    verify,
)
from tests.helpers import shipped_model_dir


@pytest.fixture
def model_copy(tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(shipped_model_dir(), dst)
    return dst


def test_shipped_model_verifies_and_loads(model_copy):
    manifest = verify(model_copy)
    model = load_model(model_copy)
    assert model.version == manifest["model_version"]


def test_altered_model_file_is_refused(model_copy):
    data = bytearray((model_copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(model_copy)


def test_truncated_model_file_is_refused(model_copy):
    data = (model_copy / MODEL_FILE).read_bytes()
    (model_copy / MODEL_FILE).write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(model_copy)


def test_edited_card_is_refused(model_copy):
    card = json.loads((model_copy / CARD_FILE).read_text())
    card["thresholds"]["strike_max_blocking"] = 0.99
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="card.json"):
        load_model(model_copy)


def test_missing_manifest_is_refused(model_copy):
    (model_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="unverified"):
        load_model(model_copy)


def test_wrong_format_version_is_refused(model_copy):
    manifest = json.loads((model_copy / MANIFEST_FILE).read_text())
    manifest["format_version"] = 999
    (model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="format_version"):
        load_model(model_copy)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ModelIntegrityError):
        load_model(tmp_path / "nowhere")


def reseal(directory, **manifest_changes) -> None:
    """Recompute the manifest's checksums (as a careless or hostile copy would), with changes."""
    from classifier.artifact import sha256_file

    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest.update(manifest_changes)
    manifest["files"] = {name: sha256_file(directory / name) for name in (MODEL_FILE, CARD_FILE)}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_manifest_naming_another_model_version_is_refused(model_copy):
    card = json.loads((model_copy / CARD_FILE).read_text())
    card["model_version"] = "2099.01.01-1"
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    reseal(model_copy, model_version="2099.01.01-1")
    with pytest.raises(ModelIntegrityError, match="does not hold the model version"):
        load_model(model_copy)


def test_a_card_from_another_model_is_refused_even_with_matching_checksums(model_copy):
    card = json.loads((model_copy / CARD_FILE).read_text())
    card["model_version"] = "2099.01.01-1"
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    reseal(model_copy)
    with pytest.raises(ModelIntegrityError, match="different models"):
        load_model(model_copy)


def _in_the_older_format(model_copy, monkeypatch, sklearn_version: str) -> None:
    """Rewrite the copy as models before 2026.11.26-5 were saved: the span model's estimator inside,
    and the card recording ``sklearn_version``."""
    import joblib

    from classifier.model import SpanClassifier
    from classifier.pipeline import FeedbackModel

    model = load_model(model_copy)
    model.span_classifier = SpanClassifier(calibration_cv=0, min_df=1).fit(
        ["paketet kom aldrig", "skärmen var repad"] * 2, ["amazon_delivery", "product_condition"] * 2)
    with monkeypatch.context() as m:
        m.setattr(FeedbackModel, "__getstate__", lambda self: self.__dict__.copy())
        joblib.dump(model, model_copy / MODEL_FILE, compress=3)
    card = json.loads((model_copy / CARD_FILE).read_text())
    card["library_versions"]["scikit-learn"] = sklearn_version
    (model_copy / CARD_FILE).write_text(json.dumps(card))
    reseal(model_copy)


def test_a_model_saved_by_another_scikit_learn_is_refused(model_copy, monkeypatch):
    """Models saved now hold no scikit-learn object; one in the older format (the estimator itself
    inside) saved with another scikit-learn may compute wrong answers, and is refused."""
    _in_the_older_format(model_copy, monkeypatch, "0.99.0")
    with pytest.raises(ModelIntegrityError, match="saved with scikit-learn 0.99.0"):
        load_model(model_copy)


def test_an_older_format_model_of_this_scikit_learn_loads(model_copy, monkeypatch):
    import sklearn

    from classifier.model import SpanClassifier

    _in_the_older_format(model_copy, monkeypatch, sklearn.__version__)
    assert isinstance(load_model(model_copy).span_classifier, SpanClassifier)


def test_the_version_check_leaves_the_warning_filters_alone(model_copy, monkeypatch):
    """The check reads the card; it does not touch the process-wide warnings state that a reload in a
    thread would share with the requests being served."""
    import warnings

    _in_the_older_format(model_copy, monkeypatch, "0.99.0")
    before = list(warnings.filters)
    with pytest.raises(ModelIntegrityError):
        load_model(model_copy)
    assert warnings.filters == before and warnings.showwarning is warnings._showwarning_orig


def test_a_saved_model_loads_and_scores_without_scikit_learn(tmp_path):
    """The service's workers load the model and score without importing scikit-learn (and the scipy.stats
    and pandas it brings): about 90 MiB per worker and most of a second of its start."""
    import subprocess
    import sys

    from classifier.registry import SHIPPED_ROOT

    code = ("import sys; from classifier import load_model; m = load_model(); "
            "v = m.suggest({'rating': 1, 'comment': 'Paketet kom aldrig fram', 'fulfillment_channel': 'AFN'}); "
            "import service.app; "
            "print(v.verdict, sorted({k.split('.')[0] for k in sys.modules} & {'sklearn', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=SHIPPED_ROOT.parent, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["strike", "[]"], out.stdout


def test_a_pickle_of_something_else_is_refused(model_copy):
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump({"not": "a model"}, buffer)
    (model_copy / MODEL_FILE).write_bytes(buffer.getvalue())
    reseal(model_copy)
    with pytest.raises(ModelIntegrityError, match="does not hold the model version"):
        load_model(model_copy)


def test_a_pickle_this_code_cannot_read_is_refused_with_the_reason(model_copy):
    (model_copy / MODEL_FILE).write_bytes(b"cfeedback_strike_gone_module\nSpanModel\n.")  # a class that moved away
    reseal(model_copy)
    with pytest.raises(ModelIntegrityError, match="cannot be read by this code.*ModuleNotFoundError"):
        load_model(model_copy)
