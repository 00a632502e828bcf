"""Keras callbacks for a training run: progress reports for the job runner and the command line, and test accuracy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from training.pipeline import make_dataset


@dataclass(frozen=True)
class ProgressEvent:
    """One finished batch ("batch") or epoch ("epoch") of a training run."""

    kind: str
    # The epoch in progress (from 1) of how many, and the batches finished in it of how many.
    epoch: int
    epochs: int | None
    batch: int
    batches: int | None
    # Seconds since training started.
    elapsed: float
    # The Keras logs; an epoch's include validation (and test accuracy, when tracked).
    logs: dict[str, float]


class ProgressCallback(keras.callbacks.Callback):
    """Reports each batch and epoch to `on_progress(event)`; an exception it raises stops training."""

    def __init__(self, on_progress: Callable[[ProgressEvent], None]):
        super().__init__()
        self.on_progress = on_progress

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _report(self, kind: str, batch: int | None, logs) -> None:
        self.on_progress(
            ProgressEvent(
                kind=kind,
                epoch=self.epoch + 1,
                epochs=self.params.get("epochs"),
                batch=batch or 0,
                batches=self.params.get("steps"),
                elapsed=time.perf_counter() - self.start,
                logs={key: float(value) for key, value in (logs or {}).items()},
            )
        )

    def on_train_batch_end(self, batch, logs=None):
        self._report("batch", batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._report("epoch", self.params.get("steps"), logs)


class TestAccuracy(keras.callbacks.Callback):
    """Adds the test accuracy to each epoch's logs, for reporting only (never for choosing a model).

    Place it before callbacks that read the logs.
    """

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray):
        super().__init__()
        self.test = make_dataset(x_test, y_test, 1000)
        self.count = len(y_test)

    def on_epoch_end(self, epoch, logs=None):
        correct = 0
        for images, labels in self.test:
            predicted = tf.argmax(self.model(images, training=False), axis=-1, output_type=tf.int32)
            correct += int(tf.reduce_sum(tf.cast(predicted == labels, tf.int32)))
        if logs is not None:
            logs["test_accuracy"] = correct / self.count
