"""Probabilities for batches of 28x28 digits: one object shared by every page and session."""

from __future__ import annotations

import threading
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from model.runtime.apart import run_apart
from model.store.storage import ModelBroken

# Batches larger than this are split: bounds memory, and is the fastest size on this CPU.
MAX_BATCH = 256


def as_model_input(images: np.ndarray) -> np.ndarray:
    """(28, 28), (N, 28, 28) or (N, 28, 28, 1) in [0, 1] -> float32 (N, 28, 28, 1)."""
    array = np.asarray(images)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"Expected a numeric array, got dtype {array.dtype}.")
    if array.shape == (28, 28):
        array = array[None]
    if array.ndim == 3 and array.shape[1:] == (28, 28):
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (28, 28, 1):
        raise ValueError(f"Expected images shaped (28, 28) or (N, 28, 28), got {np.shape(images)}.")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError("Images contain NaN or infinite values.")
    return array


def shaped_for(model: keras.Model, images: tf.Tensor) -> tf.Tensor:
    """(N, 28, 28, 1) images shaped as the model's input takes them: (N, 28, 28, 1) or (N, 28, 28)."""
    return tf.reshape(images, [-1, *model.inputs[0].shape[1:]])


class AnswersNotFinite(ModelBroken):
    """A model answered NaN or infinity; `model_file` is its file (None when not known)."""

    def __init__(self, model_file: str | None):
        super().__init__("it answers with numbers that are not finite (NaN or infinity) for a digit shown to it.")
        self.model_file = model_file


def finite(probabilities: np.ndarray, model_file: str | None) -> np.ndarray:
    """`probabilities` when they are all finite; raises AnswersNotFinite for the model in `model_file` otherwise."""
    if not np.isfinite(probabilities).all():
        raise AnswersNotFinite(model_file)
    return probabilities


class Predictor:
    """Wraps a Keras model for fast, thread-safe inference in this process.

    Single images go through one traced `tf.function` instead of `model.predict()`, which
    costs far more a call (benchmarks/results.json). A lock makes concurrent calls from
    several Streamlit sessions safe. `model.runtime.forward_worker.Routed` sends a Predictor's small
    batches to the forward worker's process instead.
    """

    def __init__(self, model: keras.Model, model_file: str | None = None):
        self.model = model
        self.model_file = model_file
        self._lock = threading.Lock()
        self._forward = tf.function(
            lambda images: model(shaped_for(model, images), training=False),
            input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
        )

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shaped (N, 10), for images in [0, 1] shaped (28, 28) or (N, 28, 28).
        Raises AnswersNotFinite when the model answers NaN or infinity for any of them."""
        return finite(self.probabilities_in_process(images), self.model_file)

    def probabilities_apart(self, images: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """`probabilities` of many images (an evaluation), computed in a child process in the background
        (`model.runtime.apart.run_apart`) so that strokes come first; in this process when the model's
        file is not known. `progress` hears the fraction done after each batch. Raises
        AnswersNotFinite as `probabilities` does."""
        batch = as_model_input(images)
        if self.model_file is None:
            return finite(self.probabilities_in_process(batch, progress), self.model_file)
        probabilities = run_apart(
            _probabilities_of_file,
            self.model_file,
            batch,
            progress=progress,
            what=f"The probabilities of {len(batch):,} digits",
        )
        return finite(probabilities, self.model_file)

    def probabilities_in_process(
        self, images: np.ndarray, progress: Callable[[float], None] | None = None
    ) -> np.ndarray:
        """`probabilities`, always computed in this process; `progress` hears the fraction done after each batch."""
        batch = as_model_input(images)
        outputs = []
        with self._lock:
            for start in range(0, len(batch), MAX_BATCH):
                outputs.append(self._forward(tf.constant(batch[start : start + MAX_BATCH])).numpy())
                if progress is not None:
                    progress(min(len(batch), start + MAX_BATCH) / len(batch))
        if not outputs:
            return np.zeros((0, 10), np.float32)
        return np.concatenate(outputs)

    def probabilities_of_image(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities, shaped (10,), for one (28, 28) image."""
        if np.shape(image) != (28, 28):
            raise ValueError(f"Expected one image shaped (28, 28), got {np.shape(image)}.")
        return self.probabilities(image)[0]


def _probabilities_of_file(model_file: str, images: np.ndarray, progress=None) -> np.ndarray:
    """The probabilities of the model in `model_file` (loaded in safe mode): what `probabilities_apart`'s child runs."""
    from model.store.storage import load_model

    return Predictor(load_model(model_file)).probabilities_in_process(images, progress)
