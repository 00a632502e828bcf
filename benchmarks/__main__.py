"""Measures the speed and accuracy users feel, on this machine.

    python -m benchmarks            # the full run: up to 40 minutes on 2 cores (the original recipe's 30 epochs)
    python -m benchmarks --quick    # a short version, seconds, for the test suite
    python -m benchmarks --app      # one suite only (see --help), merged into the results
    python -m benchmarks --report   # docs/performance.md, written from the results

Prints a table and writes `benchmarks/results.json` (or `--out`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit

from benchmarks import (
    digit_map,
    draw_latency,
    hostile,
    inspection,
    load,
    my_digits,
    not_digits,
    replay,
    report,
    robustness,
    scale,
)
from benchmarks.drawn_digits import drawn_accuracy, render_drawn
from benchmarks.server import BROWSER_ARGS, CHROMIUM, streamlit_server
from benchmarks.timing import call_times
from benchmarks.training_figures import (
    over_seeds,
    seconds_to_accuracy,
    snapshot_overhead,
    training_figures,
    training_throughput,
)
from model.analysis.attributions import grad_cam
from model.analysis.evaluation import evaluate
from model.analysis.inspection import feature_maps
from model.runtime.inference import Predictor
from model.runtime.preprocess import preprocess_digit
from model.store.files import read_json, write_json
from model.store.mnist import load_mnist
from model.store.registry import default_version
from model.store.storage import load_model
from training.train import library_versions

RESULTS = Path(__file__).resolve().parent / "results.json"


def percentiles(function, calls: int, warmup: int = 5) -> tuple[float, float]:
    """(p50, p95) of one call's wall time in milliseconds, after warm-up calls."""
    times = call_times(function, calls, warmup)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def latency(predictor, canvas: np.ndarray, calls: int) -> dict:
    """Single-image latency: preprocessing, the app's inference object, and model.predict() on the same input."""
    model_input = preprocess_digit(canvas).model_input
    model = predictor.model
    batch = model_input[None, :, :, None]
    results = {}
    results["preprocess_p50_ms"], results["preprocess_p95_ms"] = percentiles(lambda: preprocess_digit(canvas), calls)
    results["inference_p50_ms"], results["inference_p95_ms"] = percentiles(
        lambda: predictor.probabilities_of_image(model_input), calls
    )
    results["predict_p50_ms"], results["predict_p95_ms"] = percentiles(lambda: model.predict(batch, verbose=0), calls)
    results["predict_to_inference_ratio"] = results["predict_p50_ms"] / results["inference_p50_ms"]
    results["feature_maps_p50_ms"], results["feature_maps_p95_ms"] = percentiles(
        lambda: feature_maps(model, model_input), calls
    )
    results["grad_cam_p50_ms"], results["grad_cam_p95_ms"] = percentiles(lambda: grad_cam(model, model_input, 7), calls)
    return results


