"""What a channel detects: the test patches that excite it most, and an image made to excite it.

`top_patches` runs the test set through the model once and keeps, for every channel of every
convolution layer, the 9 images whose strongest response in that channel is highest, with
where it was: the patch is that unit's receptive field (`patch`). `activation_maximisation`
climbs the gradient from a grey image to one the channel answers strongly (with jitter and
blur, so that the image stays smooth). Both are pure; `cached_top_patches` and
`cached_activation_maximisation` keep the results on disk beside the model version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _graph, activation_layer
from model.analysis.unit import receptive_field
from model.runtime.inference import shaped_for
from model.runtime.preprocess import from_uint8
from model.store.files import array_digest, kept_or_computed

# Patches kept per channel, and test images per batch.
TOP = 9
BATCH = 500


@dataclass(frozen=True)
class TopPatches:
    """For each convolution layer (by name), (channels, TOP) arrays, strongest first."""

    # Test-set indices of the images.
    images: dict[str, np.ndarray]
    # The channel's strongest value in each image, and where: the unit's row and column.
    values: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]


def convolution_layers(model: keras.Model) -> list[str]:
    """The model's convolution layers, in order."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def input_filter(model: keras.Model, layer: str, channel: int) -> np.ndarray | None:
    """For a convolution that reads the image itself (the first one), its kernel for `channel` as
    an image in 0-1, grey for zero, white for the most positive and black for the most negative
    weight; None for any other layer. On the image, that kernel is exactly what the channel looks
    for, where an image climbed for it comes out as a blur."""
    names = convolution_layers(model)
    if not names or layer != names[0]:
        return None
    kernel = model.get_layer(layer).get_weights()[0]
    if kernel.shape[2] != 1:
        return None
    weights = kernel[:, :, 0, channel].astype(np.float32)
    scale = float(np.max(np.abs(weights))) or 1.0
    return 0.5 + 0.5 * weights / scale


def top_patches(model: keras.Model, images: np.ndarray) -> TopPatches:
    """For every channel of every convolution layer, the TOP images (uint8 (N, 28, 28)) in which the
    channel's strongest value is highest, one patch per image."""
    names = convolution_layers(model)
    if not names:
        raise ValueError("The model has no convolution layers.")
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"Expected uint8 images shaped (N, 28, 28), got {images.dtype} {images.shape}.")
    inputs, tensors = _graph(model)
    outputs = [tensors[activation_layer(model, name).name][1] for name in names]
    maps_model = keras.Model(inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def strongest(batch):
        # Per image and channel: the strongest value over the map, and its flat position.
        found = []
        results = maps_model(shaped_for(model, batch), training=False)
        # One output comes back as a tensor, not a list of one.
        for output in results if isinstance(results, (list, tuple)) else [results]:
            flat = tf.reshape(output, [tf.shape(output)[0], -1, output.shape[-1]])
            found.append((tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32)))
        return found

    best = {name: (np.full((0, 0), -np.inf), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int32)) for name in names}
    for start in range(0, len(images), BATCH):
        batch = from_uint8(images[start : start + BATCH])[..., None]
        for name, (values, positions) in zip(names, strongest(tf.constant(batch))):
            values, positions = np.asarray(values).T, np.asarray(positions).T  # (channels, batch)
            indices = np.broadcast_to(np.arange(start, start + len(batch)), values.shape)
            kept_values, kept_indices, kept_positions = best[name]
            if kept_values.size:
                values = np.concatenate([kept_values, values], axis=1)
                indices = np.concatenate([kept_indices, indices], axis=1)
                positions = np.concatenate([kept_positions, positions], axis=1)
            order = np.argsort(-values, axis=1, kind="stable")[:, :TOP]
            best[name] = tuple(np.take_along_axis(array, order, axis=1) for array in (values, indices, positions))
    result = TopPatches({}, {}, {}, {})
    for name in names:
        values, indices, positions = best[name]
        width = int(activation_layer(model, name).output.shape[2])
        result.images[name] = indices.astype(np.int32)
        result.values[name] = values.astype(np.float32)
        result.rows[name], result.columns[name] = (array.astype(np.int16) for array in np.divmod(positions, width))
    return result


def patch(model: keras.Model, image: np.ndarray, layer_name: str, row: int, column: int) -> np.ndarray:
    """The part of a (28, 28) image that one unit of a layer sees: its receptive field."""
    top, bottom, left, right = receptive_field(model, layer_name, row, column)
    return image[top : bottom + 1, left : right + 1]


def activation_maximisation(
    model: keras.Model, layer_name: str, channel: int, steps: int = 160, seed: int = 0
) -> np.ndarray:
    """A (28, 28) image in [0, 1] that the channel answers strongly: gradient ascent on the channel's
    mean activation from a grey image, with random shifts (jitter) and a blur every few steps, so
    that it shows a pattern rather than pixel noise (Olah et al., 2017)."""
    if layer_name not in convolution_layers(model):
        raise ValueError(f"{layer_name!r} is not a convolution layer.")
    shown = activation_layer(model, layer_name)
    channels = int(shown.output.shape[-1])
    if not isinstance(channel, (int, np.integer)) or not 0 <= channel < channels:
        raise ValueError(f"channel must be 0-{channels - 1} for {layer_name}, got {channel!r}.")
    inputs, tensors = _graph(model)
    probe = keras.Model(inputs, tensors[shown.name][1])
    blur = tf.constant(np.outer(*[np.array([1.0, 2.0, 1.0]) / 4] * 2)[:, :, None, None], tf.float32)
    rng = np.random.default_rng(seed)

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32), tf.TensorSpec([2], tf.int32)])
    def step(image, shift):
        with tf.GradientTape() as tape:
            tape.watch(image)
            moved = tf.roll(image, shift, axis=[1, 2])
            score = tf.reduce_mean(probe(shaped_for(model, moved), training=False)[..., channel])
        gradient = tape.gradient(score, image)
        return image + 0.05 * gradient / (tf.math.reduce_std(gradient) + 1e-8)

    image = tf.constant(
        np.full((1, 28, 28, 1), 0.2, np.float32) + rng.normal(0, 0.01, (1, 28, 28, 1)).astype(np.float32)
    )
    for index in range(steps):
        image = step(image, tf.constant(rng.integers(-2, 3, 2), tf.int32))
        image = tf.clip_by_value(image, 0.0, 1.0)
        if index % 4 == 3:
            image = tf.nn.conv2d(image, blur, strides=1, padding="SAME")
    result = np.asarray(image)[0, ..., 0]
    low, high = float(result.min()), float(result.max())
    return ((result - low) / (high - low) if high > low else np.zeros_like(result)).astype(np.float32)


# On disk, beside the version: keyed by the model file's sha256 and the test images' digest.


def cached_top_patches(
    model: keras.Model, images: np.ndarray, folder: str | os.PathLike, model_sha256: str
) -> TopPatches:
    """`top_patches`, read from `folder` when computed before for this model file and these images,
    else computed and written there (atomically)."""
    path = Path(folder) / f"top_patches-{model_sha256[:16]}-{array_digest(images)}.npz"
    names = convolution_layers(model)
    parts = ("images", "values", "rows", "columns")

    def compute() -> dict[str, np.ndarray]:
        result = top_patches(model, images)
        return {f"{part}/{name}": getattr(result, part)[name] for part in parts for name in names}

    kept = kept_or_computed(path, {f"{part}/{name}" for part in parts for name in names}, compute)
    return TopPatches(*({name: kept[f"{part}/{name}"] for name in names} for part in parts))


def cached_activation_maximisation(
    model: keras.Model, layer_name: str, channel: int, folder: str | os.PathLike, model_sha256: str
) -> np.ndarray:
    """`activation_maximisation`, read from `folder` when computed before for this model file."""
    path = Path(folder) / f"maximised-{model_sha256[:16]}-{layer_name}-{channel}.npz"
    return kept_or_computed(path, {"image"}, lambda: {"image": activation_maximisation(model, layer_name, channel)})[
        "image"
    ]
