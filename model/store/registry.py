"""Model versions: the shipped default, and trained versions in a registry folder.

The registry folder is `MODEL_REGISTRY` when set, else `models/` in the project
(gitignored). Each version is a sub-folder holding `model.keras` and `metadata.json`;
`active.json` names the active one: the version a new visitor starts with. Without a
valid active version, the shipped default in `model/default/` is used.

The operator caps the registry with `DIGITS_MAX_VERSIONS` (trained versions, default 20)
and `DIGITS_MAX_REGISTRY_MB` (disk, default 1000), and manages it from a shell:

    python -m model.store.registry list
    python -m model.store.registry activate VERSION
    python -m model.store.registry delete VERSION
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import settings
from model.store.files import read_json, write_json
from model.store.schemas import RunMetadata
from model.store.snapshots import write_snapshots
from model.store.storage import METADATA_FILE, MODEL_FILE, read_metadata, save_run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = PROJECT_ROOT / "model" / "default"
DEFAULT_ID = "default"
ACTIVE_FILE = "active.json"
# Hidden folders of versions being written, and being deleted.
STAGING_PREFIX = ".staging-"
DELETING_PREFIX = ".deleting-"


class ModelUnavailable(RuntimeError):
    """No usable model: the message says what is missing."""


class RegistryFull(RuntimeError):
    """The registry holds as many versions, or as many megabytes, as the operator allows."""


@dataclass(frozen=True)
class ModelVersion:
    id: str
    path: Path
    metadata: RunMetadata
    # Why the version cannot be used (its files are missing or malformed), "" when it looks whole.
    # A model file that Keras cannot load is found only when loading it (`model.store.storage.ModelBroken`).
    problem: str = ""

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_ID

    @property
    def cache_folder(self) -> Path:
        """Where results computed from this version are kept: beside it in the registry (the
        shipped default's in the registry's `.cache/default`, as model/default/ belongs to git)."""
        if self.is_default:
            return registry_dir() / ".cache" / DEFAULT_ID
        return self.path / ".cache"

    @property
    def cache_key(self) -> str:
        """Changes whenever the model file changes: key caches of results on it."""
        return f"{self.id}:{self.metadata.model_sha256}"


def registry_dir() -> Path:
    return settings.registry_folder()


def _read_version(version_id: str, path: Path) -> ModelVersion:
    """The version in a folder; one with missing or malformed files says so in `problem`."""
    for name in (MODEL_FILE, METADATA_FILE):
        if not (path / name).is_file():
            return ModelVersion(version_id, path, RunMetadata(), problem=f"{name} is missing.")
    try:
        return ModelVersion(version_id, path, read_metadata(path))
    except (OSError, ValueError) as error:
        return ModelVersion(version_id, path, RunMetadata(), problem=f"{METADATA_FILE} is malformed: {error}")


def default_version() -> ModelVersion:
    version = _read_version(DEFAULT_ID, DEFAULT_DIR)
    if version.problem:
        raise ModelUnavailable(f"The shipped model cannot be used ({version.problem}); restore model/default with git.")
    return version


def list_versions() -> list[ModelVersion]:
    """The shipped default first, then trained versions, newest first, then broken ones (`problem`),
    listed so that they can be deleted."""
    versions = [default_version()]
    folder = registry_dir()
    if folder.is_dir():
        trained = [
            _read_version(child.name, child)
            for child in folder.iterdir()
            if child.is_dir() and not child.name.startswith(".") and child.name != DEFAULT_ID
        ]
        versions += sorted(trained, key=lambda v: (not v.problem, v.metadata.created, v.id), reverse=True)
    return versions


def get_version(version_id: str) -> ModelVersion:
    if version_id == DEFAULT_ID:
        return default_version()
    if not version_id or "/" in version_id or version_id.startswith("."):
        raise ModelUnavailable(f"Not a version id: {version_id!r}.")
    path = registry_dir() / version_id
    if not path.is_dir():
        raise ModelUnavailable(f"There is no version {version_id!r}.")
    return _read_version(version_id, path)


def active_id() -> str:
    """The id `active.json` names, or the shipped default's when the file is absent or malformed."""
    try:
        chosen = read_json(registry_dir() / ACTIVE_FILE)
    except (OSError, ValueError):
        return DEFAULT_ID
    if not isinstance(chosen, dict) or not isinstance(chosen.get("id"), str) or not chosen["id"]:
        return DEFAULT_ID
    return chosen["id"]


def active_version() -> ModelVersion:
    """The active version, falling back to the shipped default when none is set, or it is gone or broken."""
    try:
        version = get_version(active_id())
    except ModelUnavailable:
        return default_version()
    return default_version() if version.problem else version


