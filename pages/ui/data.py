"""MNIST and the heavy computations pages share: loaded or computed once, server-wide, a few at a
time (HEAVY_WORK), with a progress bar that moves."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import numpy as np
import streamlit as st

from model import settings
from model.analysis.evaluation import Evaluation, evaluation_from_probabilities
from model.runtime.inference import Predictor
from model.runtime.preprocess import from_uint8
from model.store.mnist import DOWNLOAD, DataError, Split, load_mnist, mnist_path

# Heavy on-demand work (evaluating a version on the 10,000 test images) runs this many at a
# time server-wide, so that a class opening a new version at once queues instead of piling up.
HEAVY_WORK = threading.BoundedSemaphore(settings.heavy_jobs())


@st.cache_resource(show_spinner="Loading MNIST...")
def _mnist(path: str | None) -> tuple[Split, Split]:
    return load_mnist(path)


def _mnist_or_message() -> tuple[Split, Split] | None:
    local = mnist_path()
    try:
        return _mnist(str(local) if local else None)
    except DataError as error:
        st.warning(
            f"MNIST is not available: {error}\n\nThis page needs the MNIST digits. Download {DOWNLOAD} on a "
            "machine with the network, then start the app with `MNIST_PATH=/path/to/mnist.npz streamlit run app.py`."
        )
        return None


def mnist_test_set() -> Split | None:
    """The MNIST test images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[1] if data is not None else None


def mnist_train_set() -> Split | None:
    """The MNIST training images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[0] if data is not None else None


@st.cache_data(max_entries=4, show_spinner=False)
def evaluation_on_test_set(
    cache_key: str, _predictor: Predictor, _x_test: np.ndarray, _y_test: np.ndarray
) -> Evaluation:
    """A model version's evaluation on the test set, computed once per version (the cache key), in a
    child process at a lower priority (`Predictor.probabilities_apart`), with a progress bar."""
    with HEAVY_WORK, work_bar(f"Evaluating this version on the {len(_x_test):,} test images") as report:
        return evaluation_from_probabilities(_y_test, _predictor.probabilities_apart(from_uint8(_x_test), report))


@contextlib.contextmanager
def work_bar(what: str, doing: Callable[[float], str] = "{:.0%}".format):
    """A progress bar for a first computation of `what` (kept afterwards, so once per version); yields the
    function that moves it, whose fraction `doing` puts in words, and removes the bar at the end."""
    bar = st.progress(0.0, text=f"{what} (once per version)...")

    def report(fraction: float) -> None:
        bar.progress(fraction, text=f"{what} (once per version): {doing(fraction)}")

    try:
        yield report
    finally:
        bar.empty()
