"""The results as Markdown: each suite's rows, the table `python -m benchmarks` prints, and
`docs/performance.md` (`python -m benchmarks --report`), written from `results.json` alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import not_digits, scale
from model.store.files import atomic_write

PERFORMANCE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def markdown(rows: list[str]) -> str:
    return "\n".join(["| measure | value |", "| --- | --- |", *rows])


def latency_table(results: dict) -> list[str]:
    """One digit through preprocessing, the model and the Feature maps page's computations."""
    rows = [
        ("inference p50 / p95 (ms)", "inference_p50_ms", "inference_p95_ms"),
        ("model.predict p50 / p95 (ms)", "predict_p50_ms", "predict_p95_ms"),
        ("preprocessing p50 / p95 (ms)", "preprocess_p50_ms", "preprocess_p95_ms"),
        ("feature maps p50 / p95 (ms)", "feature_maps_p50_ms", "feature_maps_p95_ms"),
        ("Grad-CAM p50 / p95 (ms)", "grad_cam_p50_ms", "grad_cam_p95_ms"),
    ]
    lines = [f"| {label} | {results[a]:.2f} / {results[b]:.2f} |" for label, a, b in rows if a in results]
    if "predict_to_inference_ratio" in results:
        lines.append(f"| predict / inference (p50) | {results['predict_to_inference_ratio']:.0f}x |")
    if "eval_images" in results:
        lines.append(
            f"| evaluation ({results['eval_images']:,} images) | {results['eval_images_per_s']:,.0f} images/s "
            f"({results['eval_seconds']:.2f} s) |"
        )
    if "drawn_count" in results:
        lines.append(
            f"| drawn digits, preprocessed / naive ({results['drawn_count']:,}) | "
            f"{results['drawn_preprocessed_accuracy']:.2%} / {results['drawn_naive_accuracy']:.2%} |"
        )
    return lines


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
    if "cold_start_s" not in results:
        return []
    cold = results["cold_start_s"]
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


def snapshots_table(results: dict) -> list[str]:
    """What recording a run's snapshots costs, by preset; and a frame of their replay."""
    rows = []
    for name in ("fast", "strong"):
        if f"snapshot_overhead_{name}_pct" not in results:
            continue
        live = results.get(f"snapshot_live_{name}_frames")
        inside = results.get(f"snapshot_inside_{name}_seconds")
        training = results[f"snapshot_{name}_training_seconds"]
        rows.append(
            f"| {name}: training time spent recording snapshots, over {training:.1f} s of training "
            f"| {results[f'snapshot_overhead_{name}_pct']:.1f}%"
            + (f" ({inside:.2f} s" if inside is not None else " (")
            + f"; {results[f'snapshot_{name}_frames']} snapshots"
            + (f", {live} of them computed live during the run" if live is not None else "")
            + ") |"
        )
        if f"snapshot_wall_{name}_pct" in results:
            rows.append(
                f"| {name}: the fastest training with snapshots against the fastest without "
                f"| {results[f'snapshot_wall_{name}_pct']:+.1f}% |"
            )
        rows.append(
            f"| {name}: the other snapshots' forward passes, after the run | "
            f"{results[f'snapshot_after_{name}_seconds']:.1f} s |"
        )
        if f"snapshot_job_{name}_pct" in results:
            rows.append(
                f"| {name}: the whole job's extra time (recording and the passes after) "
                f"| {results[f'snapshot_job_{name}_pct']:+.1f}% |"
            )
    if "replay_frame_p90_ms" in results:
        rows.append(
            f"| How it learned: a slider move, server side ({results['replay_frames']} frames of a `fast` run, "
            f"twice) | p50 {results['replay_frame_p50_ms']:.0f} ms, p90 {results['replay_frame_p90_ms']:.0f} ms |"
        )
    return rows


def table(results: dict) -> str:
    """Every suite's rows, as `python -m benchmarks` prints them after a full run."""
    return markdown([row for section in SECTIONS for row in section.rows(results)])


@dataclass(frozen=True)
class Section:
    """A part of docs/performance.md: a title, how it is measured, and its rows."""

    title: str
    how: str
    rows: Callable[[dict], list[str]]
    # The key that dates the section, when it was measured apart from the full run.
    dated_by: str = "measured"


