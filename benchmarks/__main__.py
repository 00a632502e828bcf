"""Measures the speed and accuracy users feel, on this machine.

    python -m benchmarks            # the full run: up to 40 minutes on 2 cores (the original recipe's 30 epochs)
    python -m benchmarks --quick    # a short version, seconds, for the test suite
    python -m benchmarks --app      # the app's figures only (cold start, strokes, 30 visitors), merged in
    python -m benchmarks --inspection   # the Feature maps page's figures only, merged in
    python -m benchmarks --map          # the Digit map page's figures only, merged in
    python -m benchmarks --robustness   # the Robustness page's figures only, merged in
    python -m benchmarks --my-digits    # the My digits page's reruns with 1,000 digits only, merged in
    python -m benchmarks --fast         # the fast preset over 5 seeds only, merged in
    python -m benchmarks --strong       # the strong preset over 3 seeds only (about 30 minutes), merged in
    python -m benchmarks --training     # every training figure, in one run (about 45 minutes), merged in

Prints a table and writes `benchmarks/results.json` (or `--out`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import streamlit

from benchmarks import digit_map, draw_latency, inspection, load, my_digits, not_digits, robustness
from benchmarks.drawn_digits import drawn_accuracy, render_drawn
from benchmarks.server import BROWSER_ARGS, CHROMIUM, streamlit_server
from benchmarks.timing import call_times
from model.analysis.attributions import grad_cam
from model.analysis.evaluation import evaluate
from model.analysis.inspection import feature_maps
from model.runtime.inference import Predictor
from model.runtime.preprocess import preprocess_digit
from model.store.files import read_json, write_json
from model.store.mnist import load_mnist
from model.store.registry import default_version
from model.store.storage import load_model
from training.callbacks import TestAccuracy
from training.config import PRESETS, preset, preset_settings
from training.train import library_versions, train

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
        lambda: predictor.probabilities_one(model_input), calls
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


def training_throughput(data, presets: list[str], images: int) -> dict:
    """Images per second of each preset's training step, timed over a second epoch of `images` images."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    results = {}
    for name in presets:
        timer = EpochTimer()
        config = preset(name).replace(epochs=2, train_size=images, validation_split=0.0)
        train(config, data, [timer])
        results[name] = images / timer.seconds
    return results


def over_seeds(data, name: str, seeds: int, **changes) -> dict:
    """A preset trained with several seeds: its training seconds and final test accuracy (mean,
    standard deviation, lowest). For `fast`, whose one epoch is the whole run, its time to 99.0%
    is its training time when the mean reaches it."""
    accuracies, seconds = [], []
    for seed in range(seeds):
        _, metadata = train(preset(name).replace(seed=seed, **changes), data)
        accuracies.append(metadata.test_accuracy)
        seconds.append(metadata.training_seconds)
        print(f"{name} seed {seed}: {metadata.test_accuracy:.2%} in {metadata.training_seconds:.0f} s", flush=True)
    mean = float(np.mean(accuracies))
    results = {
        f"{name}_seeds": seeds,
        f"{name}_test_accuracy": mean,
        f"{name}_test_accuracy_std": float(np.std(accuracies)),
        f"{name}_test_accuracy_min": float(np.min(accuracies)),
        f"{name}_seconds": float(np.mean(seconds)),
        f"{name}_seconds_std": float(np.std(seconds)),
        # The settings measured, so that the page shows these figures only for this recipe.
        f"{name}_settings": preset_settings(preset(name).replace(**changes)),
    }
    if name == "fast":
        results["fast_seconds_to_99_0"] = float(np.mean(seconds)) if mean >= 0.99 else None
    return results


def fast_preset(data, seeds: int) -> dict:
    return over_seeds(data, "fast", seeds)


