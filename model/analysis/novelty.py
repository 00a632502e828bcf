"""Is it a digit at all? A score for how unlike the digits a model learned from an input is.

A network trained only on digits calls anything a digit, often at 100%: a box, a letter, a
scribble. The score is the Mahalanobis distance of the input's features to the nearest class
mean, with one covariance shared by the ten classes, fitted on training digits (Lee et al.,
"A Simple Unified Framework for Detecting Out-of-Distribution Samples and Adversarial
Attacks", NeurIPS 2018). As in the paper's feature ensemble it is summed over several
layers: each pooling layer (its channels' means over the four quarters of the image, so
where a feature is counts) and the last flatten or dense layer before the output. The paper
weights the layers by a regression fitted on examples of non-digits; with none at hand, each
layer's distance is divided by its median over held-out digits instead. The threshold is the
99.5th percentile of held-out training digits' scores: one real digit in 200 is flagged.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _graph
from model.runtime.apart import run_apart
from model.runtime.inference import shaped_for
from model.runtime.preprocess import from_uint8
from model.store.files import computing_alone, read_arrays, write_arrays

# Images per forward pass while fitting.
BATCH = 1000
# The share of held-out training digits whose score the threshold is above.
QUANTILE = 0.995
# Training digits a reference is fitted on (more change little: on the shipped model, all 60,000
# flag 0.48% of test digits and 65% of benchmarks/not_digits.py; these 20,000 0.43% and 63%),
# and the share of them kept out of the fit, to set the scales and the threshold.
SAMPLE = 20_000
HELD_OUT = 0.25
# Added to the covariance's diagonal, relative to its mean variance: keeps its inverse stable.
RIDGE = 1e-3


@dataclass(frozen=True)
class Reference:
    """What one model's digits look like at `layers`: per layer the class means (classes, D) and
    the shared covariance's inverse (D, D), the median distance of held-out digits (`scales`),
    and the threshold of the summed, scaled distances."""

    layers: tuple[str, ...]
    means: tuple[np.ndarray, ...]
    precisions: tuple[np.ndarray, ...]
    scales: np.ndarray
    threshold: float

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"layers": np.array(self.layers), "scales": self.scales, "threshold": np.float64(self.threshold)}
        for index, (mean, precision) in enumerate(zip(self.means, self.precisions)):
            arrays[f"means{index}"], arrays[f"precision{index}"] = mean, precision
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Reference:
        """Raises KeyError or ValueError when the arrays are not a whole reference."""
        layers = tuple(str(name) for name in arrays["layers"])
        means = tuple(arrays[f"means{index}"] for index in range(len(layers)))
        precisions = tuple(arrays[f"precision{index}"] for index in range(len(layers)))
        scales = np.asarray(arrays["scales"], np.float64)
        if len(scales) != len(layers) or any(p.shape != (m.shape[1],) * 2 for m, p in zip(means, precisions)):
            raise ValueError("The reference's arrays do not fit together.")
        return cls(layers, means, precisions, scales, float(arrays["threshold"]))


def novelty_layers(model: keras.Model) -> list[str]:
    """The layers whose features are compared: the pooling layers and the last flatten or dense
    layer before the output. Raises ValueError when the model has none of them."""
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    kinds = (keras.layers.Flatten, keras.layers.Dense, keras.layers.GlobalAveragePooling2D)
    names = [layer.name for layer in model.layers[:-1] if isinstance(layer, pools)]
    last = [layer.name for layer in model.layers[:-1] if isinstance(layer, kinds)]
    if last:
        names.append(last[-1])
    if not names:
        raise ValueError("The model has no pooling, flatten or dense layer to compare inputs at.")
    return names


def _quarter_means(tensor: tf.Tensor) -> tf.Tensor:
    """(N, H, W, C) -> (N, 4C): each channel's mean over the image's four quarters (which overlap
    by the middle row or column when a side is odd, and are the whole image when it is 1)."""
    height, width = tensor.shape[1], tensor.shape[2]
    rows = ((0, (height + 1) // 2), (height // 2, height))
    columns = ((0, (width + 1) // 2), (width // 2, width))
    quarters = [tensor[:, top:bottom, left:right] for top, bottom in rows for left, right in columns]
    return tf.concat([tf.reduce_mean(quarter, axis=[1, 2]) for quarter in quarters], axis=1)


# Each model's traced summary function, built once: a new trace costs far more than a call.
_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_functions_lock = threading.Lock()


def _summary_function(model: keras.Model):
    with _functions_lock:
        if model not in _functions:
            inputs, tensors = _graph(model)
            probe = keras.Model(inputs, [tensors[name][1] for name in novelty_layers(model)])

            def summarise(images):
                outputs = probe(shaped_for(model, images), training=False)
                outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
                return [
                    _quarter_means(output) if len(output.shape) == 4 else tf.reshape(output, [tf.shape(output)[0], -1])
                    for output in outputs
                ]

            _functions[model] = tf.function(summarise, input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        return _functions[model]


def summaries(
    model: keras.Model, images: np.ndarray, progress: Callable[[float], None] | None = None
) -> list[np.ndarray]:
    """Per layer of `novelty_layers`, the (N, D) features compared, for (N, 28, 28) images:
    uint8 (MNIST) or float model inputs in [0, 1]."""
    function = _summary_function(model)
    scaled = from_uint8 if images.dtype == np.uint8 else (lambda part: np.asarray(part, np.float32))
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(images), BATCH):
        batch = tf.constant(scaled(images[start : start + BATCH])[..., None])
        parts.append([np.asarray(output, np.float64) for output in function(batch)])
        if progress is not None:
            progress(min(len(images), start + BATCH) / len(images))
    return [np.concatenate(layer) for layer in zip(*parts)]


def _class_distances(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,) squared Mahalanobis distance to the nearest class mean."""
    nearest = np.full(len(features), np.inf)
    for mean in means:
        difference = np.asarray(features, np.float64) - mean
        nearest = np.minimum(nearest, np.einsum("nd,de,ne->n", difference, precision, difference))
    return nearest


