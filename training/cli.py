"""The command line for training:

    python -m training.cli --preset quick --out runs/quick
    python -m training.cli --preset standard --epochs 20 --out runs/longer

Every `TrainConfig` field has a flag of the same name. The run writes `model.keras` and
`metadata.json` into `--out`, keeping its state in `OUT/.checkpoint` after each epoch so
that `--resume` can go on after an interruption.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from model import settings
from model.store.files import METADATA_FILE, MODEL_FILE
from model.store.mnist import DOWNLOAD, DataError, load_mnist_and_sha256
from model.store.snapshots import write_snapshots
from training.config import PRESETS, TrainConfig, bounds_of, help_of, preset, preset_name

# The command line keeps a run's state here, inside its output folder, until the model is written.
CHECKPOINT_DIR = ".checkpoint"


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict]:
    """The parsed arguments, and the `TrainConfig` fields given on the command line."""
    parser = argparse.ArgumentParser(prog="python -m training.cli", description="Train a digit CNN on MNIST.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="standard")
    parser.add_argument("--out", required=True, type=Path, help="folder for model.keras and metadata.json")
    parser.add_argument("--mnist", type=Path, help="path to mnist.npz (default: MNIST_PATH, else download)")
    parser.add_argument(
        "--track-test", action="store_true", help="evaluate on the test set after every epoch (reporting only)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite a finished run in --out")
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"go on with an interrupted run after its last finished epoch (OUT/{CHECKPOINT_DIR})",
    )
    settings_group = parser.add_argument_group("settings", "each overrides the preset's value (TrainConfig's fields)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        # Checked by TrainConfig itself, so that a bad value gets the same message everywhere.
        settings_group.add_argument(flag, dest=field.name, type=bounds_of(field.name).kind, help=help_of(field.name))
    args = parser.parse_args(argv)
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name) is not None
    }
    return args, overrides


def show(event) -> None:
    """Prints one line per finished epoch (a `training.callbacks.ProgressEvent`)."""
    if event.kind == "epoch":
        logs = " ".join(f"{key}={value:.4f}" for key, value in event.logs.items())
        print(f"epoch {event.epoch}/{event.epochs} {event.elapsed:.0f}s {logs}", flush=True)


def check_out(out: Path, force: bool) -> str:
    """Why `out` cannot take a run ("" when it can): checked, and the folder made, before any training."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file; give a folder for the run."
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        return f"--out {out} cannot be created or written ({error.strerror})."
    finished = [name for name in (MODEL_FILE, METADATA_FILE) if (out / name).exists()]
    if finished and not force:
        held = ", ".join(finished)
        return f"{out} holds a finished run ({held}); add --force to overwrite it, or choose another --out."
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (2 for bad settings, 1 for missing data, 130 if interrupted)."""
    args, overrides = parse_args(argv)
    try:
        config = preset(args.preset).replace(**overrides)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problem = check_out(args.out, args.force)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    # TensorFlow loads only now, so that --help and bad settings answer at once, and quietly.
    settings.quiet_tensorflow()
    from model.store.storage import save_run
    from training.callbacks import ProgressCallback
    from training.checkpoint import read_state, remove_state
    from training.snapshots import recorder_for
    from training.train import train

    try:
        data, data_sha256 = load_mnist_and_sha256(args.mnist)
    except DataError as error:
        print(f"error: {error} Download {DOWNLOAD} and pass --mnist PATH.", file=sys.stderr)
        return 1
    checkpoint = args.out / CHECKPOINT_DIR
    try:
        state = read_state(checkpoint, config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if state is not None and not args.resume:
        print(
            f"error: {checkpoint} holds a run interrupted after epoch {state.epoch}; add --resume to go on "
            "with it, or delete that folder to start afresh.",
            file=sys.stderr,
        )
        return 2
    if state is None and args.resume:
        print(f"No interrupted run in {checkpoint}: starting afresh.", flush=True)
    print(f"Training ({preset_name(config)} settings): {config}", flush=True)

    try:
        recorder = recorder_for(data[1])
        model, metadata = train(
            config,
            data,
            [ProgressCallback(show), recorder],
            verbose=1 if sys.stdout.isatty() else 0,
            track_test=args.track_test,
            checkpoint=checkpoint,
        )
    except KeyboardInterrupt:
        state = read_state(checkpoint, config)
        print(
            "Interrupted: no model was written."
            + (f" --resume goes on after epoch {state.epoch}." if state is not None else ""),
            file=sys.stderr,
        )
        return 130
    metadata = save_run(model, metadata.replace(data_sha256=data_sha256), args.out)
    snapshots = recorder.arrays()
    if snapshots is not None:
        write_snapshots(snapshots, args.out)
    remove_state(checkpoint)
    print(
        f"test accuracy {metadata.test_accuracy:.4%}, test loss {metadata.test_loss:.4f}, "
        f"{metadata.parameters:,} parameters, {metadata.training_seconds:.0f} s; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
