"""The training data pipeline: the seeded split, augmentation layers, tf.data datasets, and the augmentation preview."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from model.runtime.preprocess import from_uint8
from model.store.mnist import Split
from training.config import TrainConfig
from training.elastic import RandomElastic


def split_data(config: TrainConfig, x: np.ndarray, y: np.ndarray) -> tuple[Split, Split | None]:
    """Seeded shuffle, optional subset, then a validation split: ((x, y), (x_val, y_val) or None)."""
    order = np.random.default_rng(config.seed).permutation(len(x))
    if config.train_size is not None:
        order = order[: config.train_size]
    held_out = int(round(len(order) * config.validation_split))
    train, validation = order[held_out:], order[:held_out]
    if len(train) == 0:
        raise ValueError("No training images left after the validation split.")
    return (x[train], y[train]), ((x[validation], y[validation]) if held_out else None)


def augmentation_layers(config: TrainConfig) -> keras.Sequential | None:
    """The Keras preprocessing layers for the configured augmentation, or None when all are off."""
    steps = []
    if config.rotation:
        steps.append(
            keras.layers.RandomRotation(config.rotation / 360.0, fill_mode="constant", seed=config.seed, name="rotate")
        )
    if config.zoom:
        steps.append(keras.layers.RandomZoom(config.zoom, fill_mode="constant", seed=config.seed + 1, name="zoom"))
    if config.shift:
        steps.append(
            keras.layers.RandomTranslation(
                config.shift, config.shift, fill_mode="constant", seed=config.seed + 2, name="shift"
            )
        )
    if config.elastic:
        steps.append(RandomElastic(config.elastic, seed=config.seed + 3, name="elastic"))
    return keras.Sequential(steps, name="augmentation") if steps else None


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return from_uint8(images)[..., None]


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, augment=None, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """A batched tf.data pipeline of (image, label), augmented and shuffled when asked."""
    dataset = tf.data.Dataset.from_tensor_slices((to_model_input(x), y.astype(np.int32)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(
            lambda images, labels: (augment(images, training=True), labels), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def augment_preview(images: np.ndarray, config: TrainConfig, seed: int = 0) -> np.ndarray:
    """uint8 (N, 28, 28) digits as the configured augmentation changes them: float32 (N, 28, 28) in [0, 1]."""
    batch = to_model_input(images)
    augment = augmentation_layers(config.replace(seed=seed))
    if augment is None:
        return batch[..., 0]
    return np.clip(np.asarray(augment(batch, training=True))[..., 0], 0.0, 1.0)
