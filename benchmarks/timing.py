"""Timing single calls: each call's wall time in milliseconds, after warm-up calls."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def call_times(function: Callable[[], object], calls: int, warmup: int = 3) -> np.ndarray:
    """The wall time of each of `calls` calls, in milliseconds, after `warmup` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)
