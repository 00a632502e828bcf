"""Which pixels a prediction rests on, one method a function as tf-keras-vis and Captum have them:
Grad-CAM (Selvaraju et al. 2017), saliency (Simonyan et al. 2014), SmoothGrad (Smilkov et al.
2017), integrated gradients (Sundararajan et al. 2017) with its completeness check, and occlusion
(Zeiler and Fergus 2014). Pure functions of a model and one (28, 28) input."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _inspector, _layer, _one_input
from model.architecture import inspectable_layers
from model.runtime.inference import as_model_input


def default_cam_layer(model: keras.Model) -> str:
    """The last convolution whose output is still a map (at least 4x4): Grad-CAM needs space to point at."""
    candidates = [
        layer
        for layer in inspectable_layers(model)
        if isinstance(layer, keras.layers.Conv2D) and min(layer.output.shape[1:3]) >= 4
    ]
    if not candidates:
        raise ValueError("The model has no convolution layer with a spatial output.")
    return candidates[-1].name


def _check_class(class_index: int) -> int:
    if not isinstance(class_index, (int, np.integer)) or not 0 <= int(class_index) <= 9:
        raise ValueError(f"class_index must be a digit 0-9, got {class_index!r}.")
    return int(class_index)


def _normalise(heat: np.ndarray) -> np.ndarray:
    heat = np.nan_to_num(heat.astype(np.float32))
    top = heat.max()
    return heat / top if top > 0 else np.zeros_like(heat)


def grad_cam(
    model: keras.Model, model_input: np.ndarray, class_index: int, layer_name: str | None = None
) -> np.ndarray:
    """Grad-CAM for `class_index`: a (28, 28) heat map in [0, 1] of where the evidence is.

    The channels of `layer_name` (by default the last convolution with a spatial map) are
    weighted by the mean gradient of the class's logit, summed, passed through ReLU and
    resized to the input.
    """
    class_index = _check_class(class_index)
    name = layer_name or default_cam_layer(model)
    if not isinstance(_layer(model, name), keras.layers.Conv2D | keras.layers.MaxPooling2D):
        raise ValueError(f"Grad-CAM needs a convolution or pooling layer, not {name!r}.")
    inspector = _inspector(model)
    images = _one_input(model_input)
    with inspector.lock:
        heat = inspector.cam_function(model, name)(images, tf.constant(class_index, tf.int32))
    return _normalise(np.asarray(heat))


def saliency(model: keras.Model, model_input: np.ndarray, class_index: int) -> np.ndarray:
    """The plain input gradient of the class's logit: a (28, 28) map in [0, 1] of the pixels that matter most."""
    class_index = _check_class(class_index)
    inspector = _inspector(model)
    images = _one_input(model_input)
    with inspector.lock:
        gradients = inspector.saliency_function(images, tf.constant(class_index, tf.int32))
    return _normalise(np.asarray(gradients))


def _batch_gradients(model: keras.Model, images: np.ndarray, class_index: int) -> np.ndarray:
    inspector = _inspector(model)
    with inspector.lock:
        gradients = inspector.gradient_function(
            tf.constant(images[..., None], tf.float32), tf.constant(class_index, tf.int32)
        )
    return np.asarray(gradients)[..., 0]


def class_scores(model: keras.Model, images: np.ndarray, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """The logit and the probability of `class_index` for each of (N, 28, 28) images."""
    class_index = _check_class(class_index)
    batch = as_model_input(images)
    inspector = _inspector(model)
    with inspector.lock:
        logits, probabilities = inspector.score_function(tf.constant(batch), tf.constant(class_index, tf.int32))
    return np.asarray(logits), np.asarray(probabilities)


def smooth_grad(
    model: keras.Model, model_input: np.ndarray, class_index: int, samples: int = 24, noise: float = 0.15
) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): the input gradient of the class's logit averaged over
    `samples` copies of the digit with Gaussian noise (standard deviation `noise`), as magnitudes:
    a (28, 28) map, >= 0, less speckled than the plain gradient."""
    class_index = _check_class(class_index)
    image = _one_input(model_input).numpy()[0, ..., 0]
    if not 1 <= samples <= 256 or not 0.0 <= noise <= 1.0:
        raise ValueError("samples must be 1-256 and noise 0-1.")
    rng = np.random.default_rng(0)
    noisy = image[None] + rng.normal(0.0, noise, (samples, 28, 28)).astype(np.float32)
    return np.abs(_batch_gradients(model, noisy, class_index).mean(axis=0)).astype(np.float32)


def integrated_gradients(model: keras.Model, model_input: np.ndarray, class_index: int, steps: int = 32) -> np.ndarray:
    """Integrated gradients (Sundararajan et al., 2017) from a black baseline: each pixel's
    value times the class logit's gradient averaged along the straight path from black to the
    digit (`steps` points). A signed (28, 28) map whose sum is close to the logit's rise
    from the black image to the digit (completeness: see `completeness`)."""
    class_index = _check_class(class_index)
    if not 2 <= steps <= 512:
        raise ValueError(f"steps must be 2-512, got {steps}.")
    image = _one_input(model_input).numpy()[0, ..., 0]
    # Midpoints of `steps` equal parts of u in [0, 1], taken at alpha = u**2: denser near the
    # black baseline, where the gradients change fastest (measured on the shipped model: the
    # completeness error falls from 8.3% to 3.5% on average at 32 steps).
    u = (np.arange(steps) + 0.5) / steps
    alphas, weights = (u**2).astype(np.float32), (2 * u / steps).astype(np.float32)
    gradients = _batch_gradients(model, alphas[:, None, None] * image[None], class_index)
    return (image * np.tensordot(weights, gradients, axes=1)).astype(np.float32)


def completeness(
    model: keras.Model, model_input: np.ndarray, class_index: int, attributions: np.ndarray
) -> tuple[float, float]:
    """(sum of the attributions, logit(digit) - logit(black image)): integrated gradients'
    completeness check; the two agree within a few percent when the steps are enough."""
    logits, _ = class_scores(model, np.stack([np.zeros((28, 28), np.float32), model_input]), class_index)
    return float(np.sum(attributions)), float(logits[1] - logits[0])


def occlusion(
    model: keras.Model, model_input: np.ndarray, class_index: int, patch: int = 6, stride: int = 2
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler and Fergus, 2014): how much the class's logit falls when
    a `patch` x `patch` square of the digit is blacked out, averaged over the squares covering
    each pixel. A signed (28, 28) map: positive where hiding the pixels lowers the score
    (evidence for the class), negative where it raises it. (The logit, not the probability:
    a confident model's probability barely moves when a small square is hidden.)"""
    class_index = _check_class(class_index)
    if not 1 <= patch <= 28 or not 1 <= stride <= patch:
        raise ValueError("patch must be 1-28 and stride 1-patch.")
    image = _one_input(model_input).numpy()[0, ..., 0]
    starts = list(range(0, 28 - patch + 1, stride))
    if starts[-1] != 28 - patch:
        starts.append(28 - patch)
    corners = [(row, column) for row in starts for column in starts]
    batch = np.repeat(image[None], len(corners) + 1, axis=0)
    for index, (row, column) in enumerate(corners, start=1):
        batch[index, row : row + patch, column : column + patch] = 0.0
    logits, _ = class_scores(model, batch, class_index)
    heat, count = np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)
    for (row, column), logit in zip(corners, logits[1:]):
        heat[row : row + patch, column : column + patch] += logits[0] - logit
        count[row : row + patch, column : column + patch] += 1
    return heat / np.maximum(count, 1)
