"""The digit map: digits placed in 2-D from a layer's features (PCA, UMAP or t-SNE), and the
nearest digits to any input in that feature space. Pure computation; the cache on disk is
keyed by the model file's sha256, the layer and the images.

New digits are placed with each method's own out-of-sample rule. PCA: its transform. UMAP:
its transform, run here from arrays kept beside the map (umap-learn's fitted model can only
be kept as a pickle, which this project never loads): the new point's fuzzy memberships to
its 15 nearest mapped digits, their weighted mean position, then 100 epochs of UMAP's
attraction and repulsion with the map held still. t-SNE: the mean position of its 10
nearest mapped digits, which is how openTSNE's own placement starts.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _graph
from model.analysis.layout import METHODS, UMAP_NEIGHBOURS, project
from model.runtime.apart import run_apart
from model.runtime.inference import shaped_for
from model.runtime.preprocess import from_uint8
from model.store.files import array_digest, kept_or_computed, read_arrays, write_arrays

# Images per forward pass when computing features.
BATCH = 1000
# Neighbours whose mean position places a new digit on a t-SNE map.
PLACING_NEIGHBOURS = 10
# UMAP's settings for placing new points (see model/analysis/layout.py for the rest): its negative
# samples per attraction and its epochs.
UMAP_NEGATIVE_RATE = 5
UMAP_EPOCHS = 100


def feature_layers(model: keras.Model) -> list[str]:
    """The flatten and dense layers whose output can be mapped, the output layer excluded; the
    last one (the default) is the one just before the output."""
    kinds = (keras.layers.Flatten, keras.layers.Dense, keras.layers.GlobalAveragePooling2D)
    names = [layer.name for layer in model.layers[:-1] if isinstance(layer, kinds)]
    if not names:
        raise ValueError("The model has no flatten or dense layer before its output to map.")
    return names


# Each model's traced feature functions, by layer, built once: a new trace costs far more than a call.
_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_functions_lock = threading.Lock()


def _feature_function(model: keras.Model, layer_name: str):
    with _functions_lock:
        by_layer = _functions.setdefault(model, {})
        if layer_name not in by_layer:
            inputs, tensors = _graph(model)
            probe = keras.Model(inputs, tensors[layer_name][1])
            by_layer[layer_name] = tf.function(
                lambda batch: probe(shaped_for(model, batch), training=False),
                input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
            )
        return by_layer[layer_name]


def features(
    model: keras.Model, layer_name: str, images: np.ndarray, progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """The layer's output for (N, 28, 28) images, uint8 (MNIST) or float model inputs: float32 (N, D).
    `progress` hears the fraction done after each batch."""
    if layer_name not in feature_layers(model):
        raise ValueError(f"{layer_name!r} is not a flatten or dense layer of this model.")
    function = _feature_function(model, layer_name)
    scaled = from_uint8 if images.dtype == np.uint8 else (lambda part: np.asarray(part, np.float32))
    parts = []
    for start in range(0, len(images), BATCH):
        parts.append(np.asarray(function(tf.constant(scaled(images[start : start + BATCH])[..., None]))))
        if progress is not None:
            progress(min(len(images), start + BATCH) / len(images))
    return np.concatenate(parts).reshape(len(images), -1).astype(np.float32)


def _features_of_file(
    model_file: str, layer_name: str, images: np.ndarray, progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """`features` of the model in `model_file` (loaded in safe mode): what `features_apart`'s child runs."""
    from model.store.storage import load_model

    return features(load_model(model_file), layer_name, images, progress)


