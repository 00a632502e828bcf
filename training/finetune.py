"""Fine-tuning a model version on MNIST plus your own digits (`model.store.my_digits`).

A fifth of your digits is held aside; the rest are repeated until they make up a tenth of
each epoch, mixed with MNIST's 60,000 training images, for a few epochs of Adam at a small
learning rate from the version's weights. The accuracy on the held-aside digits and on the
MNIST test set is measured before and after, and recorded in the new version's metadata
with what data it saw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from model.runtime.inference import shaped_for
from model.store.schemas import RunMetadata, utc_now
from training.config import MIN_DIGITS, FineTuneConfig
from training.pipeline import make_dataset
from training.train import library_versions


def split_own(labels: np.ndarray, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of your digits to train on and to hold aside (at least one of each)."""
    count = len(labels)
    if count < MIN_DIGITS:
        raise ValueError(f"Fine-tuning needs at least {MIN_DIGITS} of your digits; there are {count}.")
    order = np.random.default_rng(seed).permutation(count)
    aside = min(count - 1, max(1, int(round(held_out * count))))
    return np.sort(order[aside:]), np.sort(order[:aside])


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    """The share of (N, 28, 28) float images in [0, 1] the model labels right."""
    correct = 0
    for start in range(0, len(images), batch):
        part = tf.constant(images[start : start + batch][..., None].astype(np.float32))
        predicted = np.argmax(np.asarray(model(shaped_for(model, part), training=False)), axis=1)
        correct += int((predicted == labels[start : start + batch]).sum())
    return correct / max(1, len(images))


def fine_tune(
    model: keras.Model,
    own_images: np.ndarray,
    own_labels: np.ndarray,
    data,
    config: FineTuneConfig | None = None,
    source: RunMetadata | None = None,
    source_id: str = "",
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, RunMetadata]:
    """Fine-tunes `model` in place on MNIST (`data` as `load_mnist` returns it) plus your digits
    ((N, 28, 28) float in [0, 1] and their labels); returns it and the new version's metadata,
    whose `fine_tune` records the data and the accuracies before and after."""
    config = config or FineTuneConfig()
    (x_train, y_train), (x_test, y_test) = data
    own_images = np.asarray(own_images, np.float32)
    own_labels = np.asarray(own_labels, np.int64)
    train_part, aside = split_own(own_labels, config.held_out, config.seed)
    mnist_test = x_test.astype(np.float32) / 255.0
    before = {
        "own_accuracy_before": accuracy(model, own_images[aside], own_labels[aside]),
        "mnist_accuracy_before": accuracy(model, mnist_test, y_test),
    }
    # Your digits repeated to make up `own_share` of each epoch, as uint8 like MNIST's.
    repeats = max(1, math.ceil(config.own_share * len(x_train) / ((1 - config.own_share) * len(train_part))))
    own_uint8 = np.round(own_images[train_part] * 255).astype(np.uint8)
    x_mixed = np.concatenate([x_train, np.tile(own_uint8, (repeats, 1, 1))])
    y_mixed = np.concatenate([y_train.astype(np.int64), np.tile(own_labels[train_part], repeats)])
    keras.utils.set_random_seed(config.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    trained = model.fit(
        make_dataset(x_mixed, y_mixed, config.batch_size, shuffle_seed=config.seed),
        epochs=config.epochs,
        callbacks=list(callbacks),
        verbose=0,
    )
    seconds = time.perf_counter() - start
    after = {
        "own_accuracy_after": accuracy(model, own_images[aside], own_labels[aside]),
        "mnist_accuracy_after": accuracy(model, mnist_test, y_test),
    }
    record = {
        "from_version": source_id,
        "settings": config.to_dict(),
        "own_digits": int(len(own_labels)),
        "own_trained_on": int(len(train_part)),
        "own_held_aside": int(len(aside)),
        "own_repeats": int(repeats),
        "mnist_train_images": int(len(x_train)),
        **before,
        **after,
    }
    history = [
        {"epoch": epoch + 1, **{key: float(values[epoch]) for key, values in trained.history.items()}}
        for epoch in range(len(trained.history.get("loss", [])))
    ]
    metadata = RunMetadata(
        config=dict(source.config) if source is not None else {},
        preset="fine-tune",
        history=history,
        test_accuracy=after["mnist_accuracy_after"],
        parameters=int(model.count_params()),
        train_images=int(len(x_mixed)),
        training_seconds=round(seconds, 2),
        versions=library_versions(),
        created=utc_now(),
        fine_tune=record,
    )
    return model, metadata
