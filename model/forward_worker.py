"""Forward passes in a process of their own, for the app's hot path (a stroke on the Draw page).

After every script run Streamlit calls `keras.backend.clear_session()` when Keras is
loaded, which clears TensorFlow's kernel cache: the next forward pass in the app's process
then costs about 30 ms instead of 1.5 ms, and more while other sessions run. This worker
process loads the same model files (safe mode) and answers probability requests over a
pipe, where nothing clears its caches. One worker serves every session and version of the
server; requests are answered one at a time (a 28x28 image takes about 1 ms).

    worker = ForwardWorker()
    worker.probabilities("model/default/model.keras", images)   # (N, 10)

If the worker cannot start or stops answering, `probabilities` raises `WorkerUnavailable`
and the caller computes in its own process instead.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import OrderedDict

import numpy as np

# Models kept loaded in the worker, most recently used first.
MAX_MODELS = 4
# Seconds to wait for the worker to start (it imports TensorFlow) and for one answer.
START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 30.0


class WorkerUnavailable(RuntimeError):
    """The worker process could not start or did not answer."""


def _serve(connection) -> None:
    """The worker process: loads models on demand and answers (model_file, images) with probabilities."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # One thread: single images gain nothing from more, and the app's process keeps the cores.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from model.inference import Predictor
    from model.storage import load_model

    predictors: OrderedDict[str, Predictor] = OrderedDict()
    connection.send(("ready", None))
    while True:
        try:
            model_file, images = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if model_file not in predictors:
                predictors[model_file] = Predictor(load_model(model_file))
                while len(predictors) > MAX_MODELS:
                    predictors.popitem(last=False)
            predictors.move_to_end(model_file)
            connection.send(("ok", predictors[model_file].probabilities_in_process(images)))
        except Exception as error:  # Reported to the caller, which decides what to do.
            connection.send(("error", f"{type(error).__name__}: {error}"))


class ForwardWorker:
    """The client of one worker process, started on first use, restarted after a failure; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._connection = None

    def probabilities(self, model_file: str, images: np.ndarray) -> np.ndarray:
        """Class probabilities for model input images (float32, (N, 28, 28, 1)) from the worker."""
        with self._lock:
            connection = self._started()
            try:
                connection.send((model_file, images))
                if not connection.poll(ANSWER_TIMEOUT):
                    raise WorkerUnavailable(f"The forward worker did not answer within {ANSWER_TIMEOUT:.0f} s.")
                status, value = connection.recv()
            except (EOFError, OSError, WorkerUnavailable) as error:
                self._stop()
                raise WorkerUnavailable(str(error) or "The forward worker stopped.") from error
        if status != "ok":
            raise WorkerUnavailable(f"The forward worker failed: {value}")
        return value

    def _started(self):
        if self._process is not None and self._process.is_alive():
            return self._connection
        self._stop()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs,), name="forward-worker", daemon=True)
        try:
            process.start()
            theirs.close()
            if not ours.poll(START_TIMEOUT) or ours.recv()[0] != "ready":
                raise WorkerUnavailable("The forward worker did not start.")
        except (OSError, EOFError, WorkerUnavailable) as error:
            if process.is_alive():
                process.kill()
            raise WorkerUnavailable(f"The forward worker did not start: {error}") from error
        self._process, self._connection = process, ours
        return ours

    def _stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


_worker = ForwardWorker()


def shared_worker() -> ForwardWorker:
    """The worker of this process, shared by every predictor."""
    return _worker