SECTIONS = (
    Section(
        "Drawing and inference",
        'One digit, over 300 calls after warm-up (`python -m benchmarks`). "drawn digits" are the 10,000 test '
        "digits re-drawn large, off-centre, with thicker and thinner strokes on a 280x280 canvas "
        "(`benchmarks/drawn_digits.py`), classified after the app's preprocessing and after the naive "
        "whole-canvas resize.",
        latency_table,
    ),
    Section(
        "Training",
        "`python -m benchmarks --training` (`--fast`, `--strong` for one preset). Throughput is timed over a "
        "second epoch of 12,800 images; times to an accuracy exclude the test evaluation after each epoch. "
        "Training throughput on these shared machines varies by about a third from one run to the next.",
        training_table,
        "training_measured",
    ),
    Section(
        "Feature maps",
        "`python -m benchmarks --inspection`: one digit after warm-up, and every channel's top patches over the "
        "test set.",
        inspection_table,
    ),
    Section(
        "Digit map",
        "`python -m benchmarks --map`. Each map is computed once per model version and layer and kept beside the "
        "version, as are the 70,000 digits' features: a restart or a second visitor reuses them.",
        map_table,
    ),
    Section(
        "Training snapshots",
        "`python -m benchmarks --snapshots`: each preset trained without and with the snapshot recorder "
        "(live frames on, as in a job from the Retrain page), alternately. The recording's cost is the time "
        "training spent inside the recorder, as training times alone vary by 10-20% from run to run here; "
        "the fastest runs with and without are compared too, but over 3 runs that comparison is mostly noise "
        "(a check of `fast` with 6 runs each way, on 2026-12-05: medians 1.7% apart, fastest 0.6%).",
        snapshots_table,
        "snapshots_measured",
    ),
    Section("Robustness", "`python -m benchmarks --robustness`, over 50 test digits.", robustness_table),
    Section(
        "My digits",
        "`python -m benchmarks --my-digits`: 1,000 test digits kept as your own, the page opened and rerun 10 "
        "times through Streamlit's AppTest; then a public visitor's session filled to its budget.",
        my_digits_table,
    ),
    Section(
        "The app",
        "`python -m benchmarks --app`: the cold start; strokes in headless Chromium (`benchmarks/draw_latency.py`, "
        "from the mouse button's release until the page shows the new network input), each split into "
        "streamlit-drawable-canvas's wait (it sends a drawing 200 ms after the pen lifts), the server and the "
        "page; then visitors speaking Streamlit's websocket protocol with no browser (`benchmarks/load.py`: each "
        "sends what the canvas sends every 3 s). These figures vary by about 30 ms from one run to the next.",
        app_table,
        "app_measured",
    ),
    Section(
        "Hostile visitors",
        "`python -m benchmarks --hostile`, as `deploy/config.toml` runs a class; docs/hostile-visitors.md says what "
        "the hostile visitor does and lists every run.",
        hostile_table,
    ),
    Section(
        "Beyond one server",
        "`python -m benchmarks --scale`: the class of `benchmarks/load.py` (a stroke every 3 s for 30 s) "
        "through nginx in front of one replica and of three (`deploy/local.py`, each replica with "
        "`deploy/config.toml`'s settings), and one replica kept busy without the proxy, each from when "
        "the replicas' digit check is ready (a fresh server fits it in its first minute). docs/scaling.md "
        "reads these figures and plans larger classes from them.",
        scale.table,
        "scale_measured",
    ),
    Section(
        "Not a digit",
        "`python -m benchmarks --not-digits`: the check of `model/analysis/novelty.py` on the shipped model; "
        "docs/not-a-digit.md explains it and the alternatives measured.",
        not_digits.table,
    ),
)


def performance_page(results: dict) -> str:
    """docs/performance.md: the machine and date once, then each measured section."""
    machine = results.get("machine", {})
    versions = ", ".join(f"{name} {version}" for name, version in results.get("versions", {}).items())
    lines = [
        "# Performance",
        "",
        "Written by `python -m benchmarks --report` from `benchmarks/results.json`; do not edit by hand.",
        "",
        f"Measured on {machine.get('cpu', 'an unknown CPU')} with {machine.get('cores', '?')} cores and no GPU "
        f"({machine.get('platform', 'platform not recorded')})"
        + (f", {versions}" if versions else "")
        + f"; the full run on {_day(results.get('measured'))}, later suites on the dates their sections give.",
    ]
    for section in SECTIONS:
        try:
            rows = section.rows(results)
        except (KeyError, TypeError):
            rows = []
        if not rows:
            continue
        dated = f" ({_day(results.get(section.dated_by))})" if section.dated_by != "measured" else ""
        lines += ["", f"## {section.title}{dated}", "", section.how, "", markdown(rows)]
    return "\n".join(lines) + "\n"


def _day(stamp: str | None) -> str:
    return stamp[:10] if stamp else "an unknown date"


def write_report(results: dict, path: Path = PERFORMANCE) -> Path:
    atomic_write(path, lambda temporary: Path(temporary).write_text(performance_page(results)))
    return path
