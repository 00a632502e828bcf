"""How fragile a prediction is: the class probabilities as a digit is rotated, shifted, scaled,
thickened or thinned, noised and partly hidden; and the smallest adversarial perturbation
(FGSM, and a few-step PGD) that changes the prediction. Pure computation on (28, 28) model
inputs in [0, 1]; the figures are drawn elsewhere.

    curves = robustness_sweep(model, image)
    curves["rotation"].flips        # the amounts at which the prediction changes
    attack = adversarial(model, image, method="PGD", target=3)
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _inspector
from model.runtime.inference import as_model_input, shaped_for

# Each transformation: its unit and the amounts the sweep tries (0 or 1 is the digit as it is).
TRANSFORMS: dict[str, tuple[str, np.ndarray]] = {
    "rotation": ("degrees", np.linspace(-60.0, 60.0, 25)),
    "shift": ("pixels to the right", np.linspace(-6.0, 6.0, 25)),
    "scale": ("times its size", np.round(np.linspace(0.5, 1.5, 21), 3)),
    "thickness": ("pixels added to each stroke's edge", np.arange(-2.0, 3.0)),
    "noise": ("standard deviation of added noise", np.round(np.linspace(0.0, 0.6, 25), 3)),
    "occlusion": ("share of the digit hidden from the top", np.round(np.linspace(0.0, 0.6, 25), 3)),
}
METHODS = ("FGSM", "PGD")


@dataclass(frozen=True)
class Curve:
    """One transformation swept: the amounts, the transformed digits (N, 28, 28), their class
    probabilities (N, 10), and the amounts at which the predicted class changes."""

    amounts: np.ndarray
    images: np.ndarray
    probabilities: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.probabilities, axis=1)

    @property
    def flips(self) -> list[float]:
        """The first amount of each run of a new prediction, walking outwards from the untouched digit."""
        predictions = self.predictions
        middle = int(np.argmin(np.abs(self.amounts - _identity(self.amounts))))
        flips = []
        for order in (range(middle + 1, len(predictions)), range(middle - 1, -1, -1)):
            previous = predictions[middle]
            for index in order:
                if predictions[index] != previous:
                    flips.append(float(self.amounts[index]))
                previous = predictions[index]
        return sorted(flips)


def _identity(amounts: np.ndarray) -> float:
    """The amount that leaves a digit as it is: 1 for a scale, else 0."""
    return 1.0 if amounts.min() > 0 else 0.0


def _affine(images: tf.Tensor, matrices: np.ndarray) -> tf.Tensor:
    """Each image resampled through its 3x3 matrix (output pixel -> input pixel), bilinear, black outside."""
    transforms = (matrices.reshape(-1, 9)[:, :8] / matrices[:, 2:3, 2]).astype(np.float32)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _about_centre(linear: np.ndarray) -> np.ndarray:
    """A 3x3 matrix applying `linear` (2x2, output -> input) about the image's centre."""
    centre = np.array([13.5, 13.5])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre - linear @ centre
    return matrix


def transformed(image: np.ndarray, kind: str, amounts: np.ndarray, seed: int = 0) -> np.ndarray:
    """The digit under one transformation at each amount: float32 (N, 28, 28) in [0, 1]."""
    if kind not in TRANSFORMS:
        raise ValueError(f"Unknown transformation {kind!r}; choose one of {list(TRANSFORMS)}.")
    batch = np.repeat(as_model_input(image), len(amounts), axis=0)
    amounts = np.asarray(amounts, np.float64)
    if kind == "rotation":
        radians = np.deg2rad(amounts)
        # Output to input: rotate back by the angle.
        matrices = np.stack(
            [_about_centre(np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])) for a in radians]
        )
        result = _affine(tf.constant(batch), matrices).numpy()
    elif kind == "shift":
        matrices = np.stack([_translation(-amount) for amount in amounts])
        result = _affine(tf.constant(batch), matrices).numpy()
    elif kind == "scale":
        if np.any(amounts <= 0):
            raise ValueError("Scales must be above 0.")
        matrices = np.stack([_about_centre(np.eye(2) / amount) for amount in amounts])
        result = _affine(tf.constant(batch), matrices).numpy()
    elif kind == "thickness":
        result = np.stack([_thickness(batch[:1], int(round(amount)))[0] for amount in amounts])
    elif kind == "noise":
        pattern = np.random.default_rng(seed).standard_normal((28, 28, 1)).astype(np.float32)
        result = batch + amounts[:, None, None, None].astype(np.float32) * pattern
    else:
        result = np.stack([_occluded(batch[0], share) for share in amounts])
    return np.clip(result[..., 0], 0.0, 1.0).astype(np.float32)


def _translation(dx: float) -> np.ndarray:
    matrix = np.eye(3)
    matrix[0, 2] = dx
    return matrix


def _thickness(batch: np.ndarray, pixels: int) -> np.ndarray:
    """Grey dilation (pixels > 0) or erosion (< 0) by a 3x3 square, once per pixel."""
    images = tf.constant(batch)
    for _ in range(abs(pixels)):
        images = tf.nn.max_pool2d(images, 3, 1, "SAME") if pixels > 0 else -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    return images.numpy()


def _occluded(image: np.ndarray, share: float) -> np.ndarray:
    """The digit with the top `share` of its inked rows painted black."""
    rows = np.flatnonzero(image[..., 0].max(axis=1) > 0.1)
    result = image.copy()
    if len(rows) and share > 0:
        covered = int(round(share * (rows[-1] - rows[0] + 1)))
        result[rows[0] : rows[0] + covered] = 0.0
    return result


