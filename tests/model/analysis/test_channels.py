"""What a channel detects: top test patches (checked against brute force) and activation maximisation."""

import numpy as np
import pytest

from model.analysis import channels
from model.analysis.channels import (
    TOP,
    activation_maximisation,
    cached_activation_maximisation,
    cached_top_patches,
    convolution_layers,
    patch,
    top_patches,
)
from model.analysis.inspection import feature_maps
from model.analysis.unit import receptive_field
from model.architecture import build_model
from model.runtime.preprocess import from_uint8


@pytest.fixture(scope="module")
def shipped(shipped_model):
    return shipped_model


@pytest.fixture(scope="module")
def images(mnist):
    _, (x_test, _) = mnist
    return x_test[:300]


def one_convolution():
    import keras

    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(3, 5, strides=2, activation="relu", name="only"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("architecture", ["shipped", "original", "one convolution"])
def test_top_patches_are_the_strongest_responses_found_by_brute_force(architecture, shipped, images):
    model = {"shipped": lambda: shipped, "original": lambda: build_model("original", width=0.5)}.get(
        architecture, one_convolution
    )()
    found = top_patches(model, images)
    every = [feature_maps(model, from_uint8(image)) for image in images]
    for name in convolution_layers(model):
        for channel in (0, found.images[name].shape[0] - 1):
            strongest = np.array([maps[name][..., channel].max() for maps in every])
            expected = np.argsort(-strongest, kind="stable")[:TOP]
            np.testing.assert_allclose(found.values[name][channel], strongest[expected], rtol=1e-5, atol=1e-6)
            first = every[found.images[name][channel, 0]][name][..., channel]
            row, column = found.rows[name][channel, 0], found.columns[name][channel, 0]
            assert first[row, column] == pytest.approx(first.max(), abs=1e-6)


def test_a_patch_is_the_unit_s_receptive_field(shipped, images):
    crop = patch(shipped, images[0], "conv3", 4, 5)
    top, bottom, left, right = receptive_field(shipped, "conv3", 4, 5)
    assert crop.shape == (bottom - top + 1, right - left + 1) == (10, 10)


def test_top_patches_are_kept_on_disk_and_reused(shipped, images, tmp_path, monkeypatch):
    first = cached_top_patches(shipped, images, tmp_path, "a" * 64)
    assert len(list(tmp_path.glob("top_patches-*.npz"))) == 1

    def refuse(*args):
        raise AssertionError("computed again instead of read from disk")

    monkeypatch.setattr(channels, "top_patches", refuse)
    again = cached_top_patches(shipped, images, tmp_path, "a" * 64)
    for name in convolution_layers(shipped):
        np.testing.assert_array_equal(again.images[name], first.images[name])
    # Another model file, or other images, is not served the old answer.
    with pytest.raises(AssertionError, match="computed again"):
        cached_top_patches(shipped, images, tmp_path, "b" * 64)
    with pytest.raises(AssertionError, match="computed again"):
        cached_top_patches(shipped, images[:100], tmp_path, "a" * 64)


def test_the_maximising_image_excites_its_channel_more_than_digits_do(shipped, images, tmp_path):
    image = activation_maximisation(shipped, "conv3", 7)
    assert image.shape == (28, 28) and 0.0 <= image.min() and image.max() <= 1.0
    response = feature_maps(shipped, image)["conv3"][..., 7].mean()
    digits = np.mean([feature_maps(shipped, from_uint8(x))["conv3"][..., 7].mean() for x in images[:100]])
    grey = feature_maps(shipped, np.full((28, 28), 0.2, np.float32))["conv3"][..., 7].mean()
    assert response > 2 * max(digits, grey)
    np.testing.assert_array_equal(cached_activation_maximisation(shipped, "conv3", 7, tmp_path, "c" * 64), image)
    assert len(list(tmp_path.glob("maximised-*.npz"))) == 1
    with pytest.raises(ValueError, match="not a convolution layer"):
        activation_maximisation(shipped, "pool1", 0)


def test_the_first_layer_s_filter_is_shown_as_an_image_grey_at_zero(shipped):
    """Issue 30, item 6: an image climbed for a first-layer channel is a featureless blur; its filter is the pattern."""
    from model.analysis.channels import input_filter

    kernel = shipped.get_layer("conv1").get_weights()[0][:, :, 0, 5]
    image = input_filter(shipped, "conv1", 5)
    assert image.shape == kernel.shape and image.min() >= 0 and image.max() <= 1
    np.testing.assert_allclose((image - 0.5) * 2 * np.abs(kernel).max(), kernel, atol=1e-6)
    assert input_filter(shipped, "conv2", 5) is None