def set_active(version_id: str) -> ModelVersion:
    """Makes a version the default for new visitors; refuses one whose files are broken."""
    version = get_version(version_id)
    if version.problem:
        raise ModelUnavailable(f"Version {version_id} cannot be used: {version.problem}")
    try:
        write_json({"id": version.id}, registry_dir() / ACTIVE_FILE)
    except OSError as error:
        raise ModelUnavailable(
            f"The default version cannot be changed: the registry cannot be written ({error.strerror})."
        ) from None
    return version


def new_version_id(label: str = "run") -> str:
    """A unique, sortable folder name: UTC time, a label and a random suffix."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(character for character in label if character.isalnum() or character in "-_")[:20] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(4)}"


def check_room(registry: str | os.PathLike | None = None, written: bool = False) -> None:
    """Raises RegistryFull when one more version would pass the operator's caps; with `written`,
    when the new version, written already into its hidden staging folder, passes them."""
    folder = Path(registry) if registry is not None else registry_dir()
    if not folder.is_dir():
        return
    count = sum(1 for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    limit = settings.max_versions()
    if count >= limit:
        raise RegistryFull(f"The registry holds {count} versions, the most allowed ({limit}); delete one first.")
    # Every file in the registry, a staging folder's included.
    used = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    megabytes = settings.max_registry_mb()
    if used > megabytes * 1024 * 1024 or (not written and used == megabytes * 1024 * 1024):
        what = "With this version the registry would use" if written else "The registry uses"
        raise RegistryFull(f"{what} {used / 2**20:.0f} MB of the {megabytes} MB allowed; delete a version first.")


def publish_version(
    model,
    metadata: RunMetadata,
    version_id: str,
    registry: str | os.PathLike | None = None,
    snapshots: dict[str, np.ndarray] | None = None,
) -> ModelVersion:
    """Writes a new version into `registry` (default: `registry_dir()`) atomically: into a hidden
    temporary folder, then one rename into place; with its training `snapshots` when given.
    Raises RegistryFull past the operator's caps."""
    folder = Path(registry) if registry is not None else registry_dir()
    check_room(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if version_id == DEFAULT_ID or (folder / version_id).exists():
        raise ValueError(f"Version {version_id!r} exists already.")
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version_id}-", dir=folder))
    # Locked while it is written, so that `clean_leftovers` (in any process) leaves it alone.
    handle = os.open(staging, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        written = save_run(model, metadata, staging)
        if snapshots is not None:
            write_snapshots(snapshots, staging)
        check_room(folder, written=True)
        os.rename(staging, folder / version_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(handle)
    return ModelVersion(version_id, folder / version_id, written)


def clean_leftovers(registry: str | os.PathLike | None = None) -> list[str]:
    """Removes what a killed process left in the registry: a version half written (its staging
    folder, unless a live process still writes it) or half deleted. Returns the names removed."""
    folder = Path(registry) if registry is not None else registry_dir()
    if not folder.is_dir():
        return []
    removed = []
    for child in folder.iterdir():
        if not child.is_dir() or not child.name.startswith((STAGING_PREFIX, DELETING_PREFIX)):
            continue
        try:
            handle = os.open(child, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # Being written now.
        finally:
            os.close(handle)
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child.name)
    return removed


def delete_version(version_id: str) -> None:
    """Deletes a trained version (never the shipped default); the default becomes active if it was."""
    if version_id == DEFAULT_ID:
        raise ValueError("The shipped default model cannot be deleted.")
    version = get_version(version_id)
    if active_id() == version_id:
        set_active(DEFAULT_ID)
    # Renamed first, so a half-deleted folder is never listed as a version. A unique name, so
    # that two deletes at once cannot collide: the second finds the version gone.
    doomed = version.path.with_name(f"{DELETING_PREFIX}{version_id}-{secrets.token_hex(4)}")
    try:
        os.rename(version.path, doomed)
    except FileNotFoundError:
        raise ModelUnavailable(f"Version {version_id} was deleted already.") from None
    except OSError as error:
        raise ModelUnavailable(
            f"Version {version_id} cannot be deleted: the registry cannot be written ({error.strerror})."
        ) from None
    shutil.rmtree(doomed, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The operator's command line: list, activate (make the default for new visitors) and delete versions."""
    parser = argparse.ArgumentParser(prog="python -m model.store.registry", description="Manage the model versions.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the versions, the default for new visitors marked *")
    commands.add_parser("activate", help="make a version the default for new visitors").add_argument("version")
    commands.add_parser("delete", help="delete a trained version").add_argument("version")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            default = active_version().id
            for version in list_versions():
                accuracy = version.metadata.test_accuracy
                shown = f"{accuracy:.2%}" if accuracy is not None else "?"
                about = (
                    f"BROKEN: {version.problem}"
                    if version.problem
                    else f"{version.metadata.preset}  {version.metadata.created}"
                )
                print(f"{'*' if version.id == default else ' '} {version.id}  {shown}  {about}")
        elif args.command == "activate":
            print(f"{set_active(args.version).id} is now the default for new visitors.")
        else:
            delete_version(args.version)
            print(f"Deleted {args.version}.")
    except (ModelUnavailable, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
