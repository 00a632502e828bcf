"""The Robustness page's computations: all six curves for one digit (seconds), and the smallest
FGSM and PGD perturbation (milliseconds, p90 over test digits), after warm-up."""

from __future__ import annotations

import numpy as np

from benchmarks.timing import call_times
from model.analysis.robustness import adversarial, robustness_sweep
from model.runtime.preprocess import from_uint8


def run(model, x_test: np.ndarray, digits: int) -> dict:
    images = iter([from_uint8(image) for image in x_test[: digits * 3 + 15]])
    sweep = call_times(lambda: robustness_sweep(model, next(images)), calls=digits, warmup=3)
    results = {"sweep_seconds": float(np.percentile(sweep, 90)) / 1000, "robustness_digits": digits}
    for method in ("FGSM", "PGD"):
        times = call_times(lambda method=method: adversarial(model, next(images), method), calls=digits, warmup=3)
        results[f"adversarial_{method.lower()}_p90_ms"] = float(np.percentile(times, 90))
    # The slower of the two, the figure the issue asks for.
    results["adversarial_p90_ms"] = max(results["adversarial_fgsm_p90_ms"], results["adversarial_pgd_p90_ms"])
    return results
