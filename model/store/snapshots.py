"""A version's training snapshots (`training.snapshots` records them): one compressed `.npz`
beside the model, written atomically, read without pickles and refused past its size cap."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from model.store.files import atomic_write

SNAPSHOTS_FILE = "snapshots.npz"
# A version's snapshots take at most this much room (40 snapshots of the shipped network: about 3 MB).
MAX_BYTES = 5 * 1024 * 1024


def write_snapshots(arrays: dict[str, np.ndarray], folder: str | os.PathLike) -> Path:
    """`folder/snapshots.npz`, compressed, written atomically; ValueError past `MAX_BYTES`."""
    path = Path(folder) / SNAPSHOTS_FILE

    def write(temporary: str) -> None:
        np.savez_compressed(temporary, **arrays)
        if os.path.getsize(temporary) > MAX_BYTES:
            raise ValueError(f"The snapshots take more than {MAX_BYTES // 2**20} MB.")

    atomic_write(path, write, suffix=".npz")
    return path


def read_snapshots(folder: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The snapshots kept in `folder`; None when it has none (a version trained before they
    were recorded, or uploaded). ValueError when the file is past its cap or unreadable."""
    path = Path(folder) / SNAPSHOTS_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_BYTES:
        raise ValueError(f"{SNAPSHOTS_FILE} is larger than {MAX_BYTES // 2**20} MB.")
    try:
        with np.load(path, allow_pickle=False) as kept:
            return {name: kept[name] for name in kept.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{SNAPSHOTS_FILE} cannot be read: {error}") from None
