import threading

import numpy as np
import pytest

from model.architecture import build_model
from model.runtime.inference import Predictor
from model.store.storage import load_model


@pytest.fixture(scope="module")
def predictor():
    return Predictor(build_model("default", width=0.25))


def test_probabilities_equal_a_direct_model_call(predictor, small_mnist):
    images = small_mnist[1][0][:50].astype(np.float32) / 255
    expected = np.asarray(predictor.model(images[..., None], training=False))
    np.testing.assert_allclose(predictor.probabilities(images), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.probabilities_of_image(images[7]), expected[7], atol=1e-6)


def test_batches_larger_than_the_chunk_are_split_and_joined(predictor, monkeypatch):
    monkeypatch.setattr("model.runtime.inference.MAX_BATCH", 7)
    images = np.random.default_rng(1).random((20, 28, 28), dtype=np.float32)
    expected = np.asarray(predictor.model(images[..., None], training=False))
    np.testing.assert_allclose(predictor.probabilities(images), expected, atol=1e-6)
    assert predictor.probabilities(np.zeros((0, 28, 28))).shape == (0, 10)


def test_concurrent_sessions_get_their_own_answers(predictor):
    rng = np.random.default_rng(2)
    images = rng.random((8, 28, 28), dtype=np.float32)
    expected = predictor.probabilities(images)
    results, errors = {}, []

    def session(index: int) -> None:
        try:
            for _ in range(25):
                results[index] = predictor.probabilities_of_image(images[index])
        except Exception as error:  # Collected, so the main thread fails the test.
            errors.append(error)

    threads = [threading.Thread(target=session, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for index in range(8):
        np.testing.assert_allclose(results[index], expected[index], atol=1e-6)


@pytest.mark.parametrize(
    "bad", [np.zeros((27, 28)), np.zeros((2, 28, 28, 3)), np.full((28, 28), np.nan), np.array([["a"] * 28] * 28)]
)
def test_bad_inputs_raise_value_error(predictor, bad):
    with pytest.raises(ValueError):
        predictor.probabilities(bad)


def test_confidence_in_words_and_entropy():
    from model.analysis.confidence import MAX_ENTROPY, confidence_in_words, entropy_bits

    unsure = np.zeros(10)
    unsure[[4, 9]] = [0.48, 0.41]
    unsure[0] = 0.11
    assert confidence_in_words(unsure) == "Unsure between 4 and 9 (48% and 41%)."
    sure = np.full(10, 0.001)
    sure[8] = 0.991
    assert confidence_in_words(sure) == "Sure it is an 8."
    fairly = np.zeros(10)
    fairly[[3, 5]] = [0.7, 0.3]
    assert confidence_in_words(fairly) == "Fairly sure it is a 3; 5 comes next at 30%."
    assert entropy_bits(np.eye(10)[2]) == 0.0
    assert entropy_bits(np.full(10, 0.1)) == pytest.approx(MAX_ENTROPY)
    assert entropy_bits(fairly) == pytest.approx(-(0.7 * np.log2(0.7) + 0.3 * np.log2(0.3)))
    with pytest.raises(ValueError):
        confidence_in_words(np.ones(3))


@pytest.mark.slow
@pytest.mark.processes
def test_probabilities_computed_apart_are_the_probabilities_and_refuse_nan(tmp_path):
    """A version's evaluation runs in a child process in the background (model/runtime/apart.py)."""
    from model.runtime.inference import AnswersNotFinite
    from model.store.registry import default_version
    from model.store.storage import save_model
    from tests.model.test_upload import nan_on_ink

    model_file = str(default_version().model_file)
    images = np.random.default_rng(0).random((600, 28, 28)).astype(np.float32)
    predictor = Predictor(load_model(model_file), model_file=model_file)
    heard = []
    np.testing.assert_allclose(
        predictor.probabilities_apart(images, heard.append), predictor.probabilities_in_process(images), atol=1e-5
    )
    # Issue 30, item 4: an evaluation showed only a spinner. It reports how far it is, batch by batch.
    assert heard == [256 / 600, 512 / 600, 1.0]
    save_model(nan_on_ink(), tmp_path / "nan.keras")
    broken = Predictor(load_model(tmp_path / "nan.keras"), model_file=str(tmp_path / "nan.keras"))
    with pytest.raises(AnswersNotFinite):
        broken.probabilities_apart(images)
