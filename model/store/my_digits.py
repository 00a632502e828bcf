"""Your own digits: labelled examples of your handwriting, to measure a model on and to fine-tune with.

Each example is the 28x28 model input, its label and the raw drawing (grey, uint8, kept
zlib-compressed: a drawing is mostly black, so 262 KB of pixels take a few KB). On a
server's disk (`FolderStore`) each is one `.npz` file in the dataset folder (`MY_DIGITS`,
else `.my-digits` in the model registry), written atomically under a unique name: a crash
or two saves at once lose nothing and never leave half a file. In public mode a visitor's
examples stay in their session (`MemoryStore`), within a byte budget, and travel as a
downloaded `.npz`.

    store = FolderStore(dataset_dir())
    store.add(model_input, label=7, raw=drawing)
    images, labels = as_arrays(store.examples())
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model import settings
from model.store.files import atomic_write
from model.store.registry import registry_dir

FOLDER_NAME = ".my-digits"
# At most this many examples in a dataset or an imported file.
MAX_EXAMPLES = 5000
# A raw drawing is kept at most this large (its longer side, in pixels).
MAX_RAW = 512
# A visitor's digits kept in their session take at most this many bytes (see `Example.nbytes`).
MAX_SESSION_BYTES = 20 * 10**6
# What Python adds to each example held in memory (the record, the array and bytes objects).
HELD_OVERHEAD = 600


@dataclass(frozen=True)
class Example:
    id: str
    # The 28x28 model input, float32 in [0, 1].
    image: np.ndarray
    label: int
    # The drawing or upload it came from, grey uint8, zlib-compressed, and its (height, width);
    # (0, 0) when unknown.
    raw_zlib: bytes
    raw_shape: tuple[int, int]
    created: float

    @property
    def raw(self) -> np.ndarray:
        """The drawing as grey uint8 pixels (an empty array when unknown)."""
        return np.frombuffer(zlib.decompress(self.raw_zlib), np.uint8).reshape(self.raw_shape)

    @property
    def nbytes(self) -> int:
        """What this example takes in memory: its input, its compressed drawing and Python's overhead."""
        return self.image.nbytes + len(self.raw_zlib) + HELD_OVERHEAD


