"""Sweeps of training settings: every combination of a few values of up to two settings is a
trial, trained in a process of its own through Ray Tune, with ASHA stopping weak trials early.

Ray runs embedded on this machine by default, and on an existing cluster when `RAY_ADDRESS` is
set. Trials are judged on held-out validation images (a tenth of the training images unless the
settings hold out some already), never on the test set; the test accuracy of each finished
trial is reported beside. Each finished trial's model can be kept as a version.

    sweep = Sweep(preset("fast"), {"learning_rate": (0.003, 0.01), "rotation": (0.0, 10.0)})
    rows = run_sweep(sweep, "sweeps/learning-rate-rotation")

From the command line: `python -m training.sweep --preset fast --set learning_rate=0.003,0.01
--set rotation=0,10 --out sweeps/lr-rotation`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model import settings
from model.store.mnist import DOWNLOAD, DataError, load_mnist, load_mnist_and_sha256
from training.config import PRESETS, TrainConfig, bounds_of, preset

# The settings a sweep may vary; their values' types come from TrainConfig's fields.
SWEEPABLE = (
    "learning_rate",
    "batch_size",
    "width",
    "dropout",
    "beta_1",
    "rotation",
    "shift",
    "zoom",
    "elastic",
    "optimizer",
    "lr_schedule",
    "architecture",
)
MAX_SETTINGS = 2
MAX_VALUES = 6
MAX_TRIALS = 16
# The longest text of values a box takes: six values of a dozen characters, and room to spare.
MAX_TEXT = 120
# What ASHA compares trials on, after each epoch.
METRIC = "validation_accuracy"
# Held out for that, when the settings hold out nothing.
VALIDATION_SPLIT = 0.1
TRIAL_FOLDER = "trial-{}"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sweep:
    """The settings every trial shares (`base`) and the values to try for up to two of them."""

    base: TrainConfig
    # Setting name -> the values to try, in order.
    settings: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.base, TrainConfig):
            raise ValueError("base must be a TrainConfig.")
        if not 1 <= len(self.settings) <= MAX_SETTINGS:
            raise ValueError(f"Choose one or two settings to sweep (at most {MAX_SETTINGS}).")
        for name, values in self.settings.items():
            if name not in SWEEPABLE:
                raise ValueError(f"{name!r} cannot be swept; choose from {sorted(SWEEPABLE)}.")
            if not 1 <= len(values) <= MAX_VALUES or len(set(values)) != len(values):
                raise ValueError(f"Give {name} between 1 and {MAX_VALUES} different values.")
        if len(self.trials()) > MAX_TRIALS:
            raise ValueError(f"{len(self.trials())} combinations are too many; at most {MAX_TRIALS}.")
        for index in range(len(self.trials())):
            self.config(index)  # Every combination must be valid settings (raises ValueError).

    def trials(self) -> list[dict]:
        """Every combination of the values, as {setting: value}, the first setting varying slowest."""
        names = list(self.settings)
        return [dict(zip(names, values)) for values in itertools.product(*self.settings.values())]

    def config(self, index: int) -> TrainConfig:
        """Trial `index`'s settings, holding out validation images for ASHA if the base holds none."""
        config = self.base.replace(**self.trials()[index])
        return config if config.validation_split > 0 else config.replace(validation_split=VALIDATION_SPLIT)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "settings": {name: list(values) for name, values in self.settings.items()}}

    @classmethod
    def from_dict(cls, values: dict) -> Sweep:
        settings = values.get("settings")
        if not isinstance(settings, dict):
            raise ValueError("A sweep needs its settings.")
        return cls(TrainConfig.from_dict(values.get("base") or {}), {k: tuple(v) for k, v in settings.items()})


def parse_values(name: str, text: str) -> tuple:
    """The values typed for a setting, comma-separated ("0.001, 0.003"), as that setting's type.

    The text's length and its number of values are checked before any value is read.
    """
    if name not in SWEEPABLE:
        raise ValueError(f"{name!r} cannot be swept; choose from {sorted(SWEEPABLE)}.")
    text = str(text)
    if len(text) > MAX_TEXT:
        raise ValueError(f"The values of {name} are too long: at most {MAX_TEXT} characters.")
    words = [word.strip() for word in text.split(",") if word.strip()]
    if not words:
        raise ValueError(f"Give at least one value for {name}.")
    if len(words) > MAX_VALUES:
        raise ValueError(f"Give {name} at most {MAX_VALUES} values.")
    kind = bounds_of(name).kind
    values = {}
    for word in words:
        values.setdefault(read_value(kind, name, word), None)
    return tuple(values)


