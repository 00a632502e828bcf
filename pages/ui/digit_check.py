"""Does the input look like a digit at all? The plain warning of Draw and Feature maps, from
`model.analysis.novelty`.

A version's reference (what its digits look like) is fitted once on MNIST's training digits,
in the background (a child process at a lower priority), and kept beside the
version: once for all the replicas that share the registry (the others wait for it). Until
it is there the pages say so in a caption and show the prediction as usual.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from model.analysis.novelty import Reference, cached_reference, kept_reference, novelty
from model.store.mnist import DataError, local_mnist, read_npz
from model.store.registry import ModelVersion
from pages.ui.data import HEAVY_WORK

# Versions whose references stay in memory.
KEPT_IN_MEMORY = 8
# Why there is no check while MNIST has not been read or downloaded on this server.
NO_MNIST = "it needs MNIST's training digits, which are not on this server yet (pages that use MNIST download them)"


class Status(enum.Enum):
    READY = "ready"
    PREPARING = "preparing"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class DigitCheck:
    """How unlike the training digits an input is: `score` above 1 is unlike 199 in 200 of them
    (None unless READY); `reason` says why the check is UNAVAILABLE."""

    status: Status
    score: float | None = None
    reason: str = ""

    @property
    def unlike_digits(self) -> bool:
        return self.status is Status.READY and self.score is not None and self.score > 1.0


@dataclass
class _Fitting:
    """The server's references by version (cache key), and the fits under way: one at a time, each
    version's once per server."""

    waiting: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    thread: threading.Thread | None = None
    futures: dict[str, Future] = field(default_factory=dict)
    known: dict[str, Reference] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, version: ModelVersion, mnist: Path) -> Future:
        """`_fit(version, mnist)` in the fitting thread, after the fits before it; the caller holds `lock`.

        The thread is a daemon: a server that stops does not wait for a fit (a minute of a child
        process, stopped with the server). A ThreadPoolExecutor's threads are joined at exit."""
        future: Future = Future()
        self.waiting.put((future, version, mnist))
        if self.thread is None:
            self.thread = threading.Thread(target=self._fit_in_turn, name="digit-check", daemon=True)
            self.thread.start()
        return future

    def _fit_in_turn(self) -> None:
        while True:
            future, version, mnist = self.waiting.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(_fit(version, mnist))
                except Exception as error:  # Read by the page through the future.
                    future.set_exception(error)


@st.cache_resource(show_spinner=False)
def _fitting() -> _Fitting:
    return _Fitting()


def _fit(version: ModelVersion, mnist: Path) -> Reference:
    """In the fitting thread: MNIST's training digits, then the reference (never a Streamlit call here)."""
    try:
        (images, labels), _ = read_npz(mnist, full=False)
        with HEAVY_WORK:
            return cached_reference(str(version.model_file), images, labels, version.cache_folder, _sha(version))
    except Exception as error:  # Said once here; the pages say only that there is no check.
        logging.getLogger(__name__).warning("No digit check for version %s: %s", version.id, error)
        raise


def _sha(version: ModelVersion) -> str:
    return version.metadata.model_sha256 or version.cache_key


def _reference(version: ModelVersion) -> Reference | DigitCheck:
    """The version's reference, or the check's status while it is being fitted or cannot be."""
    fitting, key = _fitting(), version.cache_key
    with fitting.lock:
        if key in fitting.known:
            return fitting.known[key]
    # Kept on disk (one look for a missing file costs microseconds), else fitted in the background.
    kept = kept_reference(version.cache_folder, _sha(version))
    if kept is not None:
        _remember(fitting, key, kept)
        return kept
    with fitting.lock:
        future = fitting.futures.get(key)
        if future is None:
            mnist = local_mnist()
            if mnist is None:
                # Asked again on the next rerun: a page that uses MNIST may have downloaded it by then.
                return DigitCheck(Status.UNAVAILABLE, reason=NO_MNIST)
            future = fitting.futures[key] = fitting.submit(version, mnist)
    if not future.done():
        return DigitCheck(Status.PREPARING)
    try:
        reference = future.result()
    except DataError:
        return DigitCheck(Status.UNAVAILABLE, reason=NO_MNIST)
    except Exception:  # A model the check cannot be fitted for (logged by _fit): the page still works.
        return DigitCheck(Status.UNAVAILABLE, reason="it could not be prepared for this version")
    _remember(fitting, key, reference)
    with fitting.lock:
        fitting.futures.pop(key, None)
    return reference


def _remember(fitting: _Fitting, key: str, reference: Reference) -> None:
    with fitting.lock:
        fitting.known[key] = reference
        # A few versions' references in memory (each under a megabyte); others are read again from disk.
        while len(fitting.known) > KEPT_IN_MEMORY:
            fitting.known.pop(next(iter(fitting.known)))


def check_digit(version: ModelVersion, model, image: np.ndarray, summarise=None) -> DigitCheck:
    """How unlike the version's training digits one (28, 28) model input is; `summarise`, a
    predictor's `summaries`, computes the check's forward pass in the forward worker."""
    reference = _reference(version)
    if isinstance(reference, DigitCheck):
        return reference
    try:
        return DigitCheck(Status.READY, float(novelty(model, reference, image[None], summarise)[0]))
    except ValueError:
        return DigitCheck(Status.UNAVAILABLE, reason="it was prepared for another model")


def show_digit_check(check: DigitCheck, predicted: int) -> None:
    """A warning when the input is unlike the digits; a caption while the check is not ready."""
    if check.unlike_digits:
        st.warning(
            f"**This does not look like a digit.** It is less like the digits this network learned from than "
            f"199 in 200 real digits are, so its answer ({predicted}) means little, however sure it is.",
            icon=":material/help:",
        )
    elif check.status is Status.PREPARING:
        st.caption(
            "The check that an input looks like a digit is being prepared for this version "
            "(once, about half a minute); until then any drawing gets a digit."
        )
    elif check.status is Status.UNAVAILABLE:
        st.caption(f"No check that an input looks like a digit: {check.reason}.")
