"""The shapes of the JSON files the project writes, read and written only through these classes.

- `RunMetadata`: `metadata.json` beside every trained model (the shipped default, each
  registry version, each command-line run).
- `JobStatus`: `status.json` of the background training job, which the Retrain page polls.

`from_dict` takes what `json.load` returned: a missing field gets its default (files
written by older code), an unknown field is dropped, and a field of the wrong type
raises ValueError. `to_dict` gives what `json.dump` writes.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any

# Names that changed: files written under the old name still load under the new one.
RENAMED = {"seed": "original"}

# States of a training job. "crashed" is what a reader sees when the process died without saying so.
ACTIVE = ("starting", "running", "saving")
FINISHED = ("finished", "cancelled", "failed", "crashed")


class _Record:
    """JSON round trips with type checks, for the dataclasses below."""

    @classmethod
    def from_dict(cls, values: Any):
        if not isinstance(values, dict):
            raise ValueError(f"{cls.__name__} must be a JSON object, got {type(values).__name__}.")
        hints = _type_hints(cls)
        known = {}
        for item in dataclasses.fields(cls):
            if item.name not in values:
                continue
            value = values[item.name]
            if not _conforms(value, hints[item.name]):
                raise ValueError(f"{cls.__name__}.{item.name} has the wrong type: {value!r}.")
            # JSON writes 3.0 as 3: a float field holds a float.
            floats = float in (hints[item.name], *typing.get_args(hints[item.name]))
            known[item.name] = float(value) if floats and isinstance(value, int) else value
        try:
            return cls(**known)
        except TypeError as error:  # A required field is missing.
            raise ValueError(f"{cls.__name__}: {error}.") from error

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    # Resolved once per class: pages read these files on every rerun.
    return typing.get_type_hints(cls)


def _conforms(value: Any, kind: Any) -> bool:
    """Whether a JSON value fits a type hint; containers are checked one level deep."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, option) for option in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is Any:
        return True
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or kind)


def utc_now() -> str:
    """The time now as the files record it: ISO 8601 in UTC, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunMetadata(_Record):
    """What a training run wrote beside its model: its settings, how it went, where it came from."""

    # The training settings as `TrainConfig.to_dict()` wrote them; `training.config.saved_config` reads them.
    config: dict[str, Any] = field(default_factory=dict)
    # The preset whose settings these are exactly, else "custom".
    preset: str = "custom"
    # One row per epoch: "epoch", the Keras logs ("loss", "accuracy", "val_loss", ...) and "seconds".
    history: list[dict[str, Any]] = field(default_factory=list)
    # Measured on the 10,000 MNIST test images after training.
    test_accuracy: float | None = None
    test_loss: float | None = None
    parameters: int | None = None
    train_images: int | None = None
    validation_images: int = 0
    # Seconds of training (evaluation excluded), summed over the parts of a resumed run.
    training_seconds: float | None = None
    # The sha256 of the MNIST file it trained on, when known.
    data_sha256: str | None = None
    # Library versions ("python", "tensorflow", "keras", "numpy") and TensorFlow's devices.
    versions: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    # When the run finished: ISO 8601, UTC.
    created: str = ""
    # The sha256 of the model file beside it, added by `model.store.storage.save_run`.
    model_sha256: str = ""
    # A fine-tuned version's record (`training.finetune`): the version it started from, your
    # digits it trained on and held aside, its settings, and the accuracies before and after.
    fine_tune: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: Any) -> RunMetadata:
        metadata = super().from_dict(values)
        return metadata.replace(preset=RENAMED.get(metadata.preset, metadata.preset))


@dataclass(frozen=True)
class JobStatus(_Record):
    """A training job's state and progress, written by the training process."""

    # One of ACTIVE or FINISHED.
    state: str
    # The job's id: its start time in milliseconds, in hex.
    job: str
    # "train" (one run), "sweep" (trials of several settings, `training.sweep`) or "finetune"
    # (a version fine-tuned on MNIST plus your digits, `training.finetune`).
    kind: str = "train"
    # The preset whose settings it trains exactly, else "custom".
    preset: str = "custom"
    # The training settings, as `TrainConfig.to_dict()` wrote them.
    config: dict[str, Any] = field(default_factory=dict)
    # `time.time()` at the start, and at the end once it ended.
    started: float = 0.0
    finished: float | None = None
    # The training process, once it runs.
    pid: int | None = None
    # The Ray actor it runs in, on a Ray cluster (`training.on_ray`); None in a process of its own.
    ray_actor: str | None = None
    # The epoch in progress (from 1) of how many, and the batches finished in it of how many.
    epoch: int = 0
    epochs: int | None = None
    batch: int = 0
    batches: int | None = None
    # Seconds of training so far.
    elapsed: float = 0.0
    # One row per finished epoch: "epoch" and the Keras logs.
    history: list[dict[str, Any]] = field(default_factory=list)
    # What the job is doing, or why it ended.
    message: str = ""
    # Once finished: the new version's id and its test accuracy.
    version: str | None = None
    test_accuracy: float | None = None
    # A sweep's values ({setting: [values]}) and one row per trial (`training.sweep.run_sweep`'s rows,
    # plus "version" once a trial is kept).
    sweep: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.state not in ACTIVE + FINISHED:
            raise ValueError(f"Unknown job state {self.state!r}.")
        if self.kind not in ("train", "sweep", "finetune"):
            raise ValueError(f"Unknown job kind {self.kind!r}.")

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE
