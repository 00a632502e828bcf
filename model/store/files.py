"""Atomic file writes and plain reads: JSON, arrays, any file through a writer function, checksums.

A file is first written next to its destination under a temporary name, flushed to
disk, then renamed over the destination: a crash or a cancel leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

# A run's folder: the model, and its metadata (`model.store.schemas.RunMetadata`).
MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> None:
    """Calls `write(temporary_path)`, then renames the temporary file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp" + suffix, dir=path.parent)
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


def write_json(data: Any, path: str | os.PathLike) -> None:
    """Writes JSON, atomically."""

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")

    atomic_write(path, write)


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON of a file; OSError or ValueError when it cannot be read."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Arrays computed from a model (features, maps, patches), kept beside its version as `.npz`.


def array_digest(array: np.ndarray) -> str:
    """A short digest of an array's bytes: part of the name of a result computed from it."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of an `.npz` file (never a pickle), or None when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError):
        return None


def kept_or_computed(
    path: str | os.PathLike, names: set[str], compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays kept in `path` when it holds every one of `names`, else `compute()`'s, kept
    there (atomically) for next time: one read-or-compute cache of results beside a model."""
    stored = read_arrays(path)
    if stored is not None and names <= stored.keys():
        return stored
    with computing_alone(path):
        # Another process (a replica sharing the registry) may have kept it while this one waited.
        stored = read_arrays(path)
        if stored is not None and names <= stored.keys():
            return stored
        arrays = compute()
        write_arrays(path, arrays)
    return arrays


@contextlib.contextmanager
def computing_alone(path: str | os.PathLike) -> Iterator[None]:
    """Holds `path`'s lock file (`<path>.lock`, flock) while what is kept at `path` is computed:
    replicas sharing a registry compute it once, and the others wait, then read it. Where no
    lock can be taken (a read-only disk), computes without one."""
    with contextlib.ExitStack() as stack:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open(f"{os.fspath(path)}.lock", "ab"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass
        yield


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Keeps arrays as an `.npz` file, atomically; on a read-only disk they are only not kept."""

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    with contextlib.suppress(OSError):
        atomic_write(path, write)


def locking_problem(folder: str | os.PathLike) -> str:
    """Why `folder` cannot be the app's shared folder, "" when it can: the app needs `flock` locks
    (one training at a time, staging clean-up) and atomic renames there, across every process that
    shares it. A local disk and NFSv4 have both; some network and object-store mounts do not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".lock-probe"
        with open(probe, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except BlockingIOError:
                pass  # Another process holds it now: locking works.
        write_json({"probe": True}, folder / ".rename-probe.json")
    except OSError as error:
        return (
            f"the folder {folder} cannot hold the app's file locks or atomic renames ({error.strerror or error}). "
            "Use a local disk or NFSv4 for MODEL_REGISTRY and MY_DIGITS, not an object store or a mount without flock."
        )
    return ""