def transformation_curve(model: keras.Model, image: np.ndarray, kind: str, seed: int = 0) -> Curve:
    """One transformation of TRANSFORMS at each of its amounts, classified in one batch."""
    amounts = TRANSFORMS[kind][1]
    images = transformed(image, kind, amounts, seed)
    with _calling:
        probabilities = _forward(model)(tf.constant(images[..., None])).numpy()
    return Curve(amounts, images, probabilities)


def robustness_sweep(model: keras.Model, image: np.ndarray, seed: int = 0) -> dict[str, Curve]:
    """Every transformation of TRANSFORMS at each of its amounts, classified in one batch."""
    images = {kind: transformed(image, kind, amounts, seed) for kind, (_, amounts) in TRANSFORMS.items()}
    batch = np.concatenate(list(images.values()))
    with _calling:
        probabilities = _forward(model)(tf.constant(batch[..., None])).numpy()
    curves, start = {}, 0
    for kind, (_, amounts) in TRANSFORMS.items():
        curves[kind] = Curve(amounts, images[kind], probabilities[start : start + len(amounts)])
        start += len(amounts)
    return curves


@dataclass(frozen=True)
class Attack:
    """An adversarial example: the smallest perturbation size tried that changed the prediction
    (None when none did), the perturbed digit, the perturbation and the new probabilities."""

    method: str
    epsilon: float | None
    image: np.ndarray
    perturbation: np.ndarray
    probabilities: np.ndarray
    target: int | None


# Perturbation sizes tried (the largest change of any pixel, in [0, 1] units): finer for FGSM's
# one step; PGD's ten steps cost ten gradients per size.
EPSILONS = {"FGSM": np.round(np.linspace(0.01, 0.4, 40), 3), "PGD": np.round(np.linspace(0.02, 0.4, 20), 3)}
PGD_STEPS = 10


def adversarial(
    model: keras.Model,
    image: np.ndarray,
    method: str = "FGSM",
    target: int | None = None,
    epsilons: np.ndarray | None = None,
    steps: int = PGD_STEPS,
) -> Attack:
    """The smallest perturbation of `epsilons` (default EPSILONS[method]; each pixel changed by at
    most epsilon) that makes the model predict another class, or `target` when given. FGSM takes
    one step along the sign of the loss's gradient; PGD takes `steps` smaller ones, staying
    within epsilon of the digit.
    Every epsilon is tried at once, as one batch."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    if target is not None and not (isinstance(target, int | np.integer) and 0 <= target < 10):
        raise ValueError("target must be a digit from 0 to 9, or None.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError("steps must be a positive integer.")
    epsilons = np.asarray(EPSILONS[method] if epsilons is None else epsilons, np.float32)
    original = as_model_input(image)
    forward = _forward(model)
    with _calling:
        predicted = int(np.argmax(forward(tf.constant(original)).numpy()[0]))
    if target == predicted:
        raise ValueError(f"The model predicts {target} already; choose another target.")
    # Untargeted: climb the loss of the predicted class. Targeted: descend the loss of the target.
    label, sign = (predicted, 1.0) if target is None else (int(target), -1.0)
    batch = tf.constant(np.repeat(original, len(epsilons), axis=0))
    sizes = tf.constant(epsilons[:, None, None, None])
    labels = tf.fill([len(epsilons)], label)
    # FGSM is PGD's one step of the whole size; PGD steps 2.5 / steps of it, projected back.
    with _calling:
        steps_taken = tf.constant(1 if method == "FGSM" else steps)
        attacked = _attack(model)(batch, sizes, labels, tf.constant(sign), steps_taken).numpy()
        probabilities = forward(tf.constant(attacked)).numpy()
    predictions = np.argmax(probabilities, axis=1)
    success = predictions != predicted if target is None else predictions == target
    # The smallest successful size, or the largest tried when none succeeded.
    index = int(np.argmax(success)) if success.any() else len(epsilons) - 1
    return Attack(
        method=method,
        epsilon=float(epsilons[index]) if success.any() else None,
        image=attacked[index, ..., 0].astype(np.float32),
        perturbation=(attacked[index] - original[0])[..., 0].astype(np.float32),
        probabilities=probabilities[index],
        target=target,
    )


# Traced functions per model, built once; calls one at a time (sessions share the model).
_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_calling = threading.Lock()


def _traced(model: keras.Model) -> dict:
    with _lock:
        if model not in _functions:
            inspector = _inspector(model)

            def loss_gradient(images, labels):
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    logits = inspector.logits(inspector.features_model(shaped_for(model, images), training=False))
                    loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
                return tape.gradient(loss, images)

            def attack(images, sizes, labels, sign, steps):
                step = sizes if steps == 1 else 2.5 * sizes / tf.cast(steps, tf.float32)
                attacked = images
                for _ in tf.range(steps):
                    direction = tf.sign(loss_gradient(attacked, labels))
                    attacked = tf.clip_by_value(attacked + sign * step * direction, images - sizes, images + sizes)
                    attacked = tf.clip_by_value(attacked, 0.0, 1.0)
                return attacked

            batch = tf.TensorSpec([None, 28, 28, 1], tf.float32)
            _functions[model] = {
                "forward": tf.function(
                    lambda images: model(shaped_for(model, images), training=False), input_signature=[batch]
                ),
                "attack": tf.function(
                    attack,
                    input_signature=[
                        batch,
                        tf.TensorSpec([None, 1, 1, 1], tf.float32),
                        tf.TensorSpec([None], tf.int32),
                        tf.TensorSpec([], tf.float32),
                        tf.TensorSpec([], tf.int32),
                    ],
                ),
            }
        return _functions[model]


def _forward(model: keras.Model):
    return _traced(model)["forward"]


def _attack(model: keras.Model):
    return _traced(model)["attack"]
