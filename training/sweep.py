"""Sweeps of training settings through Ray Tune: each trial (`training.sweep_plan`) is trained
in a process of its own, with ASHA stopping weak trials early.

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
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from model import settings
from model.store.mnist import DOWNLOAD, DataError, load_mnist, load_mnist_and_sha256
from training.config import PRESETS, preset
from training.on_ray import code_for
from training.sweep_plan import METRIC, SWEEPABLE, Sweep, parse_values, trial_folder, trial_rows


def _trial(params: dict, sweep_values: dict, mnist_path: str | None, threads: int) -> None:
    """One trial, in a Ray worker process: trains, reports the validation accuracy after every
    epoch (ASHA may stop it there), and the finished model as a checkpoint."""
    settings.quiet_tensorflow()
    import keras
    import tensorflow as tf
    from ray import tune

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from model.store.snapshots import write_snapshots
    from model.store.storage import save_run
    from training.snapshots import recorder_for
    from training.train import train

    config = Sweep.from_dict(sweep_values).config(params["trial"])
    last: dict[str, float] = {}

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last.update({METRIC: float(logs["val_accuracy"]), "loss": float(logs["loss"]), "epoch": epoch + 1})
            if epoch + 1 < config.epochs:  # The last epoch is reported with the model, below.
                tune.report(dict(last))

    data, data_sha256 = load_mnist_and_sha256(mnist_path)
    recorder = recorder_for(data[1])
    model, metadata = train(config, data, [Report(), recorder])
    metadata = metadata.replace(data_sha256=data_sha256)
    with tempfile.TemporaryDirectory() as folder:
        save_run(model, metadata, folder)
        snapshots = recorder.arrays()
        if snapshots is not None:
            write_snapshots(snapshots, folder)
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
    ray.init(
        address=address,
        num_cpus=None if address else cores,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env=code_for(address),
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
