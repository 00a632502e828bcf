"""A version's training snapshots (`training.snapshots` records them): one compressed `.npz`
beside the model, written atomically, read without pickles and refused past its size cap."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.store.files import atomic_write

SNAPSHOTS_FILE = "snapshots.npz"
# A version's snapshots take at most this much room (40 snapshots of the shipped network: about 3 MB).
MAX_BYTES = 5 * 1024 * 1024


def write_snapshots(arrays: dict[str, np.ndarray], folder: str | os.PathLike, name: str = SNAPSHOTS_FILE) -> Path:
    """`folder/snapshots.npz` (or `name`), compressed, written atomically; ValueError past `MAX_BYTES`."""
    path = Path(folder) / name

    def write(temporary: str) -> None:
        np.savez_compressed(temporary, **arrays)
        if os.path.getsize(temporary) > MAX_BYTES:
            raise ValueError(f"The snapshots take more than {MAX_BYTES // 2**20} MB.")

    atomic_write(path, write, suffix=".npz")
    return path


def read_snapshots(folder: str | os.PathLike, name: str = SNAPSHOTS_FILE) -> dict[str, np.ndarray] | None:
    """The snapshots kept in `folder` (or in `name` there); None when it has none (a version trained
    before they were recorded, or uploaded). ValueError when the file is past its cap or unreadable."""
    path = Path(folder) / name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_BYTES:
        raise ValueError(f"{name} is larger than {MAX_BYTES // 2**20} MB.")
    try:
        with np.load(path, allow_pickle=False) as kept:
            return {key: kept[key] for key in kept.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name} cannot be read: {error}") from None


@dataclass(frozen=True)
class Snapshots:
    """A run's frames as the pages show them (`from_arrays`): a version's snapshots, or a running
    job's latest frame alone. The first axis of every per-frame array is the frame."""

    steps: np.ndarray  # (F,) the training step of each frame, 0 before the first
    total_steps: int
    filters: np.ndarray  # (F, C, k, k) the first convolution's; C is 0 without one
    probes: np.ndarray  # (P, 28, 28) in [0, 1]
    probe_labels: np.ndarray  # (P,) -1 for a drawing
    probe_probabilities: np.ndarray  # (F, P, 10)
    subset_accuracy: np.ndarray  # (F,)
    # A version's snapshots only (None in a live frame):
    confusion: np.ndarray | None = None  # (F, 10, 10)
    subset_labels: np.ndarray | None = None  # (S,)
    subset_predictions: np.ndarray | None = None  # (F, S)
    positions: np.ndarray | None = None  # (F, S, 2) on the finished model's PCA
    probe_maps: np.ndarray | None = None  # (F, P, H, W, channels) of `mapped_layer`
    mapped_layer: str = ""

    @property
    def frames(self) -> int:
        return len(self.steps)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Snapshots:
        """The record of `read_snapshots`' arrays (a live frame: one frame, with `total_steps`);
        ValueError when they are not what the recorder writes."""
        try:
            live = "total_steps" in arrays
            steps = np.atleast_1d(arrays["steps"]).astype(np.int64)
            frames = len(steps)

            def framed(name: str) -> np.ndarray | None:
                if name not in arrays:
                    return None
                values = np.asarray(arrays[name])
                return values[None] if live else values

            snapshots = cls(
                steps=steps,
                total_steps=int(arrays["total_steps"]) if live else int(steps[-1]),
                filters=framed("filters").astype(np.float32),
                probes=np.asarray(arrays["probes"], np.float32),
                probe_labels=np.asarray(arrays.get("probe_labels", np.arange(len(arrays["probes"])) % 10), np.int64),
                probe_probabilities=framed("probe_probabilities").astype(np.float32),
                subset_accuracy=np.atleast_1d(arrays["subset_accuracy"]).astype(np.float32),
                confusion=framed("confusion"),
                subset_labels=arrays.get("subset_labels"),
                subset_predictions=framed("subset_predictions"),
                positions=framed("positions"),
                probe_maps=framed("probe_maps"),
                mapped_layer=str(arrays.get("mapped_layer", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"The snapshots are not in the form this app writes ({error}).") from None
        probes = len(snapshots.probes)
        if (
            frames == 0
            or snapshots.filters.shape[0] != frames
            or snapshots.probe_probabilities.shape != (frames, probes, 10)
            or snapshots.subset_accuracy.shape != (frames,)
            or snapshots.probes.shape[1:] != (28, 28)
            or snapshots.probe_labels.shape != (probes,)
            or any(
                values is not None and len(values) != frames
                for values in (
                    snapshots.confusion,
                    snapshots.subset_predictions,
                    snapshots.positions,
                    snapshots.probe_maps,
                )
            )
        ):
            raise ValueError("The snapshots' arrays do not fit together.")
        return snapshots
