"""Keras model files: safe loads, and atomic saves of a model with its metadata.

A run's folder holds `model.keras` and `metadata.json` (a `RunMetadata`); both are
written atomically (see `model.files`), the model first.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from model.files import atomic_write, file_sha256, read_json, write_json
from model.schemas import RunMetadata

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Saves a model as `.keras`, atomically."""
    atomic_write(path, lambda temporary: model.save(temporary), suffix=".keras")


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a `.keras` model with safe mode on (no arbitrary code from the file)."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def save_run(model: keras.Model, metadata: RunMetadata, directory: str | os.PathLike) -> RunMetadata:
    """Writes `model.keras` then `metadata.json` (with the model's sha256) into `directory`, each atomically.

    Returns the metadata as written.
    """
    directory = Path(directory)
    save_model(model, directory / MODEL_FILE)
    metadata = metadata.replace(model_sha256=file_sha256(directory / MODEL_FILE))
    write_json(metadata.to_dict(), directory / METADATA_FILE)
    return metadata


def read_metadata(directory: str | os.PathLike) -> RunMetadata:
    """The metadata in a run's folder; OSError or ValueError when it is missing or malformed."""
    return RunMetadata.from_dict(read_json(Path(directory) / METADATA_FILE))