def training_figures(data, original_epochs: int, strong_seeds: int = 3) -> dict:
    """Every training figure in one run: each preset's throughput, `fast` over 5 seeds, `strong`
    over `strong_seeds`, and the times to 99.0% and 99.4% of `quick` and of the original recipe
    (the ratio original / fast of the times to 99.0% among them)."""
    results = {"training_measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    results["train_images_per_s"] = training_throughput(data, list(PRESETS), images=12800)
    results.update(over_seeds(data, "fast", 5))
    if strong_seeds:
        results.update(over_seeds(data, "strong", strong_seeds))
    results.update(seconds_to_accuracy(data, "quick", (0.99, 0.994)))
    results.update(seconds_to_accuracy(data, "original", (0.99, 0.994), epochs=original_epochs))
    # The standard recipe takes hours here; its time is estimated from its measured throughput.
    standard = preset("standard")
    results["standard_estimated_minutes"] = standard.epochs * 60000 / results["train_images_per_s"]["standard"] / 60
    if results.get("fast_seconds_to_99_0") and results.get("original_seconds_to_99_0"):
        results["original_to_fast_ratio_99_0"] = results["original_seconds_to_99_0"] / results["fast_seconds_to_99_0"]
    return results


def seconds_to_accuracy(data, name: str, thresholds: tuple[float, ...], **changes) -> dict:
    """Trains a preset, evaluating the test set after each epoch; training seconds until each threshold.

    Stops once the highest threshold is reached (`changes` can cap the epochs). Test
    evaluation time is not counted.
    """
    test_callback = TestAccuracy(*data[1])

    class TrainingClock(keras.callbacks.Callback):
        """Training time only: the clock runs during epochs, not during test evaluations."""

        def on_train_begin(self, logs=None):
            self.total, self.marks = 0.0, []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.total += time.perf_counter() - self.start
            self.marks.append(self.total)

    class StopWhenReached(keras.callbacks.Callback):
        """Records each epoch's test accuracy (from the test callback's logs) and stops at the highest threshold."""

        def on_train_begin(self, logs=None):
            self.accuracies = []

        def on_epoch_end(self, epoch, logs=None):
            self.accuracies.append(logs["test_accuracy"])
            if self.accuracies[-1] >= max(thresholds):
                self.model.stop_training = True

    clock, stop = TrainingClock(), StopWhenReached()
    config = preset(name).replace(**changes)
    # The clock stops before the test evaluation starts; the stop check comes last.
    train(config, data, [clock, test_callback, stop])
    history = list(zip(clock.marks, stop.accuracies))
    reached = {}
    for threshold in thresholds:
        hit = next((seconds for seconds, accuracy in history if accuracy >= threshold), None)
        reached[f"{name}_seconds_to_{threshold * 100:.1f}".replace(".", "_")] = hit
    reached[f"{name}_epochs_run"] = len(history)
    reached[f"{name}_final_test_accuracy"] = history[-1][1] if history else None
    return reached


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


def table(results: dict) -> str:
    rows = [
        ("inference p50 / p95 (ms)", "inference_p50_ms", "inference_p95_ms"),
        ("model.predict p50 / p95 (ms)", "predict_p50_ms", "predict_p95_ms"),
        ("preprocessing p50 / p95 (ms)", "preprocess_p50_ms", "preprocess_p95_ms"),
        ("feature maps p50 / p95 (ms)", "feature_maps_p50_ms", "feature_maps_p95_ms"),
        ("Grad-CAM p50 / p95 (ms)", "grad_cam_p50_ms", "grad_cam_p95_ms"),
    ]
    lines = [f"| {label} | {results[a]:.2f} / {results[b]:.2f} |" for label, a, b in rows]
    lines.append(f"| predict / inference (p50) | {results['predict_to_inference_ratio']:.0f}x |")
    lines.append(
        f"| evaluation ({results['eval_images']:,} images) | {results['eval_images_per_s']:,.0f} images/s "
        f"({results['eval_seconds']:.2f} s) |"
    )
    lines += training_table(results)
    lines.append(
        f"| drawn digits, preprocessed / naive ({results['drawn_count']:,}) | "
        f"{results['drawn_preprocessed_accuracy']:.2%} / {results['drawn_naive_accuracy']:.2%} |"
    )
    lines += inspection_table(results)
    lines += map_table(results)
    lines += robustness_table(results)
    lines += my_digits_table(results)
    lines += app_table(results)
    return "\n".join(["| measure | value |", "| --- | --- |", *lines])


def training_table(results: dict) -> list[str]:
    """The table's training rows."""
    lines = [f"| training `{name}` | {speed:,.0f} images/s |" for name, speed in results["train_images_per_s"].items()]
    for name in ("fast", "strong"):
        if results.get(f"{name}_test_accuracy") is not None:
            lines.append(
                f"| `{name}` preset: test accuracy, training time ({results[f'{name}_seeds']} seeds) | "
                f"{results[f'{name}_test_accuracy']:.2%} ± {results[f'{name}_test_accuracy_std'] * 100:.2f}, "
                f"{results[f'{name}_seconds']:.1f} ± {results[f'{name}_seconds_std']:.1f} s |"
            )
    for key in sorted(k for k in results if "_seconds_to_" in k):
        value = results[key]
        lines.append(f"| {key} | {'not reached' if value is None else f'{value:.1f} s'} |")
    if results.get("original_to_fast_ratio_99_0") is not None:
        lines.append(f"| time to 99.0%, original / fast | {results['original_to_fast_ratio_99_0']:.0f}x |")
    for name in ("quick", "original"):
        if results.get(f"{name}_final_test_accuracy") is not None:
            lines.append(
                f"| `{name}` test accuracy after {results[f'{name}_epochs_run']} epochs | "
                f"{results[f'{name}_final_test_accuracy']:.2%} |"
            )
    if results.get("standard_estimated_minutes") is not None:
        lines.append(
            f"| `standard` (70 epochs), estimated from its throughput | "
            f"{results['standard_estimated_minutes']:.0f} min |"
        )
    return lines


def inspection_table(results: dict) -> list[str]:
    """The table's rows of `benchmarks.inspection`."""
    rows = [
        ("SmoothGrad p90", "smoothgrad_p90_ms"),
        ("integrated gradients (32 steps) p90", "integrated_gradients_p90_ms"),
        ("occlusion p90", "occlusion_p90_ms"),
        ("one unit's arithmetic (explain_unit) p90", "explain_unit_p90_ms"),
    ]
    lines = [f"| {label} | {results[key]:.1f} ms |" for label, key in rows]
    lines.append(
        f"| top patches of every channel ({results['channel_top_patches_images']:,} test images) | "
        f"{results['channel_top_patches_seconds']:.1f} s |"
    )
    return lines


def map_table(results: dict) -> list[str]:
    """The table's rows of `benchmarks.digit_map`."""
    lines = []
    for method in ("PCA", "UMAP", "t-SNE"):
        seconds = results.get(f"map_{method.replace('-', '').lower()}_seconds")
        shown = "not measured" if seconds is None else f"{seconds:.1f} s"
        lines.append(
            f"| digit map, {method} of {results['map_points']:,} test digits ({results['map_layer']}) | {shown} |"
        )
    lines.append(
        f"| nearest 10 of {results['neighbours_bank']:,} digits, p90 | {results['neighbours_p90_ms']:.1f} ms |"
    )
    if results.get("umap_place_p90_ms") is not None:
        lines.append(f"| placing a new digit with UMAP's transform, p90 | {results['umap_place_p90_ms']:.1f} ms |")
    return lines


def my_digits_table(results: dict) -> list[str]:
    """The table's rows of `benchmarks.my_digits`."""
    return [
        f"| My digits page with {results['my_digits_count']:,} digits: first run / rerun p50 | "
        f"{results['my_digits_first_run_s']:.1f} s / {results['my_digits_rerun_p50_ms']:.0f} ms |",
        *(
            f"| A public visitor's session at its budget, {results[f'{prefix}_count']:,} digits "
            f"{'with' if 'drawn' in prefix else 'without'} drawings ({results[f'{prefix}_mb']:.1f} MB): "
            f"rerun p50 / max | {results[f'{prefix}_rerun_p50_ms']:.0f} ms / "
            f"{results[f'{prefix}_rerun_max_ms']:.0f} ms |"
            for prefix in ("my_digits_session", "my_digits_session_drawn")
            if f"{prefix}_count" in results
        ),
    ]


def robustness_table(results: dict) -> list[str]:
    """The table's rows of `benchmarks.robustness`."""
    return [
        f"| robustness curves, all six for one digit, p90 | {results['sweep_seconds'] * 1000:.0f} ms |",
        f"| smallest FGSM / PGD perturbation, p90 | {results['adversarial_fgsm_p90_ms']:.0f} / "
        f"{results['adversarial_pgd_p90_ms']:.0f} ms |",
    ]


def app_table(results: dict) -> list[str]:
    """The table's rows of `app_figures`."""
    cold = results.get("cold_start_s")
    lines = [f"| app cold start | {'not measured' if cold is None else f'{cold:.1f} s'} |"]
    if results.get("draw_roundtrip_p50_ms") is not None:
        lines.append(
            f"| pen-up to prediction, browser, p50 / p95 ({results['draw_roundtrip_strokes']} strokes) | "
            f"{results['draw_roundtrip_p50_ms']:.0f} / {results['draw_roundtrip_p95_ms']:.0f} ms |"
        )
        if results.get("draw_server_p50_ms") is not None:
            lines.append(
                f"| of which the canvas's wait, p50 / the server, p50, p95 / the page, p50 | "
                f"{results['draw_component_wait_ms']:.0f} / {results['draw_server_p50_ms']:.0f}, "
                f"{results['draw_server_p95_ms']:.0f} / {results['draw_page_p50_ms']:.0f} ms |"
            )
        lines.append(f"| pen-up to prediction, first stroke | {results['draw_first_stroke_ms']:.0f} ms |")
    if results.get("draw_server_alone_p50_ms") is not None:
        lines.append(
            "| the server's part alone (one visitor through the websocket protocol, no browser), p50 / p95 | "
            f"{results['draw_server_alone_p50_ms']:.0f} / {results['draw_server_alone_p95_ms']:.0f} ms |"
        )
    for key in sorted(k for k in results if k.startswith("load_") and k.endswith("_p50_ms")):
        prefix = key.removesuffix("_p50_ms")
        visitors = prefix.removeprefix("load_")
        lines.append(
            f"| {visitors} visitors, a stroke every 3 s: p50 / p95, errors, server memory "
            f"({results[prefix + '_strokes']} strokes) | {results[key]:.0f} / {results[prefix + '_p95_ms']:.0f} ms, "
            f"{results[prefix + '_errors']}, {results[prefix + '_rss_mb']:.0f} MB |"
        )
    return lines


def hostile_figures() -> dict:
    """`benchmarks.load.run_hostile`: 35 visitors drawing in public mode while a training run
    trains, the operator computes a UMAP map and one visitor attacks (issue 29's items 1-3)."""
    measured = load.run_hostile()
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


def hostile_table(results: dict) -> list[str]:
    """The table's rows of `hostile_figures`."""
    if results.get("hostile_load_p95_ms") is None:
        return []
    return [
        f"| {results['hostile_load_visitors']} visitors drawing in public mode, with a training run, the operator's "
        "UMAP map and one hostile visitor: p50 / p95, errors, server memory "
        f"({results['hostile_load_strokes']} strokes) | {results['hostile_load_p50_ms']:.0f} / "
        f"{results['hostile_load_p95_ms']:.0f} ms, {results['hostile_load_errors']}, "
        f"{results['hostile_load_rss_mb']:.0f} MB |",
        f"| meanwhile, the hostile visitor's 60,000-value sweep pastes / Keeps (refused past the budget) / map "
        f"requests (refused) | {results['hostile_sweep_floods']} ({results['hostile_sweep_flood_p50_ms']:.0f} ms "
        f"each) / {results['hostile_keeps']} ({results['hostile_keeps_refused']}) / "
        f"{results['hostile_map_requests']} ({results['hostile_maps_refused']}) |",
        f"| the operator's UMAP map of the 10,000 test digits, meanwhile | {results['hostile_operator_map_s']:.0f} s |",
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="a short version: seconds, not minutes")
    parser.add_argument(
        "--original-epochs",
        type=int,
        default=30,
        help="at most this many epochs of the original recipe (its own is 30)",
    )
    parser.add_argument("--app", action="store_true", help="only the app's figures, merged into the results file")
    parser.add_argument(
        "--inspection", action="store_true", help="only the Feature maps page's figures, merged into the results file"
    )
    parser.add_argument(
        "--fast", action="store_true", help="only the fast preset over 5 seeds, merged into the results file"
    )
    parser.add_argument(
        "--map", action="store_true", help="only the Digit map page's figures, merged into the results file"
    )
    parser.add_argument(
        "--strong", action="store_true", help="only the strong preset over --strong-seeds seeds, merged in"
    )
    parser.add_argument(
        "--strong-seeds", type=int, default=3, help="seeds of the strong preset (about 10 minutes each; 0 skips it)"
    )
    parser.add_argument(
        "--robustness", action="store_true", help="only the Robustness page's figures, merged into the results file"
    )
    parser.add_argument(
        "--my-digits", action="store_true", help="only the My digits page's figures, merged into the results file"
    )
    parser.add_argument(
        "--training", action="store_true", help="only the training figures (every preset), merged into the results file"
    )
    parser.add_argument(
        "--hostile", action="store_true", help="only the hostile-visitor load (about 3 minutes), merged in"
    )
    parser.add_argument(
        "--not-digits", action="store_true", help="only the check for inputs unlike any digit, merged into the results"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.hostile:
        results = {**(read_json(args.out) if args.out.exists() else {}), **hostile_figures()}
        print("\n".join(["| measure | value |", "| --- | --- |", *hostile_table(results)]))
        write_json(results, args.out)
        return results
    if args.app:
        results = {**(read_json(args.out) if args.out.exists() else {}), **app_figures(args.quick)}
        print("\n".join(["| measure | value |", "| --- | --- |", *app_table(results)]))
        write_json(results, args.out)
        return results
    if args.fast or args.strong:
        data = load_mnist()
        measured = fast_preset(data, seeds=1 if args.quick else 5) if args.fast else {}
        if args.strong:
            measured.update(over_seeds(data, "strong", args.strong_seeds))
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(f"| {key} | {value} |" for key, value in measured.items()))
        write_json(results, args.out)
        return results
    if args.not_digits:
        measured = not_digits.run(load_model(default_version().model_file), load_mnist())
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *not_digits.table(results)]))
        write_json(results, args.out)
        return results
    if args.robustness:
        _, (x_test, _) = load_mnist()
        measured = robustness.run(load_model(default_version().model_file), x_test, 5 if args.quick else 50)
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *robustness_table(results)]))
        write_json(results, args.out)
        return results
    if args.my_digits:
        _, (x_test, y_test) = load_mnist()
        measured = my_digits.measure(x_test, y_test, args.quick)
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *my_digits_table(results)]))
        write_json(results, args.out)
        return results
    if args.training:
        measured = training_figures(load_mnist(), args.original_epochs, args.strong_seeds)
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *training_table(results)]))
        write_json(results, args.out)
        return results
    if args.map:
        measured = digit_map.run(load_model(default_version().model_file), load_mnist(), args.quick)
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *map_table(results)]))
        write_json(results, args.out)
        return results
    if args.inspection:
        _, (x_test, y_test) = load_mnist()
        measured = inspection.run(load_model(default_version().model_file), x_test, y_test, 5 if args.quick else 50)
        results = {**(read_json(args.out) if args.out.exists() else {}), **measured}
        print("\n".join(["| measure | value |", "| --- | --- |", *inspection_table(results)]))
        write_json(results, args.out)
        return results
    results = run(args.quick, args.original_epochs)
    print(table(results))
    print(f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores")
    write_json(results, args.out)
    return results


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
