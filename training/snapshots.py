"""Snapshots of a training run, to watch it learn afterwards (the "How it learned" replay).

About 40 times in a run, spaced more densely at the start where most changes happen, the
recorder keeps: the first convolution's filters; for a few probe digits (one test digit of
each class, and the visitor's drawing when there is one) the probabilities and one layer's
feature maps; the accuracy and confusion matrix on a fixed subset of test digits; and those
digits' features before the last layer. When the run ends, the features of every snapshot
are projected on one 2-D PCA basis, fitted on the finished model's (so the frames of the
digit map are comparable), and only the positions are kept.

    recorder = SnapshotRecorder(probes, subset_images, subset_labels)
    model.fit(..., callbacks=[recorder])     # copies of the weights only
    write_snapshots(recorder.arrays(), folder)   # model.store.snapshots: folder/snapshots.npz
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from model.analysis.channels import convolution_layers
from model.analysis.layout import project
from model.runtime.preprocess import from_uint8

# About this many snapshots in a run, the untrained network's included.
POINTS = 40
# The digit map's test digits: a fixed subset, the same in every run.
SUBSET = 1000
# The feature maps kept for each probe digit and snapshot: at most this many values (13x13x16).
MAP_VALUES = 2704
# The live view of a run gets a frame at most this often (seconds): each costs a forward pass.
LIVE_EVERY = 2.0


def snapshot_steps(total_steps: int, points: int = POINTS) -> np.ndarray:
    """The training steps after which a snapshot is taken: 0 (before the first step), then
    `points - 1` steps from 1 to `total_steps` spaced quadratically (dense at the start),
    without repeats."""
    if total_steps < 1:
        raise ValueError("A run has at least one step.")
    fractions = np.linspace(0.0, 1.0, points - 1) ** 2
    steps = np.round(1 + fractions * (total_steps - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], steps]))


def probe_indices(labels: np.ndarray) -> np.ndarray:
    """The first test digit of each class, in class order (a class missing is left out)."""
    return np.array([int(np.flatnonzero(labels == digit)[0]) for digit in range(10) if (labels == digit).any()])


def mapped_layer(model: keras.Model) -> str | None:
    """The layer whose feature maps a snapshot keeps: the first pooling layer, else the first
    convolution; None for a network without either."""
    for kinds in ((keras.layers.MaxPooling2D, keras.layers.AveragePooling2D), (keras.layers.Conv2D,)):
        for layer in model.layers:
            if isinstance(layer, kinds):
                return layer.name
    return None


def first_filters(model: keras.Model) -> np.ndarray:
    """The first convolution's filters as (channels, height, width) for one input channel; empty without one."""
    convolutions = convolution_layers(model)
    if not convolutions:
        return np.zeros((0, 0, 0), np.float16)
    kernel = model.get_layer(convolutions[0]).get_weights()[0]  # (height, width, inputs, channels)
    return np.transpose(kernel[:, :, 0, :], (2, 0, 1)).astype(np.float16)


