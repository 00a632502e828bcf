"""The My digits page with many of your own digits: the wall time of its reruns, the first (every
file read, every digit classified) and the later ones (files read and results kept from before);
and a public-mode visitor's session filled to its byte budget (`model.store.my_digits.MAX_SESSION_BYTES`)."""

from __future__ import annotations

import os
import tempfile
import time
from unittest import mock

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from model.runtime.preprocess import from_uint8
from model.store import my_digits
from model.store.my_digits import FolderStore, MemoryStore

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")


def _rerun_times(app: AppTest, reruns: int) -> list[float]:
    """The page opened (`app` on My digits) rerun `reruns` times: each rerun's seconds."""
    if app.exception:
        raise RuntimeError(f"The My digits page failed: {app.exception[0].value}")
    times = []
    for _ in range(reruns):
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
    return times


def run(x_test: np.ndarray, y_test: np.ndarray, count: int, reruns: int) -> dict:
    """`count` test digits kept as your own, the page opened, then rerun `reruns` times."""
    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, {"MY_DIGITS": folder}):
        store = FolderStore(folder)
        for index in range(count):
            store.add(from_uint8(x_test[index]), int(y_test[index]))
        app = AppTest.from_file(APP, default_timeout=300).run()
        start = time.perf_counter()
        app.switch_page("pages/my_digits.py").run()
        first = time.perf_counter() - start
        times = _rerun_times(app, reruns)
    return {
        "my_digits_count": count,
        "my_digits_first_run_s": first,
        "my_digits_rerun_p50_ms": float(np.percentile(times, 50)) * 1000,
    }


def session_at_the_budget(x_test: np.ndarray, y_test: np.ndarray, reruns: int, drawings: bool) -> dict:
    """A public visitor's session holding as many digits as its budget allows, the page rerun
    `reruns` times. With `drawings` each has a 280x280 drawing (the test digit enlarged: grey all
    along its strokes, so it compresses worse than a canvas drawing); without, the most digits fit."""
    store = MemoryStore()
    index = 0
    try:
        while store.count() < my_digits.MAX_EXAMPLES:
            digit = x_test[index % len(x_test)]
            drawing = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
            store.add(from_uint8(digit), int(y_test[index % len(y_test)]), drawing if drawings else None)
            index += 1
    except ValueError:
        pass  # The budget is reached.
    with mock.patch.dict(os.environ, {"DIGITS_PUBLIC": "1"}):
        app = AppTest.from_file(APP, default_timeout=300)
        app.session_state["mydigits_store"] = store
        app.run().switch_page("pages/my_digits.py").run()
        times = _rerun_times(app, reruns)
    prefix = "my_digits_session_drawn" if drawings else "my_digits_session"
    return {
        f"{prefix}_count": store.count(),
        f"{prefix}_mb": store.nbytes() / 1e6,
        f"{prefix}_rerun_p50_ms": float(np.percentile(times, 50)) * 1000,
        f"{prefix}_rerun_max_ms": float(np.max(times)) * 1000,
    }


def measure(x_test: np.ndarray, y_test: np.ndarray, quick: bool) -> dict:
    """Every figure of this module: a dataset folder's digits, and a session at its budget."""
    reruns = 3 if quick else 10
    return {
        **run(x_test, y_test, 50 if quick else 1000, reruns),
        **session_at_the_budget(x_test, y_test, reruns, drawings=False),
        **session_at_the_budget(x_test, y_test, reruns, drawings=True),
    }
