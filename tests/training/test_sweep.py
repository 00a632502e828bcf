"""Sweeps: the settings checks, a real sweep on Ray on this machine (ASHA stopping the weak
trials), as a background job whose finished trial becomes a version, and the command line."""

import subprocess
import sys
import time

import pytest

from model.store.registry import list_versions
from model.store.snapshots import read_snapshots
from model.store.storage import load_model, read_metadata
from tests.conftest import ROOT
from tests.training.test_jobs import SLOW, wait_for
from training import sweep_plan as sweep_module
from training.config import TrainConfig, preset
from training.jobs import JobBusy, JobRunner
from training.sweep import run_sweep
from training.sweep_plan import MAX_TEXT, VALIDATION_SPLIT, Sweep, parse_values, trial_folder

# Small enough for seconds per trial: 2,000 images, no augmentation.
TINY = preset("fast").replace(train_size=2000, epochs=4, batch_size=64)


def test_values_are_read_as_the_settings_type():
    assert parse_values("learning_rate", "0.001, 0.01,0.01") == (0.001, 0.01)
    assert parse_values("batch_size", "64, 128") == (64, 128)
    assert parse_values("optimizer", "adam, sgd") == ("adam", "sgd")
    for name, text, message in [
        ("batch_size", "64, 12.5", "whole number"),
        ("learning_rate", "fast", "not a float"),
        ("rotation", " , ", "at least one value"),
        ("seed", "1, 2", "cannot be swept"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_values(name, text)


# Issue 29, item 1: a pasted flood of values (60,000 took the server 25 s) is refused before any is
# read; item 6: a value too large for a number is one clear message, not an OverflowError.


def test_more_values_than_a_sweep_takes_are_refused_before_any_is_read():
    seven = ", ".join(str(value) for value in range(7))
    with pytest.raises(ValueError, match="at most 6 values"):
        parse_values("batch_size", seven)
    flood = ", ".join(f"0.{index:05d}1" for index in range(60_000))
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep_module, "read_value", lambda kind, name, word: calls.append(word) or 0.1)
        with pytest.raises(ValueError, match="too long"):
            parse_values("learning_rate", flood)
    assert calls == []
    with pytest.raises(ValueError, match="too long"):
        parse_values("learning_rate", "0.01" + " " * MAX_TEXT)


@pytest.mark.parametrize(
    ("name", "text"),
    [("batch_size", "1e999"), ("learning_rate", "inf"), ("learning_rate", "nan"), ("rotation", "-inf")],
)
def test_a_value_no_setting_can_hold_is_refused_with_a_message(name, text):
    with pytest.raises(ValueError, match=name):
        parse_values(name, text)


def test_a_sweep_is_every_combination_of_valid_settings():
    sweep = Sweep(TINY, {"learning_rate": (0.001, 0.01), "rotation": (0.0, 5.0, 10.0)})
    assert sweep.trials()[:4] == [
        {"learning_rate": 0.001, "rotation": 0.0},
        {"learning_rate": 0.001, "rotation": 5.0},
        {"learning_rate": 0.001, "rotation": 10.0},
        {"learning_rate": 0.01, "rotation": 0.0},
    ]
    # Trials hold out validation images for ASHA when the settings hold out none.
    assert sweep.config(4) == TINY.replace(learning_rate=0.01, rotation=5.0, validation_split=VALIDATION_SPLIT)
    assert Sweep.from_dict(sweep.to_dict()) == sweep
    for settings, message in [
        ({}, "one or two settings"),
        ({"learning_rate": (0.01,), "rotation": (0.0,), "zoom": (0.1,)}, "one or two settings"),
        ({"seed": (1, 2)}, "cannot be swept"),
        ({"learning_rate": tuple(0.001 * k for k in range(1, 8))}, "between 1 and 6"),
        ({"learning_rate": (0.1, 0.2, 0.3, 0.4, 0.5), "rotation": (1.0, 2.0, 3.0, 4.0)}, "too many"),
        ({"learning_rate": (0.01, -1.0)}, "learning_rate must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            Sweep(TINY, settings)


def test_the_command_line_refuses_bad_settings_before_starting_ray(tmp_path):
    for arguments, message in [
        (["--set", "learning_rate=0.01,abc"], "not a float"),
        (["--set", "momentum=0.9"], "cannot be swept"),
        ([], "one or two settings"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "training.sweep", *arguments, "--out", str(tmp_path / "out")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_sweep_on_local_ray_stops_weak_trials_early_and_keeps_the_finished_models(tmp_path, mnist_file):
    # Learning rates that learn nothing in an epoch, after one that learns: ASHA compares each
    # trial after its first epoch with those before it, and stops the weak ones there.
    sweep = Sweep(TINY, {"learning_rate": (0.01, 1e-7, 2e-7)})
    updates = []
    rows = run_sweep(sweep, tmp_path, mnist_file, concurrent=1, on_update=updates.append)
    assert [row["state"] for row in rows] == ["finished", "stopped early", "stopped early"]
    assert [row["epoch"] for row in rows] == [4, 1, 1]
    assert rows[0]["validation_accuracy"] > 0.8 and rows[1]["validation_accuracy"] < 0.5
    assert updates and all(len(update) == 3 for update in updates)
    for index in (0,):
        folder = trial_folder(tmp_path, index)
        metadata = read_metadata(folder)
        assert TrainConfig.from_dict(metadata.config) == sweep.config(index)
        assert metadata.test_accuracy == pytest.approx(rows[index]["test_accuracy"]) and metadata.data_sha256
        assert load_model(folder / "model.keras").count_params() == metadata.parameters
    # Ray's own working files are gone; the finished trial's model stays.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trial-0"]


@pytest.mark.slow
def test_a_sweep_job_runs_in_the_background_and_a_finished_trial_becomes_a_version(isolated_registry, mnist_file):
    runner = JobRunner()
    # One epoch: ASHA has no earlier point to stop a trial at, so both finish.
    runner.start_sweep(Sweep(TINY.replace(epochs=1), {"learning_rate": (0.01, 0.003)}), mnist_path=mnist_file)
    # One heavy job at a time: a run cannot start beside a sweep.
    with pytest.raises(JobBusy):
        runner.start(SLOW)
    status = wait_for(runner, ("finished", "failed", "crashed"), timeout=300)
    assert status.state == "finished" and status.kind == "sweep", status.message
    assert [row["state"] for row in status.trials] == ["finished", "finished"]
    version = runner.keep_trial(1)
    assert version.id in [item.id for item in list_versions()]
    assert read_snapshots(version.path)["positions"].shape[1] == 1000
    assert version.metadata.config["learning_rate"] == 0.003
    assert runner.status().trials[1]["version"] == version.id
    with pytest.raises(ValueError, match="kept already"):
        runner.keep_trial(1)
    with pytest.raises(ValueError, match="did not finish"):
        runner.keep_trial(7)


@pytest.mark.slow
def test_a_cancelled_sweep_stops_its_trials_and_keeps_nothing(isolated_registry, mnist_file):
    runner = JobRunner()
    sweep = Sweep(preset("fast").replace(epochs=20), {"learning_rate": (0.01, 0.003)})
    runner.start_sweep(sweep, mnist_path=mnist_file)
    wait_for_trials = time.monotonic() + 120
    while not any(row["state"] == "running" for row in runner.status().trials):
        assert time.monotonic() < wait_for_trials, runner.status()
        time.sleep(0.2)
    assert runner.cancel()
    status = runner.status()
    assert status.state == "cancelled" and not runner.lock_held(), status.message
    assert {row["state"] for row in status.trials} == {"cancelled"}
    with pytest.raises(ValueError, match="did not finish"):
        runner.keep_trial(0)
