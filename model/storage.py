"""Keras model files: safe loads, and atomic saves of a model with its metadata.

A run's folder holds `model.keras` and `metadata.json` (a `RunMetadata`); both are
written atomically (see `model.files`), the model first.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras

from model.files import METADATA_FILE, MODEL_FILE, atomic_write, file_sha256, read_json, write_json
from model.schemas import RunMetadata


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Saves a model as `.keras`, atomically."""
    atomic_write(path, lambda temporary: model.save(temporary), suffix=".keras")


class ModelBroken(ValueError):
    """A model file that cannot be loaded; the message gives the real reason, without server paths."""


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a `.keras` model with safe mode on (no arbitrary code from the file).

    Raises ModelBroken saying why a file cannot be loaded: missing, empty, not a zip archive
    (truncated or corrupt), refused by safe mode, or a configuration Keras cannot rebuild.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelBroken(f"{path.name} is missing.")
    size = path.stat().st_size
    if size == 0:
        raise ModelBroken(f"{path.name} is empty (0 bytes).")
    if not zipfile.is_zipfile(path):
        raise ModelBroken(f"{path.name} is not a .keras archive ({size:,} bytes): it is truncated or corrupt.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds: a bad zip member, unsafe layers, broken config.
        # The first sentence: Keras goes on with advice (such as turning safe mode off) not meant for visitors.
        message = str(error).replace(str(path.resolve()), path.name).replace(str(path), path.name)
        message = message.strip().splitlines()[0].split(". ")[0].rstrip(".") + "." if message.strip() else ""
        if "safe_mode" in str(error) or "arbitrary code" in str(error):
            raise ModelBroken(f"Keras safe mode refuses {path.name}: {message}") from error
        reason = f"{type(error).__name__}: {message}"
        raise ModelBroken(f"Keras cannot rebuild the model in {path.name}: {reason}") from error


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
