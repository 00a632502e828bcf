"""Bring your own model: an uploaded `.keras` classifier, checked, measured and added as a version.

A model is accepted when Keras loads it in safe mode (no Lambda layers, no custom classes:
nothing in the file runs as code), it takes one 28x28 (or 28x28x1) image in [0, 1], and it
answers with 10 finite probabilities that sum to 1. It is then measured on the MNIST test
set, when there is one, and published like a trained version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

from model.analysis.evaluation import evaluate
from model.runtime.inference import Predictor
from model.store.registry import ModelVersion, new_version_id, publish_version
from model.store.schemas import RunMetadata, utc_now
from model.store.storage import ModelBroken, load_model

# Uploads larger than this are refused before Keras reads them.
MAX_BYTES = 10 * 1024 * 1024
# A model with more parameters is refused (the shipped one has about 200,000).
MAX_PARAMETERS = 5_000_000
# How many MNIST test digits an upload must answer finitely, besides random images.
CHECK_DIGITS = 100
# What the metadata of an uploaded model records as its preset.
UPLOADED = "uploaded"


class ModelRefused(ValueError):
    """The file is not a model this app can use; the message says why, for the person who uploaded it."""


def read_model(data: bytes, digits: np.ndarray | None = None) -> keras.Model:
    """The model in an uploaded `.keras` file, checked (on `digits` too, uint8 images, when given);
    raises ModelRefused with the reason."""
    if len(data) > MAX_BYTES:
        raise ModelRefused(f"The file is {len(data) / 2**20:.1f} MB; at most {MAX_BYTES // 2**20} MB are accepted.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.keras"
        path.write_bytes(data)
        try:
            model = load_model(path)
        except ModelBroken as error:
            raise ModelRefused(str(error).replace(path.name, "the file")) from error
    check_model(model, digits)
    return model


def check_model(model: keras.Model, digits: np.ndarray | None = None) -> None:
    """Raises ModelRefused unless the model is at most MAX_PARAMETERS, takes 28x28 images and answers
    with 10 probabilities, for random images and for `digits` (uint8 images) when given."""
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelRefused("The model must have one input and one output.")
    shape = tuple(model.inputs[0].shape[1:])
    if shape not in ((28, 28), (28, 28, 1)):
        raise ModelRefused(f"The model's input must be one 28x28 or 28x28x1 image, not {shape}.")
    if tuple(model.outputs[0].shape[1:]) != (10,):
        raise ModelRefused(
            f"The model must answer with 10 values, one per digit, not {tuple(model.outputs[0].shape[1:])}."
        )
    parameters = model.count_params()
    if parameters > MAX_PARAMETERS:
        raise ModelRefused(
            f"The model has {parameters:,} parameters; at most {MAX_PARAMETERS:,} parameters are accepted."
        )
    random_images = 8
    images = np.random.default_rng(0).random((random_images, 28, 28), dtype=np.float32)
    if digits is not None:
        images = np.concatenate([images, np.asarray(digits[:CHECK_DIGITS], np.float32) / 255.0])
    try:
        probabilities = Predictor(model).probabilities_in_process(images)
    except Exception as error:  # Whatever the model does wrong when it runs.
        raise ModelRefused(f"The model fails on 28x28 images: {type(error).__name__}: {error}") from error
    finite = np.isfinite(probabilities).all(axis=1)
    if not finite.all():
        where = "MNIST test digits" if finite[:random_images].all() else "28x28 images"
        raise ModelRefused(f"The model answers with values that are not finite numbers on {where}.")
    if probabilities.min() < 0 or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise ModelRefused("The model's answers are not probabilities: end it with a softmax.")


def import_model(
    data: bytes, label: str = UPLOADED, test_set: tuple[np.ndarray, np.ndarray] | None = None
) -> ModelVersion:
    """Checks an uploaded `.keras` file, measures it on `test_set` (uint8 images and labels), and
    publishes it as a new version. Raises ModelRefused, or RegistryFull past the operator's caps."""
    model = read_model(data, None if test_set is None else test_set[0])
    accuracy = None
    if test_set is not None:
        accuracy = evaluate(Predictor(model), *test_set).accuracy
    metadata = RunMetadata(
        preset=UPLOADED,
        test_accuracy=accuracy,
        parameters=int(model.count_params()),
        created=utc_now(),
    )
    return publish_version(model, metadata, new_version_id(label))
