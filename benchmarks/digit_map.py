"""The Digit map page's computations: projecting the 10,000 test digits (seconds) and one
nearest-neighbour query among the 70,000 digits (milliseconds, p90)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.timing import call_times
from model.analysis.layout import project
from model.analysis.projection import NeighbourIndex, feature_layers, features, place


def run(model, data, quick: bool) -> dict:
    """PCA always; UMAP and t-SNE (tens of seconds, UMAP's including numba's compilation) unless quick."""
    (x_train, _), (x_test, _) = data
    layer = feature_layers(model)[-1]
    test = features(model, layer, x_test)
    results = {"map_layer": layer, "map_points": int(len(test)), "umap_place_p90_ms": None}
    for method in ("PCA", "UMAP", "t-SNE"):
        key = f"map_{method.replace('-', '').lower()}_seconds"
        if quick and method != "PCA":
            results[key] = None
            continue
        start = time.perf_counter()
        mapped = project(test, method)
        results[key] = time.perf_counter() - start
        if method == "UMAP":
            # Placing a new digit with UMAP's transform (model.analysis.projection.umap_place).
            test_index, new = NeighbourIndex(test), iter(features(model, layer, x_train[:60]))
            times = call_times(
                lambda mapped=mapped, new=new, test_index=test_index: place(mapped, next(new), test_index),
                calls=55,
                warmup=5,
            )
            results["umap_place_p90_ms"] = float(np.percentile(times, 90))
    index = NeighbourIndex(np.concatenate([features(model, layer, x_train), test]))
    queries = iter(features(model, layer, x_test[:60]))
    times = call_times(lambda: index.query(next(queries), 10), calls=55, warmup=5)
    results["neighbours_p90_ms"] = float(np.percentile(times, 90))
    results["neighbours_bank"] = int(len(index.bank))
    return results
