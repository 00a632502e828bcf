"""Loading MNIST: from a local `.npz` (argument or `MNIST_PATH`), else through Keras's downloader.

The app (Confusion matrix, Draw, Retrain pages) and training both read MNIST through here.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from model import settings
from model.store.files import file_sha256

Split = tuple[np.ndarray, np.ndarray]

EXPECTED = {
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}


class DataError(RuntimeError):
    """MNIST could not be loaded; the message says why and what to do."""


# Where a copy comes from when Keras cannot download it: what a message about missing MNIST says.
DOWNLOAD = "mnist.npz (11 MB, https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz)"


def mnist_path(path: str | os.PathLike | None = None) -> Path | None:
    """The local MNIST file to use: `path`, else `MNIST_PATH`, else None (download)."""
    return Path(path).expanduser() if path is not None else settings.mnist_file()


def _keras_cache() -> Path:
    return settings.keras_home() / "datasets" / "mnist.npz"


def local_mnist() -> Path | None:
    """MNIST on this machine without any download: `MNIST_PATH`, else Keras's earlier download, else None."""
    chosen = mnist_path()
    if chosen is not None:
        return chosen
    return _keras_cache() if _keras_cache().is_file() else None


def _check(name: str, array: np.ndarray, source: Path, full: bool) -> None:
    shape, dtype = EXPECTED[name]
    if array.dtype != dtype:
        raise DataError(f"{source.name}: {name} has dtype {array.dtype}, expected {np.dtype(dtype).name}.")
    wanted = shape if full else (None,) + shape[1:]
    if array.ndim != len(shape) or any(w is not None and w != s for w, s in zip(wanted, array.shape)):
        raise DataError(f"{source.name}: {name} has shape {array.shape}, expected {shape}.")
    if name.startswith("y") and array.size and int(array.max()) > 9:
        raise DataError(f"{source.name}: {name} holds label {int(array.max())}; labels must be 0-9.")


def read_npz(path: str | os.PathLike, full: bool = True) -> tuple[Split, Split]:
    """Reads and checks an MNIST `.npz`; `full=False` accepts any number of images (for tests).

    Raises DataError saying what is wrong; messages name the file, not the server's folders.
    """
    return read_npz_and_sha256(path, full)[0]


def read_npz_and_sha256(path: str | os.PathLike, full: bool = True) -> tuple[tuple[Split, Split], str]:
    """`read_npz`, and the sha256 of the very bytes it read (the file may change afterwards)."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"MNIST file not found: {source.name} does not exist.")
    data = source.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataError(
            f"{source.name} is not a .npz archive ({len(data):,} bytes, not a zip file): "
            "it is truncated, or another kind of file."
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            missing = sorted(set(EXPECTED) - set(archive.files))
            if missing:
                raise DataError(f"{source.name}: missing arrays {missing}; found {sorted(archive.files)}.")
            arrays = {name: archive[name] for name in EXPECTED}
    except DataError:
        raise
    except ValueError as error:
        # numpy refuses object arrays when pickles are not allowed.
        raise DataError(f"{source.name}: not an MNIST .npz of plain numeric arrays ({error}).") from error
    except Exception as error:  # A damaged archive: bad CRC, truncated member, zlib errors.
        raise DataError(f"{source.name} is damaged and cannot be read ({type(error).__name__}: {error}).") from error
    for name, array in arrays.items():
        _check(name, array, source, full)
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(f"{source.name}: x_{split} and y_{split} hold different numbers of items.")
    split = (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    return split, hashlib.sha256(data).hexdigest()


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Returns `(x_train, y_train), (x_test, y_test)` as uint8 arrays, like `keras.datasets.mnist.load_data()`."""
    return load_mnist_and_sha256(path)[0]


def load_mnist_and_sha256(path: str | os.PathLike | None = None) -> tuple[tuple[Split, Split], str | None]:
    """`load_mnist`, and the sha256 of what was read: of the local file's bytes as they were read,
    or of Keras's cached download (None when there is none)."""
    local = mnist_path(path)
    if local is not None:
        return read_npz_and_sha256(local)
    # Imported here: reading a local file needs numpy only, not TensorFlow's start-up.
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # Any failure here is a download or cache problem.
        raise DataError(f"Could not download MNIST ({error}).") from error
    cached = _keras_cache()
    return ((x_train, y_train), (x_test, y_test)), file_sha256(cached) if cached.is_file() else None
