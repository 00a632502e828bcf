import numpy as np
import pytest

from model.analysis.evaluation import evaluate, evaluation_from_probabilities
from model.runtime.inference import Predictor
from model.store.registry import default_version
from model.store.storage import load_model


def one_hot(predicted: list[int]) -> np.ndarray:
    probabilities = np.full((len(predicted), 10), 0.01, np.float32)
    probabilities[np.arange(len(predicted)), predicted] = 0.91
    return probabilities


def test_hand_computed_case():
    labels = [0, 0, 0, 1, 1, 2, 2, 2]
    predicted = [0, 0, 1, 1, 1, 2, 0, 1]
    result = evaluation_from_probabilities(labels, one_hot(predicted))
    assert result.accuracy == pytest.approx(5 / 8)
    assert result.errors == 3
    assert result.confusion[0].tolist()[:3] == [2, 1, 0]
    assert result.confusion[2].tolist()[:3] == [1, 1, 1]
    # Class 0: predicted 3 times, right twice; 3 true, 2 found.
    assert result.precision[0] == pytest.approx(2 / 3) and result.recall[0] == pytest.approx(2 / 3)
    # Class 1: predicted 4 times, right twice; both true ones found.
    assert result.precision[1] == pytest.approx(0.5) and result.recall[1] == pytest.approx(1.0)
    assert result.f1[1] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert result.support.tolist()[:3] == [3, 2, 3]
    assert result.most_confused(2) == [(0, 1, 1), (2, 0, 1)]


def test_a_class_never_predicted_or_absent_scores_zero_not_nan():
    result = evaluation_from_probabilities([3, 3, 4], one_hot([4, 4, 4]))
    assert np.all(np.isfinite(result.precision)) and np.all(np.isfinite(result.f1))
    assert result.precision[3] == 0.0 and result.recall[3] == 0.0
    assert result.precision[7] == 0.0 and result.support[7] == 0


def test_cells_list_least_confident_first():
    probabilities = one_hot([5, 5, 5])
    probabilities[0, 5], probabilities[2, 5] = 0.6, 0.4
    result = evaluation_from_probabilities([5, 5, 5], probabilities)
    assert result.cell(5, 5).tolist() == [2, 0, 1]
    assert result.cell(5, 3).tolist() == []


@pytest.mark.parametrize(
    "labels, probabilities",
    [
        ([1, 2], np.zeros((3, 10))),
        ([1], np.zeros((1, 9))),
        ([], np.zeros((0, 10))),
        ([11], np.zeros((1, 10))),
    ],
)
def test_bad_inputs_raise_value_error(labels, probabilities):
    with pytest.raises(ValueError):
        evaluation_from_probabilities(labels, probabilities)


@pytest.mark.slow
def test_full_test_set(mnist):
    _, (x_test, y_test) = mnist
    predictor = Predictor(load_model(default_version().model_file))
    result = evaluate(predictor, x_test, y_test)
    assert result.confusion.sum() == 10000
    assert np.trace(result.confusion) / 10000 == pytest.approx(result.accuracy)
    assert result.support.tolist() == np.bincount(y_test, minlength=10).tolist()
    assert result.probabilities.shape == (10000, 10)
    np.testing.assert_allclose(result.probabilities[:5], predictor.probabilities(x_test[:5] / 255.0), atol=1e-6)
