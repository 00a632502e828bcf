"""Atomic writes and safe loads of models and their metadata.

A file is first written next to its destination under a temporary name, flushed to
disk, then renamed over the destination: a crash or a cancel leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> None:
    """Calls `write(temporary_path)`, then renames the temporary file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp" + suffix,
                                         dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        # KeyboardInterrupt included: the destination is untouched, the temporary file goes.
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Saves a model as `.keras`, atomically."""
    atomic_write(path, lambda temporary: model.save(temporary), suffix=".keras")


def write_json(data, path: str | os.PathLike) -> None:
    """Writes JSON, atomically."""
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")

    atomic_write(path, write)


def read_json(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a `.keras` model with safe mode on (no arbitrary code from the file)."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_run(model: keras.Model, metadata: dict, directory: str | os.PathLike) -> dict:
    """Writes `model.keras` then `metadata.json` (with the model's sha256) into `directory`, each atomically.

    Returns the metadata as written.
    """
    directory = Path(directory)
    save_model(model, directory / MODEL_FILE)
    metadata = {**metadata, "model_sha256": file_sha256(directory / MODEL_FILE)}
    write_json(metadata, directory / METADATA_FILE)
    return metadata
