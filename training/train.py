"""Training a digit CNN from a `TrainConfig`: `train()` returns the model and its `RunMetadata`.

The command line around it is `training/cli.py`.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.architecture import build_model
from model.store.mnist import load_mnist_and_sha256
from model.store.schemas import RunMetadata, utc_now
from training.callbacks import TestAccuracy
from training.checkpoint import Recorder, ResumeState, read_state
from training.config import TrainConfig, preset_name
from training.optimizer import make_optimizer
from training.pipeline import augmentation_layers, make_dataset, split_data, to_model_input

# Batch normalisation's moving statistics (momentum 0.99) need a few hundred steps to settle.
BATCH_NORM_SETTLE_STEPS = 500


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy across all GPUs when more than one is visible, else the default strategy."""
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, limit: int = 10000, batch_size: int = 500) -> None:
    """Sets every BatchNormalization layer's moving mean and variance to the exact statistics of its input.

    Layer by layer, in order, over up to `limit` un-augmented images: after a short run the
    moving averages still remember their initial values, and the model predicts poorly.
    """
    inputs = to_model_input(images[:limit])
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        upstream = keras.Model(model.input, layer.input)
        forward = tf.function(lambda batch, upstream=upstream: upstream(batch, training=False))
        total = total_squares = 0.0
        count = 0
        for start in range(0, len(inputs), batch_size):
            values = forward(tf.constant(inputs[start : start + batch_size])).numpy().astype(np.float64)
            values = values.reshape(-1, values.shape[-1])
            total = total + values.sum(axis=0)
            total_squares = total_squares + np.square(values).sum(axis=0)
            count += len(values)
        mean = total / count
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(np.maximum(total_squares / count - np.square(mean), 0.0).astype(np.float32))


def library_versions() -> dict[str, str]:
    """The versions that matter for reproducing a run."""
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def train(
    config: TrainConfig,
    data=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
    track_test: bool = False,
    checkpoint: str | Path | None = None,
) -> tuple[keras.Model, RunMetadata]:
    """Trains a model from `config`; returns (model, metadata).

    `data` is `((x_train, y_train), (x_test, y_test))` as `load_mnist` returns it (loaded,
    and its file's sha256 recorded, when None). `callbacks` are extra Keras callbacks. With
    `track_test`, the test accuracy after every epoch goes into the history (for reporting,
    never for choosing a model). With `checkpoint`, a folder, the run's state is saved there
    after every epoch, and a run interrupted earlier with the same settings goes on from its
    last finished epoch (a ValueError if the folder holds a run with other settings). A
    resumed run draws its shuffles and augmentation afresh, so it is not bit-identical to an
    uninterrupted one.
    """
    previous = (read_state(checkpoint, config) if checkpoint is not None else None) or ResumeState()
    initial_epoch = previous.epoch
    data_sha = None
    if data is None:
        data, data_sha = load_mnist_and_sha256()
    (x_all, y_all), (x_test, y_test) = data
    (x_train, y_train), validation = split_data(config, x_all, y_all)
    # A resumed run seeds its random streams by the epoch it starts from.
    stream_seed = (
        config.seed
        if initial_epoch == 0
        else int(np.random.SeedSequence([config.seed, initial_epoch]).generate_state(1)[0] % 2**31)
    )
    keras.utils.set_random_seed(stream_seed)

    batch_size = min(config.batch_size, len(x_train))
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    train_set = make_dataset(
        x_train, y_train, batch_size, augmentation_layers(config.replace(seed=stream_seed)), shuffle_seed=stream_seed
    )
    validation_set = make_dataset(*validation, 1000) if validation is not None else None

    with distribution_strategy().scope():
        model = build_model(config.architecture, config.width, config.dropout)
        model.compile(
            optimizer=make_optimizer(config, steps_per_epoch),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        if previous.weights_file is not None:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(previous.weights_file)

    # The test accuracy joins an epoch's logs before the recorder and the caller's callbacks see them.
    recorder = Recorder(config, previous, checkpoint)
    extra = [TestAccuracy(x_test, y_test)] if track_test else []
    extra += [recorder, *callbacks]
    start = time.perf_counter()
    model.fit(
        train_set,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        validation_data=validation_set,
        callbacks=extra,
        verbose=verbose,
        shuffle=False,
    )
    if config.epochs * steps_per_epoch < BATCH_NORM_SETTLE_STEPS:
        recalibrate_batch_norm(model, x_train)
    seconds = previous.seconds + time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(make_dataset(x_test, y_test, 1000), verbose=0)
    metadata = RunMetadata(
        config=config.to_dict(),
        preset=preset_name(config),
        history=recorder.history,
        test_accuracy=float(test_accuracy),
        test_loss=float(test_loss),
        parameters=int(model.count_params()),
        train_images=int(len(x_train)),
        validation_images=int(len(validation[0])) if validation is not None else 0,
        training_seconds=round(seconds, 2),
        data_sha256=data_sha,
        versions=library_versions(),
        devices=[device.name for device in tf.config.list_logical_devices()],
        created=utc_now(),
    )
    return model, metadata
