"""The My digits page with many of your own digits: the wall time of its reruns, the first (every
file read, every digit classified) and the later ones (files read and results kept from before)."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from streamlit.testing.v1 import AppTest

from model.my_digits import FolderStore
from model.preprocess import from_uint8

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")


def run(x_test: np.ndarray, y_test: np.ndarray, count: int, reruns: int) -> dict:
    """`count` test digits kept as your own, the page opened, then rerun `reruns` times."""
    with tempfile.TemporaryDirectory() as folder:
        previous = os.environ.get("MY_DIGITS")
        os.environ["MY_DIGITS"] = folder
        try:
            store = FolderStore(folder)
            for index in range(count):
                store.add(from_uint8(x_test[index]), int(y_test[index]))
            app = AppTest.from_file(APP, default_timeout=300).run()
            start = time.perf_counter()
            app.switch_page("pages/my_digits.py").run()
            first = time.perf_counter() - start
            if app.exception:
                raise RuntimeError(f"The My digits page failed: {app.exception[0].value}")
            times = []
            for _ in range(reruns):
                start = time.perf_counter()
                app.run()
                times.append(time.perf_counter() - start)
        finally:
            if previous is None:
                os.environ.pop("MY_DIGITS", None)
            else:
                os.environ["MY_DIGITS"] = previous
    return {
        "my_digits_count": count,
        "my_digits_first_run_s": first,
        "my_digits_rerun_p50_ms": float(np.percentile(times, 50)) * 1000,
    }
