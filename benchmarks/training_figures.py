"""Training figures: each preset's throughput, accuracy over seeds, and time to a test accuracy."""

from __future__ import annotations

import datetime
import tempfile
import time

import keras
import numpy as np

from training.callbacks import TestAccuracy
from training.config import PRESETS, preset, preset_settings
from training.job_folder import JobFolder
from training.snapshots import recorder_for
from training.train import train


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


def snapshot_overhead(data, name: str, repeats: int, train_size: int | None = None) -> dict:
    """What recording a run's snapshots (training/snapshots.py) costs preset `name`, over `repeats`
    runs with the recorder (as in a job from the Retrain page: a live frame to a job folder at
    most every `LIVE_EVERY` seconds) and as many without, alternately.

    The overhead is the time training spent inside the recorder (weight copies and live frames),
    over the fastest training time without it: training times alone vary by 10-20% from run to run
    here, more than the recorder costs. The fastest runs with and without are compared as well
    (`snapshot_wall_...`); the forward passes left for after the run are timed apart, and the
    whole job's extra time is the recorder's and theirs together. `train_size` (the quick run's)
    trains on fewer images than the preset does."""
    config = preset(name) if train_size is None else preset(name).replace(train_size=train_size)
    plain, recorded, inside, after, live = [], [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        jobs = JobFolder(folder)
        for _ in range(repeats):
            _, metadata = train(config, data)
            plain.append(metadata.training_seconds)
            recorder = recorder_for(data[1], on_frame=lambda frame: jobs.write_live("job", frame))
            _, metadata = train(config, data, [recorder])
            recorded.append(metadata.training_seconds)
            inside.append(recorder.seconds)
            live.append(len(recorder.frames))
            start = time.perf_counter()
            frames = len(recorder.arrays()["steps"])
            after.append(time.perf_counter() - start)
    base = min(plain)
    return {
        f"snapshot_overhead_{name}_pct": 100.0 * float(np.median(inside)) / base,
        f"snapshot_inside_{name}_seconds": float(np.median(inside)),
        f"snapshot_wall_{name}_pct": 100.0 * (min(recorded) - base) / base,
        f"snapshot_after_{name}_seconds": float(np.median(after)),
        f"snapshot_job_{name}_pct": 100.0 * (float(np.median(inside)) + float(np.median(after))) / base,
        f"snapshot_{name}_training_seconds": base,
        f"snapshot_{name}_frames": frames,
        f"snapshot_live_{name}_frames": int(np.median(live)),
        "snapshots_measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