def read_value(kind: type, name: str, word: str):
    """One value of setting `name`, read as `kind` (its TrainConfig field's type); TrainConfig checks its bounds."""
    try:
        value = kind(word) if kind is not int else int(float(word))
    except (ValueError, OverflowError):
        raise ValueError(f"{word!r} is not a{'n' if kind is int else ''} {kind.__name__} for {name}.") from None
    if kind is int and float(word) != value:
        raise ValueError(f"{word!r} is not a whole number for {name}.")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{word!r} is not a finite number for {name}.")
    return value


def trial_rows(sweep: Sweep) -> list[dict]:
    """The table's rows before anything ran."""
    return [{"trial": index, **values, "state": "waiting", "epoch": 0} for index, values in enumerate(sweep.trials())]


def _trial(params: dict, sweep_values: dict, mnist_path: str | None, threads: int) -> None:
    """One trial, in a Ray worker process: trains, reports the validation accuracy after every
    epoch (ASHA may stop it there), and the finished model as a checkpoint."""
    settings.quiet_tensorflow()
    import keras
    import tensorflow as tf
    from ray import tune

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from model.store.storage import save_run
    from training.train import train

    config = Sweep.from_dict(sweep_values).config(params["trial"])
    last: dict[str, float] = {}

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last.update({METRIC: float(logs["val_accuracy"]), "loss": float(logs["loss"]), "epoch": epoch + 1})
            if epoch + 1 < config.epochs:  # The last epoch is reported with the model, below.
                tune.report(dict(last))

    data, data_sha256 = load_mnist_and_sha256(mnist_path)
    model, metadata = train(config, data, [Report()])
    metadata = metadata.replace(data_sha256=data_sha256)
    with tempfile.TemporaryDirectory() as folder:
        save_run(model, metadata, folder)
        tune.report(
            {**last, "test_accuracy": metadata.test_accuracy, "seconds": metadata.training_seconds},
            checkpoint=tune.Checkpoint.from_directory(folder),
        )