def features_apart(
    model_file: str, layer_name: str, images: np.ndarray, progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """`features`, computed in a child process in the background (`model.runtime.apart.run_apart`); `progress`
    is called in this process."""
    return run_apart(
        _features_of_file,
        model_file,
        layer_name,
        images,
        progress=progress,
        what=f"The features of {len(images):,} digits",
    )


class NeighbourIndex:
    """Exact nearest neighbours by Euclidean distance over a bank of feature vectors (float32:
    numpy has no fast float16 products; 70,000 x 128 features take 36 MB)."""

    def __init__(self, bank: np.ndarray):
        self.bank = np.ascontiguousarray(bank, np.float32)
        self.squares = np.einsum("ij,ij->i", self.bank, self.bank)

    def query(self, vector: np.ndarray, count: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The indices of the `count` nearest vectors, nearest first, and their distances."""
        vector = np.asarray(vector, np.float32).ravel()
        if vector.shape[0] != self.bank.shape[1]:
            raise ValueError(f"Expected a vector of {self.bank.shape[1]} features, got {vector.shape[0]}.")
        products = self.bank @ vector
        distances = np.maximum(self.squares - 2 * products + vector @ vector, 0.0)
        count = min(count, len(distances))
        nearest = np.argpartition(distances, count - 1)[:count]
        nearest = nearest[np.argsort(distances[nearest], kind="stable")]
        return nearest, np.sqrt(distances[nearest])


def place(projection: dict[str, np.ndarray], vector: np.ndarray, test_index: NeighbourIndex) -> tuple[float, float]:
    """Where a new digit's feature vector goes on a map: PCA's transform, UMAP's transform, or for
    t-SNE the mean position of its nearest mapped digits (`test_index` holds the mapped digits'
    features, in map order)."""
    vector = np.asarray(vector, np.float32).ravel()
    if "components" in projection:
        x, y = (vector - projection["mean"]) @ projection["components"].T
        return float(x), float(y)
    if "a" in projection:
        return umap_place(projection, vector, test_index)
    nearest, _ = test_index.query(vector, PLACING_NEIGHBOURS)
    x, y = projection["points"][nearest].mean(axis=0)
    return float(x), float(y)


def umap_memberships(distances: np.ndarray, iterations: int = 64) -> np.ndarray:
    """UMAP's fuzzy memberships of a new point to its nearest mapped points, from their sorted
    distances: exp(-d / sigma), with sigma found so that the memberships after the first sum to
    log2(k) (umap-learn's smooth_knn_dist with no local connectivity, as its transform uses)."""
    distances = np.asarray(distances, np.float64)
    target = np.log2(len(distances))
    low, high, sigma = 0.0, np.inf, 1.0
    for _ in range(iterations):
        total = np.exp(-distances[1:] / sigma).sum()
        if abs(total - target) < 1e-5:
            break
        if total > target:
            high = sigma
            sigma = (low + high) / 2
        else:
            low = sigma
            sigma = sigma * 2 if np.isinf(high) else (low + high) / 2
    sigma = max(sigma, 1e-3 * distances.mean())
    return np.exp(-distances / sigma) if sigma > 0 else np.ones_like(distances)


def umap_place(
    projection: dict[str, np.ndarray], vector: np.ndarray, test_index: NeighbourIndex, seed: int = 0
) -> tuple[float, float]:
    """umap-learn's transform of one new point onto a fitted map, with exact neighbours: the
    membership-weighted mean of its neighbours' positions, then stochastic gradient steps that
    pull it towards its neighbours and push it from randomly drawn mapped points."""
    points = projection["points"]
    a, b = float(projection["a"]), float(projection["b"])
    nearest, distances = test_index.query(vector, UMAP_NEIGHBOURS)
    weights = umap_memberships(distances)
    x, y = ((weights[:, None] * points[nearest]).sum(axis=0) / weights.sum()).tolist()
    # As umap-learn does: weak edges are dropped, and each edge is sampled in proportion to its weight.
    keep = weights >= weights.max() / UMAP_EPOCHS
    targets = points[nearest[keep]].tolist()
    epochs_per_sample = (weights[keep].max() / weights[keep]).tolist()
    epochs_per_negative = [epochs / UMAP_NEGATIVE_RATE for epochs in epochs_per_sample]
    next_sample, next_negative = list(epochs_per_sample), list(epochs_per_negative)
    # Plain floats: a few thousand steps on one 2-D point, where numpy's per-call cost would dominate.
    random = np.random.default_rng(seed)
    others = iter(points[random.integers(0, len(points), UMAP_EPOCHS * UMAP_NEGATIVE_RATE * len(targets) + 1)].tolist())

    def clip(value: float) -> float:
        return min(4.0, max(-4.0, value))

    for epoch in range(UMAP_EPOCHS):
        # umap-learn's transform starts at a quarter of the fitting's learning rate, decaying to 0.
        rate = 0.25 * (1 - epoch / UMAP_EPOCHS)
        for edge, (target_x, target_y) in enumerate(targets):
            if next_sample[edge] > epoch:
                continue
            dx, dy = x - target_x, y - target_y
            squared = dx * dx + dy * dy
            if squared > 0:
                pull = -2 * a * b * squared ** (b - 1) / (a * squared**b + 1)
                x, y = x + clip(pull * dx) * rate, y + clip(pull * dy) * rate
            next_sample[edge] += epochs_per_sample[edge]
            negatives = int((epoch - next_negative[edge]) / epochs_per_negative[edge])
            for _ in range(negatives):
                other_x, other_y = next(others)
                dx, dy = x - other_x, y - other_y
                squared = dx * dx + dy * dy
                if squared > 0:
                    push = 2 * b / ((0.001 + squared) * (a * squared**b + 1))
                    x, y = x + clip(push * dx) * rate, y + clip(push * dy) * rate
            next_negative[edge] += negatives * epochs_per_negative[edge]
    return x, y


# On disk, beside the version.


def cached_features(
    model: keras.Model,
    layer_name: str,
    images: np.ndarray,
    folder: str | os.PathLike,
    model_sha256: str,
    model_file: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """`features`, kept in `folder` (as float16: half the disk; the map does not need more);
    computed in a child process in the background when the model's file is given (`features_apart`),
    telling `progress` how far it is."""
    path = Path(folder) / f"features-{model_sha256[:16]}-{layer_name}-{array_digest(images)}.npz"

    def compute() -> dict[str, np.ndarray]:
        if model_file is None:
            values = features(model, layer_name, images, progress)
        else:
            values = features_apart(model_file, layer_name, images, progress)
        return {"features": values.astype(np.float16)}

    return kept_or_computed(path, {"features"}, compute)["features"].astype(np.float32)


def cached_projection(
    values: np.ndarray,
    method: str,
    folder: str | os.PathLike,
    key: str,
    progress: Callable[[float], None] | None = None,
    compute: Callable[..., dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """`project` (or `compute`, such as `model.analysis.layout.project_apart`), kept in `folder` under `key`
    (the model, layer and images it came from)."""
    stored = kept_projection(len(values), method, folder, key)
    if stored is not None:
        return stored
    projection = (compute or project)(values, method, progress)
    write_arrays(_projection_path(method, folder, key), projection)
    return projection


def _projection_path(method: str, folder: str | os.PathLike, key: str) -> Path:
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    return Path(folder) / f"map-{key}-{method.replace('-', '').lower()}.npz"


def kept_projection(count: int, method: str, folder: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """The map of `count` points that `cached_projection` kept in `folder` under `key`, or None."""
    stored = read_arrays(_projection_path(method, folder, key))
    # A UMAP map kept before placing used its curve ("a", "b") is made again.
    needed = {"points", "a", "b"} if method == "UMAP" else {"points"}
    if stored is not None and needed <= stored.keys() and len(stored["points"]) == count:
        return stored
    return None
