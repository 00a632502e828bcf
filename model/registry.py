"""Model versions: the shipped default, and trained versions in a registry folder.

The registry folder is `MODEL_REGISTRY` when set, else `models/` in the project
(gitignored). Each version is a sub-folder holding `model.keras` and `metadata.json`;
`active.json` names the active one. Without a valid active version, the shipped
default in `model/default/` is used.
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.files import read_json, write_json
from model.schemas import RunMetadata
from model.storage import METADATA_FILE, MODEL_FILE, read_metadata, save_run

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_ID = "default"
ACTIVE_FILE = "active.json"


class ModelUnavailable(RuntimeError):
    """No usable model: the message says what is missing."""


@dataclass(frozen=True)
class ModelVersion:
    id: str
    path: Path
    metadata: RunMetadata

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_ID

    @property
    def cache_key(self) -> str:
        """Changes whenever the model file changes: key caches of results on it."""
        return f"{self.id}:{self.metadata.model_sha256}"


def registry_dir() -> Path:
    return Path(os.environ.get("MODEL_REGISTRY") or PROJECT_ROOT / "models")


def _read_version(version_id: str, path: Path) -> ModelVersion | None:
    if not (path / MODEL_FILE).is_file() or not (path / METADATA_FILE).is_file():
        return None
    try:
        return ModelVersion(version_id, path, read_metadata(path))
    except (OSError, ValueError):
        return None


def default_version() -> ModelVersion:
    version = _read_version(DEFAULT_ID, DEFAULT_DIR)
    if version is None:
        raise ModelUnavailable(f"The shipped model is missing from {DEFAULT_DIR}; restore it with git.")
    return version


def list_versions() -> list[ModelVersion]:
    """The shipped default first, then trained versions, newest first."""
    versions = [default_version()]
    folder = registry_dir()
    if folder.is_dir():
        trained = [
            _read_version(child.name, child)
            for child in folder.iterdir()
            if child.is_dir() and not child.name.startswith(".") and child.name != DEFAULT_ID
        ]
        versions += sorted((v for v in trained if v is not None), key=lambda v: v.metadata.created, reverse=True)
    return versions


def get_version(version_id: str) -> ModelVersion:
    if version_id == DEFAULT_ID:
        return default_version()
    if not version_id or "/" in version_id or version_id.startswith("."):
        raise ModelUnavailable(f"Not a version id: {version_id!r}.")
    version = _read_version(version_id, registry_dir() / version_id)
    if version is None:
        raise ModelUnavailable(f"Model version {version_id!r} is missing or incomplete.")
    return version


def active_version() -> ModelVersion:
    """The active version, falling back to the shipped default when none is set or it is gone."""
    try:
        chosen = read_json(registry_dir() / ACTIVE_FILE).get("id", DEFAULT_ID)
        return get_version(chosen)
    except (OSError, ValueError, AttributeError, ModelUnavailable):
        return default_version()


def set_active(version_id: str) -> ModelVersion:
    version = get_version(version_id)
    write_json({"id": version.id}, registry_dir() / ACTIVE_FILE)
    return version


def new_version_id(label: str = "run") -> str:
    """A unique, sortable folder name: UTC time, a label and a random suffix."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(character for character in label if character.isalnum() or character in "-_")[:20] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(4)}"


def publish_version(
    model, metadata: RunMetadata, version_id: str, registry: str | os.PathLike | None = None
) -> ModelVersion:
    """Writes a new version into `registry` (default: `registry_dir()`) atomically: into a hidden
    temporary folder, then one rename into place."""
    folder = Path(registry) if registry is not None else registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if version_id == DEFAULT_ID or (folder / version_id).exists():
        raise ValueError(f"Version {version_id!r} exists already.")
    staging = Path(tempfile.mkdtemp(prefix=f".{version_id}-", dir=folder))
    try:
        written = save_run(model, metadata, staging)
        os.rename(staging, folder / version_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelVersion(version_id, folder / version_id, written)


def delete_version(version_id: str) -> None:
    """Deletes a trained version (never the shipped default); the default becomes active if it was."""
    if version_id == DEFAULT_ID:
        raise ValueError("The shipped default model cannot be deleted.")
    version = get_version(version_id)
    if active_version().id == version_id:
        set_active(DEFAULT_ID)
    # Renamed first, so a half-deleted folder is never listed as a version.
    doomed = version.path.with_name(f".deleting-{version_id}")
    os.rename(version.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
