"""Forward passes in a process of their own, for the app's hot path (a stroke on the Draw page).

After every script run Streamlit calls `keras.backend.clear_session()` when Keras is
loaded, which clears TensorFlow's kernel cache: the next forward pass in the app's process
then costs many times a traced call's time, and more while other sessions run
(docs/architecture.md has the figures). This worker process loads the same model files
(safe mode) and answers probability requests, and the digit check's summaries, over a pipe,
where nothing clears its caches.
One worker serves every session and version of the server; requests are answered one at a
time.

    worker = ForwardWorker()
    worker.probabilities("model/default/model.keras", images)   # (N, 10)

Until the worker has started and loaded a model (in the background), or if it stops
answering, `probabilities` raises `WorkerUnavailable` and the caller computes in its own
process instead.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading

import numpy as np

from model.analysis.novelty import summaries
from model.runtime.apart import start_without_main
from model.runtime.forward_serve import serve
from model.runtime.inference import Predictor, as_model_input, finite

# Seconds to wait for the worker to start (it imports TensorFlow) and for one answer.
START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 30.0
# A caller waits this long for the worker to be free (it may be loading another model),
# then computes in its own process.
BUSY_TIMEOUT = 0.2


class WorkerUnavailable(RuntimeError):
    """The worker process could not start or did not answer."""


class ForwardWorker:
    """The client of one worker process; thread-safe, and never makes a caller wait for a start.

    The process starts, and loads each model, in a background thread when a `Routed` predictor
    is made for it (`warm_up`), or at the latest on first use; until a
    model is ready there, `probabilities` raises WorkerUnavailable at once and the caller
    computes in its own process. A worker that dies is started again the same way.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._connection = None
        self._ready: set[str] = set()
        self._warming: set[str] = set()
        # (kind, model file) the worker could not answer: not tried again.
        self._failed: set[tuple[str, str]] = set()

    def probabilities(self, model_file: str, images: np.ndarray) -> np.ndarray:
        """Class probabilities for model input images (float32, (N, 28, 28, 1)) from the worker."""
        return self._request("probabilities", model_file, images)

    def summaries(self, model_file: str, images: np.ndarray) -> list[np.ndarray]:
        """The digit check's `model.analysis.novelty.summaries` of (N, 28, 28) images, from the worker."""
        return self._request("summaries", model_file, images)

    def _request(self, kind: str, model_file: str, images: np.ndarray):
        if ("probabilities", model_file) in self._failed:
            raise WorkerUnavailable("The forward worker could not load this model.")
        if (kind, model_file) in self._failed:
            raise WorkerUnavailable(f"The forward worker could not answer this model's {kind}.")
        if model_file not in self._ready:
            self.warm_up(model_file)
            raise WorkerUnavailable("The forward worker is not ready for this model yet.")
        if not self._lock.acquire(timeout=BUSY_TIMEOUT):
            raise WorkerUnavailable("The forward worker is busy.")
        try:
            return self._ask(model_file, images, kind)
        finally:
            self._lock.release()

    def _ask(self, model_file: str, images: np.ndarray, kind: str = "probabilities"):
        """One request and its answer; the caller holds the lock."""
        if self._process is None or not self._process.is_alive():
            self._stop()
            raise WorkerUnavailable("The forward worker stopped.")
        try:
            self._connection.send((model_file, images, kind))
            if not self._connection.poll(ANSWER_TIMEOUT):
                raise WorkerUnavailable(f"The forward worker did not answer within {ANSWER_TIMEOUT:.0f} s.")
            status, value = self._connection.recv()
        except (EOFError, OSError, WorkerUnavailable) as error:
            self._stop()
            raise WorkerUnavailable(str(error) or "The forward worker stopped.") from error
        if status != "ok":
            self._failed.add((kind, model_file))
            raise WorkerUnavailable(f"The forward worker failed: {value}")
        return value

    def warm_up(self, model_file: str) -> None:
        """Starts the process if needed and loads `model_file` in it, in a background thread."""
        with self._lock:
            if model_file in self._warming:
                return
            self._warming.add(model_file)
        threading.Thread(target=self._warm, args=(model_file,), name="forward-worker-warm-up", daemon=True).start()

    def _warm(self, model_file: str) -> None:
        try:
            with self._lock:
                self._start()
                self._ask(model_file, np.zeros((1, 28, 28, 1), np.float32))
                # The digit check's function is traced here too, not at a visitor's stroke.
                with contextlib.suppress(WorkerUnavailable):
                    self._ask(model_file, np.zeros((1, 28, 28), np.float32), "summaries")
                self._ready.add(model_file)
        except WorkerUnavailable as error:
            logging.getLogger(__name__).warning("%s", error)
        finally:
            self._warming.discard(model_file)

    def _start(self) -> None:
        """Starts the process unless it runs; the caller holds the lock."""
        if self._process is not None and self._process.is_alive():
            return
        self._stop()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=serve, args=(theirs,), name="forward-worker", daemon=True)
        try:
            start_without_main(process)
            theirs.close()
            if not ours.poll(START_TIMEOUT) or ours.recv()[0] != "ready":
                raise WorkerUnavailable("The forward worker did not start.")
        except (OSError, EOFError, WorkerUnavailable) as error:
            if process.is_alive():
                process.kill()
            raise WorkerUnavailable(f"The forward worker did not start: {error}") from error
        self._process, self._connection = process, ours

    def _stop(self) -> None:
        """Stops the process; the caller holds the lock."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None
        self._ready.clear()


_worker = ForwardWorker()


def shared_worker() -> ForwardWorker:
    """The worker of this process, shared by every predictor."""
    return _worker


# Batches up to this size go to the forward worker; larger ones (an evaluation) are computed in
# the caller's process, so they never hold up a stroke in the worker's queue.
WORKER_BATCH = 16


class Routed:
    """A `Predictor` whose small batches are computed in the forward worker's process, and in the
    predictor's own process while the worker is unavailable. Everything else is the predictor's."""

    def __init__(self, predictor: Predictor, worker: ForwardWorker):
        if predictor.model_file is None:
            raise ValueError("A forward worker needs the model's file.")
        self.predictor = predictor
        self.model = predictor.model
        self.model_file = predictor.model_file
        self._worker = worker
        # The worker starts now, while the first visitors open their pages, rather than on the first
        # stroke: until it is ready, every stroke is computed in the app's process, ten times slower.
        worker.warm_up(self.model_file)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """`Predictor.probabilities`, for a small batch from the worker when it answers."""
        batch = as_model_input(images)
        if 0 < len(batch) <= WORKER_BATCH:
            try:
                return finite(self._worker.probabilities(self.model_file, batch), self.model_file)
            except WorkerUnavailable as error:
                logging.getLogger(__name__).debug("%s Computing in the app's process instead.", error)
        return self.predictor.probabilities(batch)

    def probabilities_of_image(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities, shaped (10,), for one (28, 28) image."""
        if np.shape(image) != (28, 28):
            raise ValueError(f"Expected one image shaped (28, 28), got {np.shape(image)}.")
        return self.probabilities(image)[0]

    def summaries(self, images: np.ndarray) -> list[np.ndarray]:
        """The digit check's `novelty.summaries` of a few (N, 28, 28) model inputs, from the worker
        when it answers: in the app's process they cost a stroke more than the prediction."""
        images = np.asarray(images, np.float32)
        if 0 < len(images) <= WORKER_BATCH:
            try:
                return self._worker.summaries(self.model_file, images)
            except WorkerUnavailable as error:
                logging.getLogger(__name__).debug("%s Computing in the app's process instead.", error)
        return summaries(self.model, images)

    def probabilities_apart(self, images: np.ndarray, progress=None) -> np.ndarray:
        return self.predictor.probabilities_apart(images, progress)

    def probabilities_in_process(self, images: np.ndarray, progress=None) -> np.ndarray:
        return self.predictor.probabilities_in_process(images, progress)