def evaluation_speed(predictor, x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    evaluate(predictor, x[:256], y[:256])
    best = min(_timed(lambda: evaluate(predictor, x, y)) for _ in range(repeats))
    return {"eval_images": int(len(x)), "eval_seconds": best, "eval_images_per_s": len(x) / best}


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def cold_start(timeout: float = 180.0) -> float | None:
    """Seconds from `streamlit run app.py` until the home page shows the loaded model in a browser."""
    if not CHROMIUM.exists():
        return None
    try:
        # Optional: the browser driver comes with the development requirements only.
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    start = time.perf_counter()
    with streamlit_server(timeout=timeout) as url, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(url, timeout=timeout * 1000)
            page.locator('[data-testid="stMetric"]', has_text="Test accuracy").wait_for(timeout=timeout * 1000)
            return time.perf_counter() - start
        finally:
            browser.close()


def app_figures(quick: bool) -> dict:
    """The app as visitors feel it: cold start, stroke to prediction in a browser, a class of visitors at once."""
    results = {
        "app_measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cold_start_s": None if quick else cold_start(),
    }
    results.update(draw_latency.run(strokes=3 if quick else 30) or {})
    # The server's own part of a stroke, with no browser sharing the cores: one visitor
    # through the websocket protocol, a stroke a second.
    alone = load.run(1, 4.0 if quick else 30.0, every=1.0)
    results["draw_server_alone_p50_ms"], results["draw_server_alone_p95_ms"] = alone["p50_ms"], alone["p95_ms"]
    visitors, seconds = (2, 6.0) if quick else (30, 60.0)
    measured = load.run(visitors, seconds)
    results.update(
        {f"load_{visitors}_{key}": measured[key] for key in ("p50_ms", "p95_ms", "errors", "rss_mb", "strokes")}
    )
    return results


def hostile_figures() -> dict:
    """`benchmarks.hostile.run_hostile`: 35 visitors drawing in public mode while a training run
    trains, the operator computes a UMAP map and one visitor attacks (issue 29's items 1-3)."""
    measured = hostile.run_hostile()
    attacks = measured["hostile"]
    return {
        "hostile_load_visitors": measured["visitors"],
        "hostile_load_strokes": measured["strokes"],
        "hostile_load_p50_ms": measured["p50_ms"],
        "hostile_load_p95_ms": measured["p95_ms"],
        "hostile_load_errors": measured["errors"],
        "hostile_load_rss_mb": measured["rss_mb"],
        "hostile_load_first_stroke_p95_ms": measured.get("first_stroke_p95_ms"),
        "hostile_sweep_floods": attacks["sweep_floods"],
        "hostile_sweep_flood_p50_ms": (attacks["sweep_flood_p50_s"] or 0) * 1000,
        "hostile_keeps": attacks["keeps"],
        "hostile_keeps_refused": attacks["keeps_refused"],
        "hostile_digits_budget": attacks.get("digits_budget"),
        "hostile_map_requests": attacks["map_requests"],
        "hostile_maps_refused": attacks["maps_refused"],
        "hostile_operator_map_s": attacks.get("operator_map_s"),
        "hostile_training_ran": measured["training_still_running"],
    }


def run(quick: bool, original_epochs: int = 30) -> dict:
    data = load_mnist()
    (x_train, y_train), (x_test, y_test) = data
    predictor = Predictor(load_model(default_version().model_file))
    canvas = render_drawn(x_test[0], np.random.default_rng(0))
    results = {
        "quick": quick,
        "machine": machine(),
        "versions": {**library_versions(), "streamlit": streamlit.__version__},
        "measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    results.update(latency(predictor, canvas, calls=20 if quick else 300))
    results.update(inspection.run(predictor.model, x_test[:1000] if quick else x_test, y_test, 5 if quick else 50))
    results.update(
        digit_map.run(
            predictor.model,
            ((x_train[:2000], y_train[:2000]), (x_test[:1000], y_test[:1000])) if quick else data,
            quick,
        )
    )
    results.update(robustness.run(predictor.model, x_test, 5 if quick else 50))
    results.update(my_digits.measure(x_test, y_test, quick))
    results.update(
        evaluation_speed(
            predictor, x_test[:1000] if quick else x_test, y_test[:1000] if quick else y_test, repeats=1 if quick else 3
        )
    )
    count = 100 if quick else 10000
    results.update(
        {f"drawn_{key}": value for key, value in drawn_accuracy(predictor, x_test[:count], y_test[:count]).items()}
    )
    if quick:
        small = ((x_train[:512], y_train[:512]), (x_test[:200], y_test[:200]))
        results["train_images_per_s"] = training_throughput(small, ["quick"], images=256)
        results.update(seconds_to_accuracy(small, "quick", (0.99,), epochs=1, train_size=256))
        results["original_seconds_to_99_0"] = None
    else:
        results.update(training_figures(data, original_epochs))
    results.update(app_figures(quick))
    return results


def _shipped_model():
    return load_model(default_version().model_file)


@dataclass(frozen=True)
class Suite:
    """One part of the figures, measured alone with `--NAME` and merged into the results file."""

    name: str
    help: str
    measure: Callable[[argparse.Namespace], dict]
    rows: Callable[[dict], list[str]]


def _test_set():
    return load_mnist()[1]


SUITES = (
    Suite(
        "app",
        "the app's figures: cold start, strokes in a browser, visitors at once",
        lambda a: app_figures(a.quick),
        report.app_table,
    ),
    Suite(
        "inspection",
        "the Feature maps page's figures",
        lambda a: inspection.run(_shipped_model(), *_test_set(), 5 if a.quick else 50),
        report.inspection_table,
    ),
    Suite(
        "map",
        "the Digit map page's figures",
        lambda a: digit_map.run(_shipped_model(), load_mnist(), a.quick),
        report.map_table,
    ),
    Suite(
        "robustness",
        "the Robustness page's figures",
        lambda a: robustness.run(_shipped_model(), _test_set()[0], 5 if a.quick else 50),
        report.robustness_table,
    ),
    Suite(
        "my-digits",
        "the My digits page's reruns with 1,000 digits, and a public session at its budget",
        lambda a: my_digits.measure(*_test_set(), a.quick),
        report.my_digits_table,
    ),
    Suite(
        "fast",
        "the fast preset over 5 seeds",
        lambda a: over_seeds(load_mnist(), "fast", 1 if a.quick else 5),
        report.training_table,
    ),
    Suite(
        "strong",
        "the strong preset over --strong-seeds seeds (about 10 minutes each)",
        lambda a: over_seeds(load_mnist(), "strong", a.strong_seeds),
        report.training_table,
    ),
    Suite(
        "training",
        "every training figure, every preset (about 45 minutes)",
        lambda a: training_figures(load_mnist(), a.original_epochs, a.strong_seeds),
        report.training_table,
    ),
    Suite(
        "snapshots",
        "what recording snapshots costs the fast preset (and strong, about 20 minutes, with --strong-seeds), "
        "and a frame of their replay",
        lambda a: {
            # The quick run: a fifth of the images, once.
            **snapshot_overhead(load_mnist(), "fast", 1 if a.quick else 3, 12000 if a.quick else None),
            **(snapshot_overhead(load_mnist(), "strong", 1) if a.strong_seeds and not a.quick else {}),
            **replay.run(load_mnist(), 1 if a.quick else 2, 12000 if a.quick else None),
        },
        report.snapshots_table,
    ),
    Suite("hostile", "the hostile-visitor load (about 3 minutes)", lambda a: hostile_figures(), report.hostile_table),
    Suite(
        "scale",
        "the class load through the proxy with one replica and with three, and one replica's capacity "
        "(about 12 minutes)",
        lambda a: {
            "scale_measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **scale.run(a.quick),
        },
        scale.table,
    ),
    Suite(
        "not-digits",
        "the check for inputs unlike any digit",
        lambda a: not_digits.run(_shipped_model(), load_mnist()),
        not_digits.table,
    ),
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short version: seconds, not minutes")
    parser.add_argument(
        "--original-epochs",
        type=int,
        default=30,
        help="at most this many epochs of the original recipe (its own is 30)",
    )
    parser.add_argument(
        "--strong-seeds", type=int, default=3, help="seeds of the strong preset (about 10 minutes each; 0 skips it)"
    )
    only = parser.add_mutually_exclusive_group()
    for suite in SUITES:
        only.add_argument(f"--{suite.name}", action="store_true", help=f"only {suite.help}, merged into the results")
    only.add_argument("--report", action="store_true", help=f"write {report.PERFORMANCE.name} from the results only")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.report:
        results = read_json(args.out)
        print(f"Wrote {report.write_report(results)}")
        return results
    chosen = [suite for suite in SUITES if getattr(args, suite.name.replace("-", "_"))]
    if chosen:
        suite = chosen[0]
        results = {**(read_json(args.out) if args.out.exists() else {}), **suite.measure(args)}
        print(report.markdown(suite.rows(results)))
    else:
        results = run(args.quick, args.original_epochs)
        print(report.table(results))
        print(f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores")
    write_json(results, args.out)
    return results


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
