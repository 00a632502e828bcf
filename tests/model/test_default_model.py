"""The shipped model: measured here by loading the committed file, on all 10,000 test images."""

import numpy as np
import pytest

from model.runtime.inference import Predictor
from model.runtime.preprocess import from_uint8
from model.store.files import file_sha256
from model.store.registry import DEFAULT_DIR, default_version
from model.store.storage import MODEL_FILE, load_model
from training.config import TrainConfig, preset


@pytest.fixture(scope="module")
def shipped():
    version = default_version()
    return version, Predictor(load_model(version.model_file))


def test_shipped_files_are_consistent_and_small(shipped):
    version, predictor = shipped
    assert version.metadata.model_sha256 == file_sha256(DEFAULT_DIR / MODEL_FILE)
    assert (DEFAULT_DIR / MODEL_FILE).stat().st_size <= 10 * 1024 * 1024
    assert version.metadata.parameters == predictor.model.count_params()
    assert version.metadata.train_images == 60000
    assert version.metadata.preset == "standard"
    # The `standard` preset is the recipe that trained the shipped file.
    assert TrainConfig.from_dict(version.metadata.config) == preset("standard")


@pytest.mark.slow
def test_shipped_model_scores_its_recorded_accuracy_on_the_test_set(shipped, mnist):
    version, predictor = shipped
    _, (x_test, y_test) = mnist
    predicted = predictor.probabilities(from_uint8(x_test)).argmax(axis=1)
    accuracy = float(np.mean(predicted == y_test))
    # The shipped file scores what its metadata (and the home page) says it scores.
    assert accuracy == pytest.approx(version.metadata.test_accuracy, abs=1e-4)
    # The foundation issue's target.
    assert accuracy >= 0.9965
