"""Training a digit CNN from a `TrainConfig`, and the command line around it.

    python -m training.train --preset quick --out runs/quick
    python -m training.train --preset standard --epochs 20 --out runs/longer
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from model.preprocess import from_uint8
from training.config import PRESETS, TrainConfig, preset

# TensorFlow is imported inside the functions that need it, so `--help` is instant.

# The command line keeps a run's state here, inside its output folder, until the model is written.
CHECKPOINT_DIR = ".checkpoint"


def distribution_strategy(gpu_count: int | None = None):
    """MirroredStrategy across all GPUs when more than one is visible, else the default strategy."""
    import tensorflow as tf

    if gpu_count is None:
        gpu_count = len(tf.config.list_physical_devices("GPU"))
    return tf.distribute.MirroredStrategy() if uses_mirrored(gpu_count) else tf.distribute.get_strategy()


def uses_mirrored(gpu_count: int) -> bool:
    return gpu_count > 1


def split_data(config: TrainConfig, x: np.ndarray, y: np.ndarray):
    """Seeded shuffle, optional subset, then a validation split: ((x, y), (x_val, y_val) or None)."""
    order = np.random.default_rng(config.seed).permutation(len(x))
    if config.train_size is not None:
        order = order[: config.train_size]
    held_out = int(round(len(order) * config.validation_split))
    train, validation = order[held_out:], order[:held_out]
    if len(train) == 0:
        raise ValueError("No training images left after the validation split.")
    return (x[train], y[train]), ((x[validation], y[validation]) if held_out else None)


def augmentation_layers(config: TrainConfig):
    """The Keras preprocessing layers for the configured augmentation, or None when all are off."""
    import keras

    steps = []
    if config.rotation:
        steps.append(keras.layers.RandomRotation(config.rotation / 360.0, fill_mode="constant",
                                                 seed=config.seed, name="rotate"))
    if config.zoom:
        steps.append(keras.layers.RandomZoom(config.zoom, fill_mode="constant", seed=config.seed + 1, name="zoom"))
    if config.shift:
        steps.append(keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="constant",
                                                    seed=config.seed + 2, name="shift"))
    if config.elastic:
        from training.elastic import RandomElastic

        steps.append(RandomElastic(config.elastic, seed=config.seed + 3, name="elastic"))
    return keras.Sequential(steps, name="augmentation") if steps else None


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return from_uint8(images)[..., None]


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment=None, shuffle_seed: int | None = None):
    """A batched tf.data pipeline of (image, label), augmented and shuffled when asked."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((to_model_input(x), y.astype(np.int32)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(lambda images, labels: (augment(images, training=True), labels),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """The learning rate or schedule, stepped per batch."""
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    peak = config.learning_rate
    if config.lr_schedule == "constant":
        return peak
    if config.lr_schedule == "exponential":
        # Multiplies the rate by 0.9 every epoch.
        return keras.optimizers.schedules.ExponentialDecay(peak, steps_per_epoch, 0.9)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(peak, total, alpha=0.01)
    # One cycle: a linear warm-up over the first 15% of steps, then cosine decay to zero.
    warmup = max(1, int(0.15 * total))
    return keras.optimizers.schedules.CosineDecay(peak / 25, total - warmup, alpha=0.0,
                                                  warmup_target=peak, warmup_steps=warmup)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    rate = learning_rate(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=1e-4)
    return keras.optimizers.RMSprop(rate)


def make_progress_callback(on_progress: Callable[[dict], None]):
    """A Keras callback that reports each batch and epoch to `on_progress(event)`.

    Events are plain dicts: {"kind": "batch"|"epoch", "epoch", "epochs", "batch", "batches",
    "elapsed", "logs"}; epoch events carry the epoch's full logs, validation included.
    """
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def _event(self, kind: str, batch: int, logs) -> dict:
            return {"kind": kind, "epoch": self.epoch + 1, "epochs": self.params.get("epochs"), "batch": batch,
                    "batches": self.params.get("steps"), "elapsed": time.perf_counter() - self.start,
                    "logs": {key: float(value) for key, value in (logs or {}).items()}}

        def on_train_batch_end(self, batch, logs=None):
            on_progress(self._event("batch", batch + 1, logs))

        def on_epoch_end(self, epoch, logs=None):
            on_progress(self._event("epoch", self.params.get("steps"), logs))

    return ProgressCallback()


def make_test_callback(x_test: np.ndarray, y_test: np.ndarray):
    """A callback that evaluates the test set after each epoch, for reporting only (never for selection)."""
    import keras
    import tensorflow as tf

    test = make_dataset(x_test, y_test, 1000)

    class TestAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            correct = 0
            for images, labels in test:
                predicted = tf.argmax(self.model(images, training=False), axis=-1, output_type=tf.int32)
                correct += int(tf.reduce_sum(tf.cast(predicted == labels, tf.int32)))
            if logs is not None:
                logs["test_accuracy"] = correct / len(y_test)

    return TestAccuracy()


# Batch normalisation's moving statistics (momentum 0.99) need a few hundred steps to settle.
BATCH_NORM_SETTLE_STEPS = 500


def recalibrate_batch_norm(model, images: np.ndarray, limit: int = 10000, batch_size: int = 500) -> None:
    """Sets every BatchNormalization layer's moving mean and variance to the exact statistics of its input.

    Layer by layer, in order, over up to `limit` un-augmented images: after a short run the
    moving averages still remember their initial values, and the model predicts poorly.
    """
    import keras
    import tensorflow as tf

    inputs = to_model_input(images[:limit])
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        upstream = keras.Model(model.input, layer.input)
        forward = tf.function(lambda batch, upstream=upstream: upstream(batch, training=False))
        total = total_squares = 0.0
        count = 0
        for start in range(0, len(inputs), batch_size):
            values = forward(tf.constant(inputs[start:start + batch_size])).numpy().astype(np.float64)
            values = values.reshape(-1, values.shape[-1])
            total = total + values.sum(axis=0)
            total_squares = total_squares + np.square(values).sum(axis=0)
            count += len(values)
        mean = total / count
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(np.maximum(total_squares / count - np.square(mean), 0.0).astype(np.float32))


def augment_preview(images: np.ndarray, config: TrainConfig, seed: int = 0) -> np.ndarray:
    """uint8 (N, 28, 28) digits as the configured augmentation changes them: float32 (N, 28, 28) in [0, 1]."""
    batch = to_model_input(images)
    augment = augmentation_layers(config.replace(seed=seed))
    if augment is None:
        return batch[..., 0]
    return np.clip(np.asarray(augment(batch, training=True))[..., 0], 0.0, 1.0)


def library_versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__}


def train(config: TrainConfig, data=None, callbacks: Sequence = (), verbose: int = 0,
          track_test: bool = False, checkpoint: str | Path | None = None):
    """Trains a model from `config`; returns (model, metadata).

    `data` is `((x_train, y_train), (x_test, y_test))` as `load_mnist` returns it (loaded
    when None). `callbacks` are extra Keras callbacks. With `track_test`, the test accuracy
    after every epoch goes into the history (for reporting, never for choosing a model).
    With `checkpoint`, a folder, the run's state is saved there after every epoch, and a
    run interrupted earlier with the same settings goes on from its last finished epoch
    (a ValueError if the folder holds a run with other settings). A resumed run draws
    its shuffles and augmentation afresh, so it is not bit-identical to an uninterrupted one.
    """
    import keras
    import tensorflow as tf

    from model.architecture import build_model
    from training.checkpoint import ResumeState, make_recorder, read_state
    from training.data import data_source_sha256, load_mnist

    previous = (read_state(checkpoint, config) if checkpoint is not None else None) or ResumeState()
    initial_epoch = previous.epoch
    data_sha = None
    if data is None:
        data = load_mnist()
        data_sha = data_source_sha256()
    (x_all, y_all), (x_test, y_test) = data
    (x_train, y_train), validation = split_data(config, x_all, y_all)
    # A resumed run seeds its random streams by the epoch it starts from.
    stream_seed = config.seed if initial_epoch == 0 else int(
        np.random.SeedSequence([config.seed, initial_epoch]).generate_state(1)[0] % 2**31)
    keras.utils.set_random_seed(stream_seed)

    batch_size = min(config.batch_size, len(x_train))
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    train_set = make_dataset(x_train, y_train, batch_size, augmentation_layers(config.replace(seed=stream_seed)),
                             shuffle_seed=stream_seed)
    validation_set = make_dataset(*validation, 1000) if validation is not None else None

    with distribution_strategy().scope():
        model = build_model(config.architecture, config.width, config.dropout)
        model.compile(optimizer=make_optimizer(config, steps_per_epoch),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if previous.weights_file is not None:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(previous.weights_file)

    # The test accuracy joins an epoch's logs before the recorder and the caller's callbacks see them.
    recorder = make_recorder(config, previous, checkpoint)
    extra = [make_test_callback(x_test, y_test)] if track_test else []
    extra += [recorder, *callbacks]
    start = time.perf_counter()
    model.fit(train_set, epochs=config.epochs, initial_epoch=initial_epoch, validation_data=validation_set,
              callbacks=extra, verbose=verbose, shuffle=False)
    if config.epochs * steps_per_epoch < BATCH_NORM_SETTLE_STEPS:
        recalibrate_batch_norm(model, x_train)
    seconds = previous.seconds + time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(make_dataset(x_test, y_test, 1000), verbose=0)
    metadata = {
        "config": config.to_dict(),
        "history": recorder.history,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "parameters": int(model.count_params()),
        "train_images": int(len(x_train)),
        "validation_images": int(len(validation[0])) if validation is not None else 0,
        "training_seconds": round(seconds, 2),
        "data_sha256": data_sha,
        "versions": library_versions(),
        "devices": [device.name for device in tf.config.list_logical_devices()],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return model, metadata


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(prog="python -m training.train", description="Train a digit CNN on MNIST.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="standard")
    parser.add_argument("--out", required=True, type=Path, help="folder for model.keras and metadata.json")
    parser.add_argument("--mnist", type=Path, help="path to mnist.npz (default: MNIST_PATH, else download)")
    parser.add_argument("--track-test", action="store_true",
                        help="evaluate on the test set after every epoch (reporting only)")
    parser.add_argument("--resume", action="store_true",
                        help=f"go on with an interrupted run after its last finished epoch (OUT/{CHECKPOINT_DIR})")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.name in ("architecture", "optimizer", "lr_schedule"):
            parser.add_argument(flag, dest=field.name, type=str)
        elif field.name in ("epochs", "batch_size", "train_size", "seed"):
            parser.add_argument(flag, dest=field.name, type=int)
        else:
            parser.add_argument(flag, dest=field.name, type=float)
    args = parser.parse_args(argv)
    overrides = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)
                 if getattr(args, field.name) is not None}
    return args, overrides


def main(argv: Sequence[str] | None = None) -> int:
    args, overrides = _parse_args(argv)
    try:
        config = preset(args.preset).replace(**overrides)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from model.storage import save_run
    from training.checkpoint import read_state, remove_state
    from training.data import DataError, data_source_sha256, load_mnist

    try:
        data = load_mnist(args.mnist)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    checkpoint = args.out / CHECKPOINT_DIR
    try:
        state = read_state(checkpoint, config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if state is not None and not args.resume:
        print(f"error: {checkpoint} holds a run interrupted after epoch {state.epoch}; add --resume to go on "
              "with it, or delete that folder to start afresh.", file=sys.stderr)
        return 2
    if state is None and args.resume:
        print(f"No interrupted run in {checkpoint}: starting afresh.", flush=True)
    print(f"Training preset {args.preset!r}: {config}", flush=True)

    def show(event: dict) -> None:
        if event["kind"] == "epoch":
            logs = " ".join(f"{key}={value:.4f}" for key, value in event["logs"].items())
            print(f"epoch {event['epoch']}/{event['epochs']} {event['elapsed']:.0f}s {logs}", flush=True)

    try:
        model, metadata = train(config, data, [make_progress_callback(show)],
                                verbose=1 if sys.stdout.isatty() else 0, track_test=args.track_test,
                                checkpoint=checkpoint)
    except KeyboardInterrupt:
        state = read_state(checkpoint, config)
        print("Interrupted: no model was written."
              + (f" --resume goes on after epoch {state.epoch}." if state is not None else ""), file=sys.stderr)
        return 130
    metadata["preset"] = args.preset
    metadata["data_sha256"] = data_source_sha256(args.mnist)
    save_run(model, metadata, args.out)
    remove_state(checkpoint)
    print(f"test accuracy {metadata['test_accuracy']:.4%}, test loss {metadata['test_loss']:.4f}, "
          f"{metadata['parameters']:,} parameters, {metadata['training_seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