def run_sweep(
    sweep: Sweep,
    folder: str | os.PathLike,
    mnist_path: str | os.PathLike | None = None,
    address: str | None = None,
    concurrent: int | None = None,
    threads_per_trial: int = 1,
    on_update: Callable[[list[dict]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """Runs every trial of `sweep` through Ray Tune; returns one row per trial: its values, its
    state ("finished", "stopped early" by ASHA, "failed", or "cancelled"), the epochs it ran,
    its last validation accuracy and, when finished, its test accuracy and seconds.

    Finished trials' models are written to `folder`/trial-N (see `trial_folder`). Ray starts
    embedded with `concurrent` CPUs (default: every core) unless `address` (default:
    `RAY_ADDRESS`) names a running cluster. `on_update(rows)` is called as trials report;
    `should_stop()` returning True stops every trial.
    """
    # Ray would otherwise send usage statistics to an outside host.
    settings.quiet_ray()
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(sweep)
    epochs = sweep.base.epochs
    address = address or settings.ray_address()
    cores = concurrent or os.cpu_count() or 1
    # Local workers find this project on their path; a cluster's get a copy of its code.
    code = (
        {"working_dir": str(PROJECT_ROOT), "excludes": [".git", "tests", "benchmarks", "docs", "**/.cache"]}
        if address
        else {"env_vars": {"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}}
    )
    ray.init(
        address=address,
        num_cpus=None if address else cores,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env=code,
    )

    def update(index: int, **changes) -> None:
        rows[index].update(changes)
        if on_update is not None:
            on_update([dict(row) for row in rows])

    class Watch(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            update(trial.config["trial"], state="running")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            shown = {key: result[key] for key in (METRIC, "epoch", "test_accuracy", "seconds") if key in result}
            update(trial.config["trial"], **shown)

        def on_trial_complete(self, iteration, trials, trial, **info):
            index = trial.config["trial"]
            if should_stop and should_stop():
                update(index, state="cancelled")
            else:
                update(index, state="finished" if rows[index].get("epoch") == epochs else "stopped early")

        def on_trial_error(self, iteration, trials, trial, **info):
            update(trial.config["trial"], state="failed")

    class Cancel(tune.Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return bool(should_stop and should_stop())

    mnist = str(Path(mnist_path).expanduser().resolve()) if mnist_path and not address else None
    trainable = tune.with_parameters(_trial, sweep_values=sweep.to_dict(), mnist_path=mnist, threads=threads_per_trial)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": threads_per_trial}),
        param_space={"trial": tune.grid_search(list(range(len(rows))))},
        tune_config=tune.TuneConfig(
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                metric=METRIC,
                mode="max",
                max_t=epochs,
                grace_period=max(1, epochs // 4),
                reduction_factor=2,
            ),
            max_concurrent_trials=max(1, cores // threads_per_trial),
        ),
        run_config=tune.RunConfig(
            # On a cluster, DIGITS_SWEEP_STORAGE must be storage every node reaches (a shared folder or s3://...).
            storage_path=settings.sweep_storage() or str(folder / "ray"),
            name="sweep",
            stop=Cancel(),
            callbacks=[Watch()],
            verbose=0,
        ),
    )
    try:
        results = tuner.fit()
        for result in results:
            # A trial that never started (the sweep was cancelled first) has no config.
            index = (result.config or {}).get("trial")
            if index is not None and result.checkpoint is not None and rows[index]["state"] == "finished":
                with result.checkpoint.as_directory() as stored:
                    _copy_into(Path(stored), trial_folder(folder, index))
        for row in rows:
            if row["state"] in ("waiting", "running"):
                row["state"] = "cancelled" if should_stop and should_stop() else "failed"
    finally:
        ray.shutdown()
        shutil.rmtree(folder / "ray", ignore_errors=True)
    if on_update is not None:
        on_update([dict(row) for row in rows])
    return rows


def trial_folder(folder: str | os.PathLike, index: int) -> Path:
    """Where a finished trial's model.keras and metadata.json are."""
    return Path(folder) / TRIAL_FOLDER.format(index)


def _copy_into(source: Path, target: Path) -> None:
    """Copies a folder into place atomically: into a temporary sibling, then one rename."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def format_rows(rows: list[dict], names: Sequence[str]) -> str:
    """The results as a text table, best validation accuracy first."""
    ordered = sorted(rows, key=lambda row: -(row.get(METRIC) or 0.0))
    header = ["trial", *names, "state", "epochs", "validation", "test", "seconds"]
    lines = ["  ".join(f"{word:>12}" for word in header)]
    for row in ordered:
        cells = [
            row["trial"],
            *(row[name] for name in names),
            row["state"],
            row.get("epoch", 0),
            f"{row[METRIC]:.2%}" if row.get(METRIC) is not None else "-",
            f"{row['test_accuracy']:.2%}" if row.get("test_accuracy") is not None else "-",
            f"{row['seconds']:.0f}" if row.get("seconds") is not None else "-",
        ]
        lines.append("  ".join(f"{str(cell):>12}" for cell in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (2 for bad settings, 1 for missing data)."""
    parser = argparse.ArgumentParser(
        prog="python -m training.sweep", description="Sweep up to two training settings with Ray Tune."
    )
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="the settings trials share")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help=f"a setting and its values (once or twice); one of {', '.join(sorted(SWEEPABLE))}",
    )
    parser.add_argument("--epochs", type=int, help="epochs per trial (default: the preset's)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the trials' models")
    parser.add_argument("--mnist", help="path to mnist.npz (default: MNIST_PATH, else download)")
    parser.add_argument("--address", help="a running Ray cluster (default: RAY_ADDRESS, else Ray on this machine)")
    parser.add_argument("--concurrent", type=int, help="trials at once on this machine (default: every core)")
    args = parser.parse_args(argv)
    try:
        settings = {}
        for item in args.set:
            name, _, text = item.partition("=")
            settings[name.strip()] = parse_values(name.strip(), text)
        base = preset(args.preset)
        sweep = Sweep(base.replace(epochs=args.epochs) if args.epochs else base, settings)
        if args.concurrent is not None and args.concurrent < 1:
            raise ValueError("--concurrent must be at least 1.")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} is a file.", file=sys.stderr)
        return 2
    try:
        load_mnist(args.mnist)
    except DataError as error:
        print(f"error: {error} Download {DOWNLOAD} and pass --mnist PATH.", file=sys.stderr)
        return 1
    trials, epochs = len(sweep.trials()), sweep.base.epochs
    plural = "s" if epochs != 1 else ""
    print(f"{trials} trials of {args.preset} settings, at most {epochs} epoch{plural} each.", flush=True)
    start = time.perf_counter()
    with contextlib.suppress(KeyboardInterrupt):
        rows = run_sweep(sweep, args.out, args.mnist, args.address, args.concurrent)
        print(format_rows(rows, list(settings)))
        kept = [row["trial"] for row in rows if row["state"] == "finished"]
        print(
            f"{time.perf_counter() - start:.0f} s. Models of finished trials: "
            + (", ".join(str(trial_folder(args.out, index)) for index in kept) or "none")
        )
        return 0 if kept else 1
    print("Interrupted.", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
