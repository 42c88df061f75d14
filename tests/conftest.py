"""Shared fixtures: the shipped model (loaded once) and small corpora."""

from __future__ import annotations

import pytest

from tests.helpers import shipped_model_dir


@pytest.fixture(scope="session")
def shipped_model():
    from classifier.artifact import load_model

    return load_model(shipped_model_dir())


@pytest.fixture(scope="session")
def segmenter(shipped_model):
    return shipped_model.segmenter
