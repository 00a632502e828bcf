"""Your digits as one `.npz` file, to download and to import: `images` (N, 28, 28) float32,
`labels` (N,) and each raw drawing as `raw_<i>`. An import is checked whole (its size unpacked
before anything is unpacked, then every array) and refused with the reason."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from model.store import my_digits
from model.store.my_digits import Example, as_arrays, grey_uint8

# An imported .npz may take at most this many bytes unpacked.
MAX_UNPACKED = 200 * 10**6


def to_npz(examples: list[Example]) -> bytes:
    """The examples as one `.npz`: `images` (N, 28, 28) float32, `labels` (N,), and each raw drawing as `raw_<i>`."""
    images, labels = as_arrays(examples)
    raws = {f"raw_{index}": example.raw for index, example in enumerate(examples) if example.raw.size}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels, **raws)
    return buffer.getvalue()


def from_npz(data: bytes) -> list[tuple[np.ndarray, int, np.ndarray | None]]:
    """(image, label, raw) for each example of an `.npz` that `to_npz` wrote (or any with `images`
    (N, 28, 28), in [0, 1] or uint8, and `labels` (N,) of digits); ValueError says what is wrong.
    What the archive would take unpacked is checked before anything is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise ValueError("This is not a readable .npz file.") from None
    if unpacked > MAX_UNPACKED:
        raise ValueError(f"This file would take {unpacked / 1e6:,.0f} MB unpacked; at most {MAX_UNPACKED // 10**6} MB.")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            if "images" not in stored.files or "labels" not in stored.files:
                raise ValueError("The file needs arrays named images and labels.")
            images, labels = stored["images"], stored["labels"]
            raws = {name: stored[name] for name in stored.files if name.startswith("raw_")}
    except (OSError, EOFError) as error:
        raise ValueError(f"This is not a readable .npz file ({type(error).__name__}).") from None
    except ValueError as error:
        message = str(error)
        raise ValueError(message if "images and labels" in message else "This is not a readable .npz file.") from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"images must be shaped (N, 28, 28), got {images.shape}.")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {len(images)} whole numbers, got shape {labels.shape}.")
    most = my_digits.MAX_EXAMPLES
    if len(images) > most:
        raise ValueError(f"The file holds {len(images):,} examples; at most {most:,} can be imported.")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError("labels must be digits from 0 to 9.")
    images = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    if not np.isfinite(images).all() or (len(images) and (images.min() < 0 or images.max() > 1)):
        raise ValueError("images must be in [0, 1] (or uint8).")
    checked = {}
    for name, raw in raws.items():
        try:
            checked[name] = grey_uint8(raw)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return [
        (images[index].astype(np.float32), int(labels[index]), checked.get(f"raw_{index}"))
        for index in range(len(images))
    ]
