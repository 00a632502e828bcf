"""The lesson's facts about a model, read from its layers, and the arrays its steps show, on tiny models."""

import keras
import numpy as np
import pytest

from model.analysis.lesson import (
    activation_maps,
    head_vectors,
    lesson_facts,
    logits,
    pooling_maps,
    pre_activation_map,
    rotation_curve,
    strongest_channels,
    with_temperature,
)
from model.analysis.unit import explain_unit
from model.architecture import build_model


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[5:23, 12:16] = 1.0
    image[5:8, 8:20] = 0.7
    return image


def small(architecture: str) -> keras.Model:
    return build_model(architecture, width=0.25)


def tanh_average_model() -> keras.Model:
    """A convolution with its own tanh and a bias, average pooling with stride 1, no dense hidden layer."""
    inputs = keras.Input((28, 28), name="pixels")
    x = keras.layers.Reshape((28, 28, 1), name="shaped")(inputs)
    x = keras.layers.Conv2D(3, 5, strides=2, padding="same", activation="tanh", name="edges")(x)
    x = keras.layers.AveragePooling2D(3, strides=1, name="smooth")(x)
    x = keras.layers.GlobalAveragePooling2D(name="summary")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="answer")(x)
    return keras.Model(inputs, outputs)


def test_the_shipped_design_is_read_from_its_layers():
    facts = lesson_facts(small("default"))
    convolution = facts.convolution
    assert (convolution.layer, convolution.filters, convolution.kernel) == ("conv1", 8, (3, 3))
    assert (convolution.output_shape, convolution.reads, convolution.bias) == ((26, 26, 8), "", False)
    # ReLU is a layer of its own, after batch normalisation.
    assert facts.activation.name == "relu" and facts.activation.layer == "conv1_relu"
    assert facts.activation.between == ("conv1_norm",) and not facts.activation.inside_convolution
    assert (facts.pooling.layer, facts.pooling.kind, facts.pooling.before) == ("pool1", "max", "conv2_relu")
    assert facts.pooling.input_shape == (24, 24, 8) and facts.pooling.output_shape == (12, 12, 8)
    assert [c.layer for c in facts.deeper] == ["conv2", "conv3", "conv4", "conv5"]
    # A value of the last convolution sees the whole digit.
    assert facts.deeper_fields[0] == (5, 5) and facts.deeper_fields[-1] == (28, 28)
    head = facts.head
    assert (head.flatten, head.flatten_size, head.flatten_reads_shape) == ("flatten", 32, (1, 1, 32))
    assert head.hidden == () and head.output.units == 10 and head.softmax_layer == "probabilities"


def test_fast_lean_and_original_differ_where_their_layers_do():
    fast, lean, original = (lesson_facts(small(name)) for name in ("fast", "lean", "original"))
    # `fast`: standardised pixels, a 5x5 convolution with bias, max pooling before its ReLU, one hidden dense layer.
    assert fast.input.rescaling == ("standardise",) and fast.convolution.reads == "standardise"
    assert fast.convolution.kernel == (5, 5) and fast.convolution.bias
    assert fast.activation.layer == "pool1_relu" and fast.activation.between == ("pool1",)
    assert [(d.layer, d.units, d.activation) for d in fast.head.hidden] == [("dense1", 64, "relu")]
    assert [c.layer for c in fast.deeper] == ["conv2"]
    # `lean`: pooling, then batch normalisation, then ReLU.
    assert lean.activation.between == ("pool1", "pool1_norm") and lean.pooling.before == "conv1"
    # `original`: ReLU inside each convolution, two hidden dense layers.
    assert original.activation.inside_convolution and original.activation.layer == "conv1"
    assert [d.layer for d in original.head.hidden] == ["dense1", "dense2"]