def _layer_distances(reference_parts, features_by_layer) -> np.ndarray:
    """(layers, N) distances, layer by layer."""
    return np.stack(
        [
            _class_distances(features, means, precision)
            for features, (means, precision) in zip(features_by_layer, reference_parts, strict=True)
        ]
    )


def fit(
    features_by_layer: list[np.ndarray], labels: np.ndarray, layers: list[str], held_out: float = HELD_OUT
) -> Reference:
    """The reference from training digits' `summaries` and labels: the last `held_out` share of the
    digits sets the scales and the threshold, the others the means and covariances."""
    labels = np.asarray(labels)
    if not 0 < held_out < 1:
        raise ValueError(f"Hold out a share of the digits between 0 and 1, not {held_out}.")
    held_out = int(round(len(labels) * held_out))
    if not 0 < held_out < len(labels):
        raise ValueError(f"{len(labels)} digits are too few to fit a reference on.")
    classes = np.unique(labels[:-held_out])
    parts = []
    for features in features_by_layer:
        fitted_part = np.asarray(features[:-held_out], np.float64)
        means = np.stack([fitted_part[labels[:-held_out] == label].mean(axis=0) for label in classes])
        centred = fitted_part - means[np.searchsorted(classes, labels[:-held_out])]
        covariance = centred.T @ centred / len(centred)
        covariance += RIDGE * max(np.trace(covariance) / len(covariance), 1e-12) * np.eye(len(covariance))
        parts.append((means, np.linalg.inv(covariance)))
    held = _layer_distances(parts, [features[-held_out:] for features in features_by_layer])
    scales = np.maximum(np.median(held, axis=1), 1e-12)
    threshold = float(np.quantile((held / scales[:, None]).sum(axis=0), QUANTILE))
    return Reference(
        tuple(layers),
        tuple(means.astype(np.float32) for means, _ in parts),
        tuple(precision.astype(np.float32) for _, precision in parts),
        scales,
        threshold,
    )