def _compressed(raw: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    return zlib.compress(np.ascontiguousarray(raw, np.uint8).tobytes(), 6), (int(raw.shape[0]), int(raw.shape[1]))


def dataset_dir() -> Path:
    """`MY_DIGITS` when set, else `.my-digits` in the model registry."""
    return settings.my_digits_folder() or registry_dir() / FOLDER_NAME


def new_example(image: np.ndarray, label: int, raw: np.ndarray | None = None) -> Example:
    """A checked example: a (28, 28) image in [0, 1], a label from 0 to 9, a grey raw drawing."""
    image = np.asarray(image)
    if image.shape != (28, 28) or not np.issubdtype(image.dtype, np.number) or not np.isfinite(image).all():
        raise ValueError(f"An example's image must be 28x28 numbers, got shape {image.shape}.")
    if image.min() < 0 or image.max() > 1:
        raise ValueError("An example's image must be in [0, 1].")
    _check_label(label)
    raw = np.zeros((0, 0), np.uint8) if raw is None else grey_uint8(raw)
    identity = f"{time.time_ns():x}-{secrets.token_hex(3)}"
    return Example(identity, image.astype(np.float32), int(label), *_compressed(raw), time.time())


def _check_label(label) -> None:
    if not isinstance(label, int | np.integer) or isinstance(label, bool) or not 0 <= label <= 9:
        raise ValueError(f"A label must be a digit from 0 to 9, got {label!r}.")


def grey_uint8(raw: np.ndarray) -> np.ndarray:
    """A drawing as grey uint8, at most MAX_RAW pixels on its longer side (every n-th pixel)."""
    raw = np.asarray(raw)
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
        raise ValueError(f"A raw drawing must hold numbers, not {raw.dtype}.")
    if raw.ndim == 3:
        raw = raw[..., :3].mean(axis=-1) if raw.shape[-1] >= 3 else raw[..., 0]
    if raw.ndim != 2:
        raise ValueError(f"A raw drawing must be a 2-D image, got shape {raw.shape}.")
    if raw.dtype != np.uint8:
        raw = np.clip(raw * (255.0 if raw.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    step = max(1, int(np.ceil(max(raw.shape) / MAX_RAW)))
    return np.ascontiguousarray(raw[::step, ::step])


def as_arrays(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) float32 images and (N,) int64 labels."""
    if not examples:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.stack([e.image for e in examples]), np.array([e.label for e in examples], np.int64)


class _Store:
    """What both stores share: adding one example, or many at once."""

    def add(self, image: np.ndarray, label: int, raw: np.ndarray | None = None) -> Example:
        """Adds one checked example (ValueError says what is wrong, or that there is no room)."""
        return self.add_all([(image, label, raw)])[0]

    def add_all(
        self, items: list[tuple[np.ndarray, int, np.ndarray | None]], skip_duplicates: bool = False
    ) -> list[Example]:
        """Adds every (image, label, raw), all checked first: all of them, or none (a failure part-way
        removes what was added). With `skip_duplicates`, an item whose image and label are those of
        an example kept already (or of an earlier item) is left out: an export imported again adds
        nothing. Returns the examples added."""
        examples = [new_example(image, label, raw) for image, label, raw in items]
        with self._lock:
            if skip_duplicates:
                examples = _without_duplicates(examples, self.examples())
            count = self.count()
            if count + len(examples) > MAX_EXAMPLES:
                if count:
                    raise ValueError(f"Together with the {count:,} you have, that is more than {MAX_EXAMPLES:,}.")
                raise ValueError(f"At most {MAX_EXAMPLES:,} examples can be kept.")
            self._check_room(examples)
            added = []
            try:
                for example in examples:
                    self._insert(example)
                    added.append(example)
            except BaseException:
                for example in added:
                    with contextlib.suppress(ValueError, OSError):
                        self._remove(example.id)
                raise
        return added

    def _check_room(self, examples: list[Example]) -> None:
        """Raises ValueError when the examples do not fit beside those kept (beyond their number)."""

    def delete(self, example_id: str) -> None:
        with self._lock:
            self._remove(example_id)


def _without_duplicates(examples: list[Example], kept: list[Example]) -> list[Example]:
    """`examples` less those whose image and label are those of a kept example or an earlier one."""
    seen = {(example.image.tobytes(), example.label) for example in kept}
    unique = []
    for example in examples:
        mark = (example.image.tobytes(), example.label)
        if mark not in seen:
            seen.add(mark)
            unique.append(example)
    return unique


class MemoryStore(_Store):
    """Examples held in memory: a public-mode visitor's, kept in their session, at most `budget`
    bytes of them (`Example.nbytes`)."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = MAX_SESSION_BYTES if budget is None else budget
        self._examples: dict[str, Example] = {}
        self._nbytes = 0
        self._lock = threading.RLock()

    def _check_room(self, examples: list[Example]) -> None:
        adding = sum(example.nbytes for example in examples)
        if self._nbytes + adding > self.budget:
            raise ValueError(
                f"Your digits would take {(self._nbytes + adding) / 1e6:,.1f} MB "
                f"({self._nbytes / 1e6:,.1f} MB kept and {adding / 1e6:,.1f} MB more); a visitor may keep "
                f"at most {self.budget / 1e6:,.0f} MB in their session. Download them and delete some, "
                "or keep fewer."
            )

    def _insert(self, example: Example) -> None:
        self._examples[example.id] = example
        self._nbytes += example.nbytes

    def _remove(self, example_id: str) -> None:
        example = self._examples.pop(example_id, None)
        if example is None:
            raise ValueError("That example is gone (deleted already).")
        self._nbytes -= example.nbytes

    def nbytes(self) -> int:
        """What the kept examples take (`Example.nbytes` summed)."""
        return self._nbytes

    def examples(self) -> list[Example]:
        with self._lock:
            return sorted(self._examples.values(), key=lambda example: example.id)

    def count(self) -> int:
        return len(self._examples)

    def relabel(self, example_id: str, label: int) -> Example:
        _check_label(label)
        with self._lock:
            if example_id not in self._examples:
                raise ValueError("That example is gone (deleted already).")
            example = self._examples[example_id] = replace(self._examples[example_id], label=int(label))
            return example


class FolderStore(_Store):
    """Examples on disk, one atomically written `.npz` per example (see the module's docstring)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        # Within this process; two processes adding at once may pass MAX_EXAMPLES by a few.
        self._lock = threading.RLock()

    def _path(self, example_id: str) -> Path:
        if not all(character in "0123456789abcdef-" for character in example_id):
            raise ValueError("That is not an example's id.")
        return self.folder / f"{example_id}.npz"

    def _write(self, example: Example) -> None:
        def write(temporary: str) -> None:
            with open(temporary, "wb") as handle:
                np.savez(
                    handle,
                    image=example.image,
                    label=np.int64(example.label),
                    raw=example.raw,
                    created=np.float64(example.created),
                )

        atomic_write(self._path(example.id), write)

    def _insert(self, example: Example) -> None:
        self._write(example)

    def _remove(self, example_id: str) -> None:
        try:
            self._path(example_id).unlink()
        except FileNotFoundError:
            raise ValueError("That example is gone (deleted already).") from None

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(path for path in self.folder.glob("*.npz") if not path.name.startswith("."))

    def count(self) -> int:
        """The files in the folder (a damaged one included)."""
        return len(self._files())

    def examples(self) -> list[Example]:
        """Every readable example, oldest first; a damaged file is skipped (see `unreadable`)."""
        found = []
        for path in self._files():
            example = _read(path)
            if example is not None:
                found.append(example)
        return found

    def unreadable(self) -> list[str]:
        """The names of files in the folder that are not readable examples."""
        return [path.name for path in self._files() if _read(path) is None]

    def relabel(self, example_id: str, label: int) -> Example:
        _check_label(label)
        example = _read(self._path(example_id))
        if example is None:
            raise ValueError("That example is gone (deleted already).")
        example = replace(example, label=int(label))
        self._write(example)
        return example


# What `_read` found in each file, by (path, inode, modification time, size): a page's rerun reads
# only the files that changed since. A rewrite (relabel) is a new file, so a new inode.
_read_cache: dict[tuple[str, int, int, int], Example | None] = {}
_read_cache_lock = threading.Lock()


def _read(path: Path) -> Example | None:
    """The example in a file, or None when it is not one; remembered while the file stays as it is."""
    try:
        stat = path.stat()
    except OSError:
        return None
    identity = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _read_cache_lock:
        if identity in _read_cache:
            return _read_cache[identity]
    example = _read_file(path)
    with _read_cache_lock:
        if len(_read_cache) >= 4 * MAX_EXAMPLES:
            _read_cache.clear()
        _read_cache[identity] = example
    return example


def _read_file(path: Path) -> Example | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            image, label = stored["image"], int(stored["label"])
            raw, created = stored["raw"], float(stored["created"])
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    if image.shape != (28, 28) or not 0 <= label <= 9 or raw.dtype != np.uint8 or raw.ndim != 2:
        return None
    return Example(path.stem, image.astype(np.float32), label, *_compressed(raw), created)
