"""Attribution methods: SmoothGrad, integrated gradients and occlusion, with the sanity checks from the literature."""

import keras
import numpy as np
import pytest

from model.analysis.attributions import completeness, integrated_gradients, occlusion, smooth_grad
from model.architecture import build_model
from model.runtime.preprocess import from_uint8

METHODS = {"smooth_grad": smooth_grad, "integrated_gradients": integrated_gradients, "occlusion": occlusion}


@pytest.fixture(scope="module")
def trained(shipped_model):
    return shipped_model


@pytest.fixture(scope="module")
def digits(mnist):
    _, (x_test, y_test) = mnist
    return [(from_uint8(image), int(label)) for image, label in zip(x_test[:40], y_test[:40])]


@pytest.mark.parametrize("architecture", ["default", "original", "lean"])
@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_gives_a_finite_28_by_28_map_on_either_architecture(architecture, name, digits):
    model = build_model(architecture, width=0.5)
    image, label = digits[0]
    heat = METHODS[name](model, image, label)
    assert heat.shape == (28, 28) and heat.dtype == np.float32 and np.all(np.isfinite(heat))
    with pytest.raises(ValueError, match="class_index"):
        METHODS[name](model, image, 10)


def test_occlusion_points_at_the_ink_and_not_at_the_background(trained, digits):
    image, label = digits[0]
    heat = occlusion(trained, image, label)
    # Hiding background pixels of a black image changes nothing; hiding the digit lowers the score.
    far = np.ones((28, 28), bool)
    rows, columns = np.nonzero(image > 0.1)
    far[max(rows.min() - 6, 0) : rows.max() + 7, max(columns.min() - 6, 0) : columns.max() + 7] = False
    assert heat.max() > 0.5
    if far.any():
        assert np.abs(heat[far]).max() < 1e-6


@pytest.mark.slow  # 2.7 s; the whole suite's check of completeness.
def test_integrated_gradients_are_complete_within_5_percent(trained, digits):
    """The attributions add up to logit(digit) - logit(black): on average at the default 32
    steps, and on every digit at 128 steps."""
    errors = []
    for image, label in digits:
        total, rise = completeness(trained, image, label, integrated_gradients(trained, image, label))
        errors.append(abs(total - rise) / abs(rise))
    assert np.mean(errors) < 0.05, errors
    for image, label in digits[:20]:
        total, rise = completeness(trained, image, label, integrated_gradients(trained, image, label, steps=128))
        assert abs(total - rise) <= 0.05 * abs(rise), (label, total, rise)


def _spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation, ties given their average rank."""

    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(len(values))
        _, groups = np.unique(values, return_inverse=True)
        return (np.bincount(groups, ranked) / np.bincount(groups))[groups]

    return float(np.corrcoef(ranks(first), ranks(second))[0, 1])


# The fast loop checks SmoothGrad; the whole suite every method.
@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=() if name == "smooth_grad" else pytest.mark.slow) for name in METHODS]
)
def test_attributions_follow_the_weights_the_model_randomisation_check(name, trained, digits):
    """Adebayo et al. (2018): a method that explains the model must change when its weights are
    re-initialised, and must not when they barely move. Compared on the digit's ink pixels."""
    randomised = keras.models.clone_model(trained)  # Same layers, freshly initialised weights.
    nudged = keras.models.clone_model(trained)
    rng = np.random.default_rng(0)
    nudged.set_weights(
        [w + 0.01 * np.std(w) * rng.standard_normal(w.shape) if w.ndim > 1 else w for w in trained.get_weights()]
    )
    method = METHODS[name]
    against_random, against_nudged = [], []
    for image, label in digits[:10]:
        ink = image > 0.1
        reference = method(trained, image, label)[ink]
        against_random.append(_spearman(reference, method(randomised, image, label)[ink]))
        against_nudged.append(_spearman(reference, method(nudged, image, label)[ink]))
    assert np.mean(against_random) < 0.5, against_random
    assert np.mean(against_nudged) > 0.9, against_nudged
