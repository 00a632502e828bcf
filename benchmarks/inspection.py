"""The Feature maps page's computations, timed on one digit after warm-up (milliseconds, p90),
and the search for every channel's top test patches (seconds, all layers, the test set)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.timing import call_times
from model.analysis.attributions import integrated_gradients, occlusion, smooth_grad
from model.analysis.channels import top_patches
from model.analysis.unit import explain_unit
from model.runtime.preprocess import from_uint8


def p90_ms(function, calls: int) -> float:
    return float(np.percentile(call_times(function, calls), 90))


def run(model, x_test: np.ndarray, y_test: np.ndarray, calls: int) -> dict:
    image, label = from_uint8(x_test[0]), int(y_test[0])
    rng = np.random.default_rng(0)
    # A different unit each call: conv2 (32 input channels), conv4 (32 x 3 x 3 windows of 64), pool2.
    units = [("conv2", 12, 12, 5), ("conv4", 3, 4, 9), ("pool2", 1, 2, 7)]
    results = {
        "smoothgrad_p90_ms": p90_ms(lambda: smooth_grad(model, image, label), calls),
        "integrated_gradients_p90_ms": p90_ms(lambda: integrated_gradients(model, image, label), calls),
        "occlusion_p90_ms": p90_ms(lambda: occlusion(model, image, label), calls),
        "explain_unit_p90_ms": p90_ms(
            lambda: explain_unit(model, image, *units[int(rng.integers(len(units)))]), calls * 3
        ),
    }
    top_patches(model, x_test[:1000])  # Warm-up: tracing.
    start = time.perf_counter()
    top_patches(model, x_test)
    results["channel_top_patches_seconds"] = time.perf_counter() - start
    results["channel_top_patches_images"] = int(len(x_test))
    return results
