"""Runs `python -m benchmarks --quick`, so the benchmark code cannot rot (no timing is asserted)."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.slow

REQUIRED = [
    "inference_p50_ms",
    "inference_p95_ms",
    "predict_p50_ms",
    "feature_maps_p50_ms",
    "grad_cam_p50_ms",
    "eval_images_per_s",
    "train_images_per_s",
    "quick_seconds_to_99_0",
    "original_seconds_to_99_0",
    "cold_start_s",
    "smoothgrad_p90_ms",
    "integrated_gradients_p90_ms",
    "occlusion_p90_ms",
    "explain_unit_p90_ms",
    "channel_top_patches_seconds",
    "map_pca_seconds",
    "map_umap_seconds",
    "map_tsne_seconds",
    "neighbours_p90_ms",
    "sweep_seconds",
    "adversarial_p90_ms",
    "my_digits_rerun_p50_ms",
    "machine",
    "versions",
]


def test_quick_benchmark_writes_every_key(tmp_path, mnist_file, monkeypatch, capsys):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    out = tmp_path / "results.json"
    main(["--quick", "--out", str(out)])
    results = json.loads(out.read_text())
    assert set(REQUIRED) <= set(results)
    for key in (
        "inference_p50_ms",
        "predict_p50_ms",
        "feature_maps_p50_ms",
        "grad_cam_p50_ms",
        "eval_images_per_s",
        "smoothgrad_p90_ms",
        "explain_unit_p90_ms",
        "channel_top_patches_seconds",
    ):
        assert results[key] > 0, key
    assert results["inference_p95_ms"] >= results["inference_p50_ms"]
    assert results["train_images_per_s"]["quick"] > 0
    assert results["quick_epochs_run"] == 1
    assert 0.0 <= results["drawn_preprocessed_accuracy"] <= 1.0 and results["drawn_count"] == 100
    assert results["machine"]["cores"] >= 1 and "tensorflow" in results["versions"]
    # The app's figures: strokes in a real browser, and two visitors through the websocket protocol.
    assert results["draw_roundtrip_strokes"] == 3 and results["draw_roundtrip_p50_ms"] > 0
    # Each stroke split: the canvas's own wait (it sends 200 ms after the pen lifts), the server, the page.
    assert results["draw_component_wait_ms"] >= 150 and results["draw_server_p50_ms"] > 0
    parts = results["draw_component_wait_ms"] + results["draw_server_p50_ms"] + results["draw_page_p50_ms"]
    assert parts <= results["draw_roundtrip_p95_ms"] * 1.5
    assert 0 < results["draw_server_alone_p50_ms"] <= results["draw_server_alone_p95_ms"]
    assert results["load_2_strokes"] >= 2 and results["load_2_errors"] == 0 and results["load_2_p95_ms"] > 0
    assert results["load_2_rss_mb"] > 100
    assert results["channel_top_patches_images"] == 1000
    assert results["map_pca_seconds"] > 0 and results["neighbours_p90_ms"] > 0 and results["neighbours_bank"] == 3000
    assert results["sweep_seconds"] > 0 and results["adversarial_pgd_p90_ms"] > 0
    assert results["my_digits_count"] == 50 and results["my_digits_rerun_p50_ms"] > 0
    assert "| inference p50 / p95 (ms) |" in capsys.readouterr().out


def test_the_snapshot_benchmark_measures_recording_and_replay(tmp_path, mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    out = tmp_path / "results.json"
    main(["--snapshots", "--quick", "--strong-seeds", "0", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["snapshot_fast_frames"] >= 30 and results["snapshot_live_fast_frames"] >= 1
    assert results["snapshot_fast_training_seconds"] > 0 and results["snapshot_after_fast_seconds"] > 0
    assert results["snapshot_job_fast_pct"] > results["snapshot_overhead_fast_pct"] > 0
    assert results["snapshot_inside_fast_seconds"] > 0 and "snapshot_wall_fast_pct" in results
    assert results["replay_frames"] == results["snapshot_fast_frames"]
    assert 0 < results["replay_frame_p50_ms"] <= results["replay_frame_p90_ms"]
    assert "snapshot_overhead_strong_pct" not in results


def test_the_scale_benchmark_measures_a_replica_and_the_proxy(tmp_path, mnist_file, monkeypatch):
    """Issue 33, item 6: `--scale --quick`, two visitors through the proxy with one replica and with two."""
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    out = tmp_path / "results.json"
    main(["--scale", "--quick", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["replica_strokes"] > 0 and results["replica_strokes_per_s"] > 0
    assert results["replica_errors"] == 0 and 0 < results["replica_cores_used"] <= 2.5
    for count in (1, 2):
        assert results[f"scale_{count}x_2_errors"] == 0 and results[f"scale_{count}x_2_strokes"] >= 2
        assert len(results[f"scale_{count}x_2_rss_mb_each"]) == count
        # Pages a replica's processes share are counted once in their proportional set size.
        assert 100 < results[f"scale_{count}x_2_pss_mb"] <= results[f"scale_{count}x_2_rss_mb"]
    assert "scale_60_p95_ms" not in results and results["scale_measured"]