def _without_dropout(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh copy of `layer`, an identity in place of dropout (for `keras.models.clone_model`)."""
    if isinstance(layer, keras.layers.Dropout):
        return keras.layers.Identity(name=layer.name)
    return layer.__class__.from_config(layer.get_config())


class SnapshotRecorder(keras.callbacks.Callback):
    """Keeps a snapshot of the model at `snapshot_steps(total_steps)`; `arrays()` gives them all.

    `probes` are images (N, 28, 28) scaled to [0, 1] (`probe_labels` theirs, -1 unknown);
    `subset_images` (uint8 or [0, 1]) and `subset_labels` the fixed test digits; `total_steps`
    the run's, else Keras's count.

    During the run a snapshot is only a copy of the weights (a millisecond or two); the forward
    passes over probes and subset (one per snapshot) wait for `arrays()`, after the run, so that
    they take no time from training. With `on_frame`, a snapshot at most every `live_every`
    seconds is computed at once and handed to it (`live_frame`: the live view of a run); those
    frames are not computed again.
    """

    def __init__(
        self,
        probes: np.ndarray,
        subset_images: np.ndarray,
        subset_labels: np.ndarray,
        total_steps: int | None = None,
        points: int = POINTS,
        probe_labels: np.ndarray | None = None,
        on_frame: Callable[[dict[str, np.ndarray]], None] | None = None,
        live_every: float = LIVE_EVERY,
    ):
        super().__init__()
        self.probes = np.asarray(probes, np.float32)
        # Each probe's label; -1 for a drawing, whose label nobody gave.
        self.probe_labels = (
            np.asarray(probe_labels, np.int8) if probe_labels is not None else np.full(len(self.probes), -1, np.int8)
        )
        subset = subset_images if subset_images.dtype != np.uint8 else from_uint8(subset_images)
        self.subset = np.asarray(subset, np.float32)
        self.labels = np.asarray(subset_labels, np.int64)
        self.points = points
        self.planned = set(snapshot_steps(total_steps, points).tolist()) if total_steps else None
        self.on_frame, self.live_every = on_frame, live_every
        self.last_live = -np.inf
        # The time the run spent in this recorder (copies and live frames): what it costs training.
        self.seconds = 0.0
        self.step = 0
        self.kept: list[tuple[int, list[np.ndarray]]] = []
        # Frames computed during the run (the live ones), by step: `arrays()` does not compute them again.
        self.frames: dict[int, dict[str, np.ndarray]] = {}
        self._viewer = None
        self._arrays: dict[str, np.ndarray] | None = None

    def on_train_begin(self, logs=None):
        if self.planned is None:
            # Keras gives the run's epochs and steps in an epoch.
            self.planned = set(snapshot_steps(self.params["epochs"] * self.params["steps"], self.points).tolist())
        if self.step == 0 and 0 in self.planned:
            self._keep()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step in self.planned:
            self._keep()

    def on_train_end(self, logs=None):
        # A resumed run ends before its planned last step: its last snapshot is the finished model.
        if not self.kept or self.kept[-1][0] != self.step:
            self._keep()

    def _keep(self) -> None:
        started = time.perf_counter()
        try:
            self._keep_now()
        finally:
            self.seconds += time.perf_counter() - started

    def _keep_now(self) -> None:
        weights = self.model.get_weights()
        self.kept.append((self.step, weights))
        self._arrays = None
        if self.on_frame is not None and time.monotonic() - self.last_live >= self.live_every:
            self.frames[self.step] = self._frame(self.step, weights)
            self.on_frame(live_frame(self.frames[self.step], self, self._total_steps()))
            self.last_live = time.monotonic()

    def _total_steps(self) -> int:
        return max(self.planned) if self.planned else self.step

    def arrays(self) -> dict[str, np.ndarray] | None:
        """Every snapshot, stacked (the first axis is the snapshot), with the digit map's positions
        on the finished model's PCA basis in place of the features; None if none was taken."""
        if not self.kept:
            return None
        if self._arrays is None:
            self._arrays = self._computed()
        return self._arrays

    def _viewing(self):
        """The copy of the network the frames are computed on, built once: (copy, forward, layer, channels)."""
        if self._viewer is None:
            layer = mapped_layer(self.model)
            copy = keras.models.clone_model(self.model, clone_function=_without_dropout)
            outputs = [copy.layers[-1].input, copy.output]
            channels = 0
            if layer is not None:
                mapped = copy.get_layer(layer).output
                height, width, depth = mapped.shape[1:]
                channels = max(1, min(depth, MAP_VALUES // (height * width)))
                outputs.append(mapped)
            viewer = keras.Model(copy.input, outputs)
            # Batch normalisation on the snapshot's own digits (training=True, in the copy, with no
            # dropout): its moving averages lag far behind early in a run, and a short run's are
            # recalibrated only at the end (training.train.recalibrate_batch_norm).
            forward = tf.function(lambda images: viewer(images, training=True))
            self._viewer = copy, forward, layer, channels
        return self._viewer

    def _frame(self, step: int, weights: list[np.ndarray]) -> dict[str, np.ndarray]:
        """One snapshot's frame: one forward pass over the probes and the subset."""
        copy, forward, layer, channels = self._viewing()
        copy.set_weights(weights)
        count = len(self.probes)
        values = [
            value.numpy() for value in forward(tf.constant(np.concatenate([self.probes, self.subset])[..., None]))
        ]
        features, probabilities = values[0].reshape(len(values[0]), -1), values[1]
        predicted = probabilities[count:].argmax(axis=1)
        confusion = np.zeros((10, 10), np.int32)
        np.add.at(confusion, (self.labels, predicted), 1)
        frame = {
            "steps": np.int64(step),
            "filters": first_filters(copy),
            "probe_probabilities": probabilities[:count].astype(np.float16),
            "subset_accuracy": np.float32((predicted == self.labels).mean()),
            "subset_predictions": predicted.astype(np.uint8),
            "confusion": confusion,
            "features": features[count:].astype(np.float32),
        }
        if layer is not None:
            frame["probe_maps"] = values[2][:count, ..., :channels].astype(np.float16)
        return frame

    def _computed(self) -> dict[str, np.ndarray]:
        frames = [self.frames.get(step) or self._frame(step, weights) for step, weights in self.kept]
        stacked = {name: np.stack([frame[name] for frame in frames]) for name in frames[0]}
        features = stacked.pop("features")
        # Every frame on the digit map's PCA of the finished model's features.
        basis = project(features[-1], "PCA")
        stacked["positions"] = ((features - basis["mean"]) @ basis["components"].T).astype(np.float32)
        stacked["probes"] = self.probes.astype(np.float16)
        stacked["probe_labels"] = self.probe_labels
        stacked["subset_labels"] = self.labels.astype(np.uint8)
        stacked["mapped_layer"] = np.array(self._viewing()[2] or "")
        return stacked


def live_frame(frame: dict[str, np.ndarray], recorder: SnapshotRecorder, total_steps: int) -> dict[str, np.ndarray]:
    """What the live view of a run shows of one frame: the filters, the probes and their
    probabilities, the subset's accuracy, and how far the run is."""
    return {
        "steps": frame["steps"],
        "total_steps": np.int64(total_steps),
        "filters": frame["filters"],
        "probes": recorder.probes.astype(np.float16),
        "probe_labels": recorder.probe_labels,
        "probe_probabilities": frame["probe_probabilities"],
        "subset_accuracy": frame["subset_accuracy"],
    }


def recorder_for(
    test_set: tuple[np.ndarray, np.ndarray],
    drawing: np.ndarray | None = None,
    on_frame: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> SnapshotRecorder:
    """The recorder of a run on MNIST: one test digit of each class (and `drawing`, a [0, 1]
    image, when given) as probes, and the first `SUBSET` test digits as the subset; `on_frame`
    gets the live frames."""
    x_test, y_test = test_set
    indices = probe_indices(y_test)
    probes, labels = from_uint8(x_test[indices]), y_test[indices].astype(np.int8)
    if drawing is not None:
        probes = np.concatenate([probes, np.asarray(drawing, np.float32).reshape(1, 28, 28)])
        labels = np.append(labels, np.int8(-1))
    return SnapshotRecorder(probes, x_test[:SUBSET], y_test[:SUBSET], probe_labels=labels, on_frame=on_frame)
