"""How fragile a prediction is: the transformations, the sweep's flips, FGSM and PGD."""

import numpy as np
import pytest

from model.analysis.robustness import EPSILONS, TRANSFORMS, Curve, adversarial, robustness_sweep, transformed
from model.architecture import build_model
from model.runtime.preprocess import from_uint8


@pytest.fixture(scope="module")
def digit(mnist):
    _, (x_test, y_test) = mnist
    return from_uint8(x_test[0]), int(y_test[0])


def test_each_transformation_leaves_the_digit_as_it_is_at_its_neutral_amount(digit):
    image, _ = digit
    for kind, neutral in [("rotation", 0.0), ("shift", 0.0), ("scale", 1.0), ("thickness", 0.0), ("noise", 0.0)]:
        np.testing.assert_allclose(transformed(image, kind, np.array([neutral]))[0], image, atol=1e-5, err_msg=kind)
    np.testing.assert_array_equal(transformed(image, "occlusion", np.array([0.0]))[0], image)
    with pytest.raises(ValueError, match="Unknown transformation"):
        transformed(image, "blur", np.array([1.0]))


def test_the_transformations_do_what_they_say(digit):
    image, _ = digit
    ink = image.sum()
    # Shifting 3 pixels to the right moves the ink's centre 3 columns right; a half turn turns it upside down.
    right = transformed(image, "shift", np.array([3.0]))[0]
    columns = np.arange(28)
    assert (right.sum(0) @ columns) / right.sum() == pytest.approx((image.sum(0) @ columns) / ink + 3, abs=0.05)
    np.testing.assert_allclose(transformed(image, "rotation", np.array([180.0]))[0], image[::-1, ::-1], atol=1e-4)
    # Thicker strokes carry more ink, thinner less; half the size, about a quarter of the ink.
    thick, thin = transformed(image, "thickness", np.array([2.0, -1.0]))
    assert thick.sum() > 1.5 * ink and thin.sum() < 0.7 * ink
    assert transformed(image, "scale", np.array([0.5]))[0].sum() == pytest.approx(ink / 4, rel=0.15)
    # Hiding 40% of the digit's rows from the top blacks out those rows only.
    rows = np.flatnonzero(image.max(axis=1) > 0.1)
    hidden = transformed(image, "occlusion", np.array([0.4]))[0]
    covered = int(round(0.4 * (rows[-1] - rows[0] + 1)))
    assert hidden[rows[0] : rows[0] + covered].max() == 0.0
    np.testing.assert_array_equal(hidden[rows[0] + covered :], image[rows[0] + covered :])


def test_flips_are_where_the_prediction_changes_walking_out_from_the_untouched_digit():
    amounts = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    probabilities = np.eye(10)[[4, 7, 7, 7, 1, 7]]
    curve = Curve(amounts, np.zeros((6, 28, 28)), probabilities)
    assert curve.flips == [-2.0, 2.0, 3.0]
    scales = Curve(np.array([0.5, 1.0, 1.5]), np.zeros((3, 28, 28)), np.eye(10)[[3, 7, 7]])
    assert scales.flips == [0.5]


def test_the_sweep_classifies_every_amount_of_every_transformation(shipped_model, digit):
    image, label = digit
    curves = robustness_sweep(shipped_model, image)
    assert list(curves) == list(TRANSFORMS)
    for kind, curve in curves.items():
        amounts = TRANSFORMS[kind][1]
        assert curve.probabilities.shape == (len(amounts), 10) and curve.images.shape == (len(amounts), 28, 28)
        np.testing.assert_allclose(curve.probabilities.sum(axis=1), 1.0, atol=1e-4)
        neutral = int(np.argmin(np.abs(amounts - (1.0 if kind == "scale" else 0.0))))
        assert curve.predictions[neutral] == label, kind
    # A 60-degree turn or half the digit hidden is too much for some digit; the test digit's flips say where.
    assert all(np.isin(curve.flips, curve.amounts).all() for curve in curves.values())


@pytest.mark.parametrize("method", ["FGSM", "PGD"])
def test_the_smallest_perturbation_found_changes_the_prediction_within_its_size(shipped_model, digit, method):
    image, label = digit
    found = adversarial(shipped_model, image, method)
    assert found.epsilon is not None and 0 < found.epsilon <= 0.4
    assert np.argmax(found.probabilities) != label
    assert np.abs(found.perturbation).max() <= found.epsilon + 1e-6
    np.testing.assert_allclose(found.image, np.clip(image + found.perturbation, 0, 1), atol=1e-6)
    # The model agrees with the probabilities reported for the perturbed digit.
    np.testing.assert_allclose(shipped_model(found.image[None, ..., None]).numpy()[0], found.probabilities, atol=1e-5)
    # The size tried before it did not work: it is the smallest of the grid that does.
    grid = EPSILONS[method]
    below = grid[grid < found.epsilon - 1e-6]
    if len(below):
        smaller = adversarial(shipped_model, image, method, epsilons=below[-1:])
        assert smaller.epsilon is None and np.argmax(smaller.probabilities) == label


def test_pgd_reaches_a_chosen_target_and_needs_no_more_than_fgsm(shipped_model, digit):
    image, label = digit
    target = 3 if label != 3 else 5
    found = adversarial(shipped_model, image, "PGD", target=target)
    assert found.epsilon is not None and np.argmax(found.probabilities) == target
    assert found.epsilon <= adversarial(shipped_model, image, "FGSM").epsilon
    with pytest.raises(ValueError, match="predicts"):
        adversarial(shipped_model, image, "PGD", target=label)
    with pytest.raises(ValueError, match="method"):
        adversarial(shipped_model, image, "CW")


def test_attacks_and_sweeps_work_on_an_untrained_model_of_another_design(digit):
    image, _ = digit
    model = build_model("fast", width=0.25)
    found = adversarial(model, image, "FGSM", epsilons=np.array([0.4]))
    assert found.image.shape == (28, 28) and np.isfinite(found.probabilities).all()
    assert set(robustness_sweep(model, image)) == set(TRANSFORMS)
