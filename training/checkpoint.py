"""Resumable training: a run's state after each finished epoch, written atomically.

A checkpoint folder holds `state.json` (the settings, the epochs finished, their history
and training seconds) and the weights file it names, `epoch-N.weights.h5` (the model's
and the optimizer's variables, so the learning-rate schedule goes on where it stopped).
`state.json` is replaced only after its weights file is complete, so a crash at any
moment leaves the last finished epoch resumable.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras

from model.store.files import atomic_write, read_json, write_json
from training.config import TrainConfig

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ResumeState:
    """Where an interrupted run stopped: epochs finished, their history rows and seconds."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    weights_file: Path | None = None


def read_state(folder: str | Path, config: TrainConfig) -> ResumeState | None:
    """The state saved in `folder`, or None when there is none.

    Raises ValueError when the state cannot be read or was saved with other settings.
    """
    path = Path(folder) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = read_json(path)
        saved = TrainConfig.from_dict(state["config"])
        weights_file = Path(folder) / state["weights"]
        epoch, history, seconds = int(state["epoch"]), list(state["history"]), float(state["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"The checkpoint {path} cannot be read ({error}); delete {folder} to start afresh.") from error
    if saved != config:
        changed = sorted(name for name, value in config.to_dict().items() if saved.to_dict()[name] != value)
        raise ValueError(
            f"The checkpoint in {folder} was made with other settings ({', '.join(changed)}); "
            f"run with the same settings to resume it, or delete {folder} to start afresh."
        )
    if not weights_file.exists():
        raise ValueError(f"The checkpoint's weights file {weights_file} is missing; delete {folder} to start afresh.")
    return ResumeState(epoch, history, seconds, weights_file)


def remove_state(folder: str | Path) -> None:
    """Deletes a checkpoint folder once its run is saved."""
    shutil.rmtree(folder, ignore_errors=True)


class Recorder(keras.callbacks.Callback):
    """Records each epoch's logs and seconds in `history`, continuing `previous` (an empty
    `ResumeState()` for a fresh run); with `folder`, also saves the run's state there after
    every epoch. Place it after callbacks that add to the epoch's logs.
    """

    def __init__(self, config: TrainConfig, previous: ResumeState, folder: str | Path | None = None):
        super().__init__()
        self.config = config
        self.folder = Path(folder) if folder is not None else None
        self.history = list(previous.history)
        self.previous_seconds = previous.seconds
        self.seconds = previous.seconds

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = self.previous_seconds + time.perf_counter() - self.start
        self.history.append(
            {
                "epoch": epoch + 1,
                **{key: float(value) for key, value in (logs or {}).items()},
                "seconds": round(self.seconds, 2),
            }
        )
        if self.folder is not None:
            self._save(epoch + 1)

    def _save(self, epoch: int) -> None:
        weights = self.folder / f"epoch-{epoch}.weights.h5"
        atomic_write(weights, lambda temporary: self.model.save_weights(temporary), suffix=".weights.h5")
        write_json(
            {
                "config": self.config.to_dict(),
                "epoch": epoch,
                "weights": weights.name,
                "history": self.history,
                "seconds": round(self.seconds, 2),
            },
            self.folder / STATE_FILE,
        )
        for older in self.folder.glob("epoch-*.weights.h5"):
            if older != weights:
                older.unlink(missing_ok=True)
