"""Elastic distortion of digit images (Simard, Steinkraus and Platt, 2003), as a Keras layer.

Keras's own `RandomElasticTransform` draws its horizontal and vertical displacement
fields from the same seed, so it only moves pixels along the diagonal; this layer draws
two independent fields.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf


class RandomElastic(keras.layers.Layer):
    """Moves every pixel along a smooth random displacement field, in training only.

    `displacement` is the field's root-mean-square length in pixels; `smoothness` is the
    standard deviation, in pixels, of the Gaussian that smooths the field. Pixels pulled
    from outside the image are black.
    """

    def __init__(self, displacement: float, smoothness: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not displacement >= 0.0:
            raise ValueError(f"displacement must be at least 0 pixels, got {displacement}.")
        if not smoothness > 0.0:
            raise ValueError(f"smoothness must be above 0 pixels, got {smoothness}.")
        self.displacement = displacement
        self.smoothness = smoothness
        self.seed = seed
        radius = math.ceil(3 * smoothness)
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smoothness) ** 2)
        kernel /= kernel.sum()
        # One depthwise kernel per axis, applied to both displacement fields at once.
        self.kernels = [
            np.tile(kernel.astype(np.float32).reshape(shape), (1, 1, 2, 1))
            for shape in ((len(kernel), 1, 1, 1), (1, len(kernel), 1, 1))
        ]
        # Uniform noise on [-1, 1] smoothed by the kernel along both axes has this standard deviation.
        self.noise_deviation = math.sqrt(1 / 3) * float(np.sum(kernel**2))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.displacement == 0.0:
            return images
        shape = tf.shape(images)
        noise = keras.random.uniform((shape[0], shape[1], shape[2], 2), -1.0, 1.0, seed=self.seed_generator)
        for kernel in self.kernels:
            noise = tf.nn.depthwise_conv2d(noise, kernel, (1, 1, 1, 1), "SAME")
        field = noise * (self.displacement / self.noise_deviation)
        rows, columns = tf.meshgrid(
            tf.range(shape[1], dtype=tf.float32), tf.range(shape[2], dtype=tf.float32), indexing="ij"
        )
        return sample_bilinear(images, rows + field[..., 0], columns + field[..., 1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "displacement": self.displacement,
            "smoothness": self.smoothness,
            "seed": self.seed,
        }


def sample_bilinear(images, rows, columns):
    """Samples (N, H, W, C) images at fractional positions `rows`, `columns` (N, H, W); outside is 0."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    flat = tf.reshape(images, (shape[0], height * width, shape[3]))
    top, left = tf.floor(rows), tf.floor(columns)
    result = tf.zeros_like(images)
    for row in (top, top + 1):
        for column in (left, left + 1):
            weight = (1.0 - tf.abs(rows - row)) * (1.0 - tf.abs(columns - column))
            inside = (
                (row >= 0)
                & (row <= tf.cast(height - 1, tf.float32))
                & (column >= 0)
                & (column <= tf.cast(width - 1, tf.float32))
            )
            row_index = tf.clip_by_value(tf.cast(row, tf.int32), 0, height - 1)
            column_index = tf.clip_by_value(tf.cast(column, tf.int32), 0, width - 1)
            values = tf.gather(flat, tf.reshape(row_index * width + column_index, (shape[0], -1)), batch_dims=1)
            result += tf.reshape(values, shape) * tf.where(inside, weight, 0.0)[..., None]
    return result
