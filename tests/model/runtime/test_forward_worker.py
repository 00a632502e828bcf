"""The forward worker: a process of its own answers like the app's process, and failures fall back."""

import sys
import time
import types

import numpy as np
import pytest

from model.runtime.forward_worker import ForwardWorker, Routed, WorkerUnavailable
from model.runtime.inference import Predictor
from model.store.registry import default_version
from model.store.storage import load_model

# Each test starts worker processes, which import TensorFlow.
pytestmark = [pytest.mark.slow, pytest.mark.processes]

IMAGE = np.zeros((1, 28, 28, 1), np.float32)


def ready(worker: ForwardWorker, model_file: str, timeout: float = 120.0) -> np.ndarray:
    """The worker's first answer, once it has started and loaded the model in the background."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return worker.probabilities(model_file, IMAGE)
        except WorkerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def shipped() -> str:
    return str(default_version().model_file)


@pytest.fixture(scope="module")
def worker(shipped):
    worker = ForwardWorker()
    ready(worker, shipped)
    yield worker
    with worker._lock:
        worker._stop()


def test_until_it_is_ready_the_worker_says_so_at_once(shipped):
    worker = ForwardWorker()
    started = time.monotonic()
    with pytest.raises(WorkerUnavailable, match="not ready"):
        worker.probabilities(shipped, IMAGE)
    assert time.monotonic() - started < 1.0
    ready(worker, shipped)
    with worker._lock:
        worker._stop()


def test_a_predictor_for_the_app_starts_its_worker_before_the_first_stroke(shipped):
    """A fresh replica's first strokes were computed in its own process while the worker started
    (seconds each with 30 visitors drawing at once): the worker starts when the predictor is made."""
    worker = ForwardWorker()
    Routed(Predictor(load_model(shipped), model_file=shipped), worker)
    deadline = time.monotonic() + 120
    while shipped not in worker._ready and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert worker.probabilities(shipped, IMAGE).shape == (1, 10)
    finally:
        with worker._lock:
            worker._stop()


def test_a_worker_starts_whatever_the_main_module_is(shipped, tmp_path, monkeypatch):
    """A spawned child runs the parent's `__main__` first: in a Streamlit server the page being run,
    under pytest after an AppTest its temporary script. That failed the worker (CI, after AppTests)."""
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the page ran again in the worker')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    worker = ForwardWorker()
    try:
        assert ready(worker, shipped, timeout=60).shape == (1, 10)
    finally:
        with worker._lock:
            worker._stop()


def test_the_worker_answers_like_the_app_process(worker, shipped, small_mnist):
    predictor = Routed(Predictor(load_model(shipped), model_file=shipped), worker)
    images = small_mnist[1][0][:8, :, :, None] / np.float32(255)
    np.testing.assert_allclose(
        worker.probabilities(shipped, images), predictor.probabilities_in_process(images), atol=1e-5
    )
    np.testing.assert_allclose(
        predictor.probabilities(images[..., 0]), predictor.probabilities_in_process(images), atol=1e-5
    )


def test_the_digit_checks_forward_pass_comes_from_the_worker_like_the_app_process(worker, shipped, small_mnist):
    """Issue 33: computed in the app's process, the check's pass tripled what a stroke cost a replica."""
    from model.analysis.novelty import summaries

    predictor = Routed(Predictor(load_model(shipped), model_file=shipped), worker)
    images = small_mnist[1][0][:8] / np.float32(255)
    here = summaries(predictor.model, images)
    for there in (worker.summaries(shipped, images), predictor.summaries(images)):
        assert len(there) == len(here)
        for theirs, ours in zip(there, here):
            np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4)


def test_a_model_the_worker_cannot_load_is_not_tried_again(worker, tmp_path):
    missing = str(tmp_path / "missing.keras")
    with pytest.raises(WorkerUnavailable):
        ready(worker, missing, timeout=10)
    assert ("probabilities", missing) in worker._failed
    with pytest.raises(WorkerUnavailable, match="could not load"):
        worker.probabilities(missing, IMAGE)


def test_a_killed_worker_is_started_again(worker, shipped):
    first = worker.probabilities(shipped, IMAGE)
    worker._process.kill()
    worker._process.join(5)
    with pytest.raises(WorkerUnavailable):
        worker.probabilities(shipped, IMAGE)
    np.testing.assert_allclose(ready(worker, shipped), first, atol=1e-6)


def test_without_a_working_worker_the_app_process_answers(shipped, small_mnist):
    class Broken(ForwardWorker):
        def probabilities(self, model_file, images):
            raise WorkerUnavailable("The forward worker stopped.")

    predictor = Routed(Predictor(load_model(shipped), model_file=shipped), Broken())
    image = small_mnist[1][0][0] / np.float32(255)
    np.testing.assert_allclose(
        predictor.probabilities_of_image(image), predictor.probabilities_in_process(image[None])[0], atol=1e-6
    )


def test_a_worker_needs_the_model_file(shipped):
    with pytest.raises(ValueError, match="file"):
        Routed(Predictor(load_model(shipped)), ForwardWorker())