def fit_reference(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    held_out: float = HELD_OUT,
    progress: Callable[[float], None] | None = None,
) -> Reference:
    """`fit` on the model's `summaries` of training digits."""
    return fit(summaries(model, images, progress), labels, novelty_layers(model), held_out)


def scores(reference: Reference, features_by_layer: list[np.ndarray]) -> np.ndarray:
    """(N,) how unlike the reference's digits the inputs are, as a multiple of the threshold:
    above 1 is unlike 199 in 200 held-out digits."""
    parts = list(zip(reference.means, reference.precisions))
    distances = _layer_distances(parts, features_by_layer)
    return (distances / reference.scales[:, None]).sum(axis=0) / reference.threshold


def novelty(
    model: keras.Model,
    reference: Reference,
    images: np.ndarray,
    summarise: Callable[[np.ndarray], list[np.ndarray]] | None = None,
) -> np.ndarray:
    """`scores` of (N, 28, 28) images; raises ValueError when the reference is another model's.
    `summarise`, if given, computes `summaries(model, images)` elsewhere (the forward worker)."""
    if list(reference.layers) != novelty_layers(model):
        raise ValueError("The reference was fitted for another model's layers.")
    images = np.asarray(images)
    return scores(reference, summarise(images) if summarise is not None else summaries(model, images))


def _fit_of_file(
    model_file: str, images: np.ndarray, labels: np.ndarray, progress: Callable[[float], None] | None = None
) -> dict[str, np.ndarray]:
    """`fit_reference` of the model in `model_file` (loaded in safe mode): what `fit_apart`'s child runs."""
    from model.store.storage import load_model

    return fit_reference(load_model(model_file), images, labels, progress=progress).to_arrays()


def fit_apart(
    model_file: str, images: np.ndarray, labels: np.ndarray, progress: Callable[[float], None] | None = None
) -> Reference:
    """`fit_reference`, computed in a child process in the background (`model.runtime.apart.run_apart`)."""
    arrays = run_apart(
        _fit_of_file, model_file, images, labels, progress=progress, what=f"What {len(images):,} digits look like"
    )
    return Reference.from_arrays(arrays)


def _reference_path(folder: str | os.PathLike, model_sha256: str) -> Path:
    # Always fitted on the same MNIST training digits: the model file alone tells references apart.
    return Path(folder) / f"novelty-{model_sha256[:16]}.npz"


def kept_reference(folder: str | os.PathLike, model_sha256: str) -> Reference | None:
    """The reference `cached_reference` kept in `folder` for this model file, or None."""
    stored = read_arrays(_reference_path(folder, model_sha256))
    try:
        return None if stored is None else Reference.from_arrays(stored)
    except (KeyError, ValueError):
        return None  # Not a whole reference (written by another version of this code): fitted afresh.


def cached_reference(
    model_file: str,
    images: np.ndarray,
    labels: np.ndarray,
    folder: str | os.PathLike,
    model_sha256: str,
    progress: Callable[[float], None] | None = None,
) -> Reference:
    """`fit_apart` on the first SAMPLE of MNIST's training digits, kept in `folder` for this model file."""
    kept = kept_reference(folder, model_sha256)
    if kept is not None:
        return kept
    with computing_alone(_reference_path(folder, model_sha256)):
        # Fitted once for all the replicas sharing the registry: the others wait, then read it.
        kept = kept_reference(folder, model_sha256)
        if kept is not None:
            return kept
        reference = fit_apart(model_file, images[:SAMPLE], labels[:SAMPLE], progress)
        keep_reference(folder, model_sha256, reference)
    return reference


def keep_reference(folder: str | os.PathLike, model_sha256: str, reference: Reference) -> None:
    """Keeps a reference in `folder` for this model file (atomically), where `kept_reference` reads it."""
    write_arrays(_reference_path(folder, model_sha256), reference.to_arrays())
