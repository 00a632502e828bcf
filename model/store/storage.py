"""Keras model files: safe loads, and atomic saves of a model with its metadata.

A run's folder holds `model.keras` and `metadata.json` (a `RunMetadata`); both are
written atomically (see `model.store.files`), the model first.
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

import keras

from model.store.files import METADATA_FILE, MODEL_FILE, atomic_write, file_sha256, read_json, write_json
from model.store.schemas import RunMetadata


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Saves a model as `.keras`, atomically."""
    atomic_write(path, lambda temporary: model.save(temporary), suffix=".keras")


class ModelBroken(ValueError):
    """A model file that cannot be loaded; the message gives the real reason, without server paths."""


# Model files found unusable (Keras could not load them, or they answered NaN), by (path,
# modification time, size), with the reason: later reruns do not try them again, and a file
# that changes is tried afresh.
_known_broken: dict[tuple[str, int, int], str] = {}
_known_broken_lock = threading.Lock()


def _file_identity(path: str | os.PathLike) -> tuple[str, int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return str(path), 0, 0
    return str(path), stat.st_mtime_ns, stat.st_size


def remember_broken(path: str | os.PathLike, reason: str) -> None:
    """Marks a model file, as it is now, as unusable for `reason` (see `known_problem`)."""
    with _known_broken_lock:
        _known_broken[_file_identity(path)] = reason


def known_problem(path: str | os.PathLike) -> str:
    """Why a model file, as it is now, was found unusable; "" when it was not."""
    return _known_broken.get(_file_identity(path), "")


# What a `.keras` archive may hold, from its listing, before Keras opens it (Python's zipfile
# reads no more than a member's listed size): a model of this app holds three members, a
# config of tens of kilobytes and weights of a few megabytes.
MAX_MEMBERS = 32
MAX_JSON_BYTES = 4 * 2**20
MAX_UNPACKED_BYTES = 128 * 2**20


def check_archive(path: Path) -> None:
    """Raises ModelBroken when the archive's listing is past the limits above."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelBroken(f"{path.name} is not a readable .keras archive ({type(error).__name__}).") from error
    if len(members) > MAX_MEMBERS:
        raise ModelBroken(f"{path.name} holds {len(members):,} members; at most {MAX_MEMBERS}.")
    for member in members:
        if member.filename.endswith(".json") and member.file_size > MAX_JSON_BYTES:
            raise ModelBroken(
                f"{member.filename} in {path.name} would take {member.file_size / 2**20:,.0f} MB unpacked; "
                f"at most {MAX_JSON_BYTES // 2**20} MB."
            )
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ModelBroken(
            f"{path.name} would take {unpacked / 2**20:,.0f} MB unpacked; at most {MAX_UNPACKED_BYTES // 2**20} MB."
        )


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
    check_archive(path)
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