def test_other_activations_average_pooling_and_no_convolution():
    facts = lesson_facts(tanh_average_model())
    assert facts.input.shape == (28, 28) and facts.convolution.reads == "shaped"
    assert facts.convolution.strides == (2, 2) and facts.convolution.output_shape == (14, 14, 3)
    assert facts.activation.name == "tanh" and facts.activation.inside_convolution
    assert (
        facts.pooling.kind == "average"
        and facts.pooling.strides == (1, 1)
        and facts.pooling.output_shape == (12, 12, 3)
    )
    assert facts.head.flatten_kind == "GlobalAveragePooling2D" and facts.head.flatten_size == 3
    assert facts.deeper == ()
    # No pooling: none is invented.
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(2, 3, name="only")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    plain = lesson_facts(keras.Model(inputs, outputs))
    assert plain.pooling is None and plain.activation is None
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax", name="out")(keras.layers.Flatten(name="flat")(inputs))
    flat = lesson_facts(keras.Model(inputs, outputs))
    assert flat.convolution is None and flat.pooling is None and flat.deeper == ()
    assert flat.head.flatten_size == 784 and flat.head.flatten_reads == "" and flat.head.output.layer == "out"


@pytest.mark.parametrize("architecture", ["default", "fast", "original"])
def test_the_sums_are_the_unit_arithmetic_of_feature_maps(architecture, digit):
    model = small(architecture)
    facts = lesson_facts(model)
    sums = pre_activation_map(model, digit, facts.convolution)
    assert sums.shape == facts.convolution.output_shape
    unit = explain_unit(model, digit, "conv1", 10, 12, 1)
    assert sums[10, 12, 1] == pytest.approx(unit.pre_activation, abs=1e-4)


@pytest.mark.parametrize("architecture", ["default", "original", "fast"])
def test_relu_zeroes_the_negative_values_and_pooling_keeps_each_windows_largest(architecture, digit):
    model = small(architecture)
    facts = lesson_facts(model)
    before, after = activation_maps(model, digit, facts, channel=2)
    np.testing.assert_allclose(after, np.maximum(before, 0), atol=1e-5)
    assert before.min() < 0  # Something to zero: the figure shows a change.
    before, after = pooling_maps(model, digit, facts, channel=2)
    rows, columns = after.shape
    pooled = before[: rows * 2, : columns * 2].reshape(rows, 2, columns, 2).max(axis=(1, 3))
    np.testing.assert_allclose(after, pooled, atol=1e-5)


def test_average_pooling_and_tanh_maps(digit):
    model = tanh_average_model()
    facts = lesson_facts(model)
    before, after = activation_maps(model, digit, facts, channel=0)
    np.testing.assert_allclose(after, np.tanh(before), atol=1e-5)
    before, after = pooling_maps(model, digit, facts, channel=0)
    assert after[0, 0] == pytest.approx(before[:3, :3].mean(), abs=1e-5)


def test_the_head_scores_give_the_models_probabilities(digit):
    model = small("original")
    facts = lesson_facts(model)
    vectors = head_vectors(model, digit, facts)
    assert {name: len(vector) for name, vector in vectors.items()} == {"flatten": 256, "dense1": 25, "dense2": 25}
    scores = logits(model, digit)
    expected = np.asarray(model(digit[None, ..., None], training=False))[0]
    np.testing.assert_allclose(with_temperature(scores, 1.0), expected, atol=1e-5)
    # A temperature flattens or sharpens, never changes the winner.
    hot, cold = with_temperature(scores, 4.0), with_temperature(scores, 0.25)
    assert np.argmax(hot) == np.argmax(cold) == np.argmax(expected)
    assert hot.max() < expected.max() < cold.max()
    with pytest.raises(ValueError, match="above 0"):
        with_temperature(scores, 0.0)


def test_strongest_channels_and_the_rotation_curve(digit):
    maps = np.zeros((4, 4, 3), np.float32)
    maps[1, 1, 2], maps[0, 0, 0] = 5.0, 1.0
    assert strongest_channels(maps, 2).tolist() == [2, 0]
    model = small("fast")
    curve = rotation_curve(model, digit)
    assert curve.images.shape == (25, 28, 28) and curve.probabilities.shape == (25, 10)
    middle = list(curve.amounts).index(0.0)
    np.testing.assert_allclose(curve.images[middle], digit, atol=1e-5)
    np.testing.assert_allclose(curve.probabilities[middle], model(digit[None, ..., None])[0], atol=1e-5)
