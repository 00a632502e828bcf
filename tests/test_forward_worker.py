"""The forward worker: a process of its own answers like the app's process, and failures fall back."""

import numpy as np
import pytest

from model.forward_worker import ForwardWorker, WorkerUnavailable
from model.inference import Predictor
from model.registry import default_version
from model.storage import load_model


@pytest.fixture(scope="module")
def worker():
    worker = ForwardWorker()
    yield worker
    worker._stop()


@pytest.fixture(scope="module")
def shipped():
    return default_version().model_file


def test_the_worker_answers_like_the_app_process(worker, shipped, small_mnist):
    predictor = Predictor(load_model(shipped), model_file=str(shipped), worker=worker)
    images = small_mnist[1][0][:8] / np.float32(255)
    np.testing.assert_allclose(predictor.probabilities(images), predictor.probabilities_in_process(images), atol=1e-5)
    np.testing.assert_allclose(
        predictor.probabilities_one(images[0]), predictor.probabilities_in_process(images[:1])[0], atol=1e-5
    )


def test_a_model_the_worker_cannot_load_is_reported(worker, tmp_path):
    with pytest.raises(WorkerUnavailable, match="failed"):
        worker.probabilities(str(tmp_path / "missing.keras"), np.zeros((1, 28, 28, 1), np.float32))


def test_a_killed_worker_is_started_again(worker, shipped):
    images = np.zeros((1, 28, 28, 1), np.float32)
    first = worker.probabilities(str(shipped), images)
    worker._process.kill()
    worker._process.join(5)
    np.testing.assert_allclose(worker.probabilities(str(shipped), images), first, atol=1e-6)


def test_without_a_working_worker_the_app_process_answers(shipped, small_mnist, tmp_path):
    class Broken(ForwardWorker):
        def probabilities(self, model_file, images):
            raise WorkerUnavailable("The forward worker stopped.")

    predictor = Predictor(load_model(shipped), model_file=str(shipped), worker=Broken())
    image = small_mnist[1][0][0] / np.float32(255)
    np.testing.assert_allclose(
        predictor.probabilities_one(image), predictor.probabilities_in_process(image[None])[0], atol=1e-6
    )


def test_a_worker_needs_the_model_file(shipped):
    with pytest.raises(ValueError, match="file"):
        Predictor(load_model(shipped), worker=ForwardWorker())
