import numpy as np
import pytest

from model.architecture import ARCHITECTURES, build_model, inspectable_layers, layer_table
from training.config import ARCHITECTURE_NAMES


@pytest.mark.parametrize("architecture", ["default", "original", "fast", "lean"])
def test_output_is_a_probability_distribution_over_ten_digits(architecture):
    model = build_model(architecture)
    output = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32), training=False))
    assert output.shape == (3, 10)
    np.testing.assert_allclose(output.sum(axis=1), 1.0, rtol=1e-5)


def test_layers_are_named_for_the_pages():
    default = build_model("default")
    assert [layer.name for layer in inspectable_layers(default)] == [
        "conv1",
        "conv2",
        "pool1",
        "conv3",
        "conv4",
        "pool2",
        "conv5",
    ]
    original = build_model("original")
    assert [layer.name for layer in inspectable_layers(original)] == [
        "conv1",
        "conv2",
        "pool1",
        "conv3",
        "conv4",
        "pool2",
    ]
    assert default.get_layer("pool2").output.shape[1:] == (4, 4, 64)
    lean = build_model("lean")
    assert [layer.name for layer in inspectable_layers(lean)] == ["conv1", "pool1", "conv2", "conv3", "pool2", "conv4"]
    assert lean.get_layer("pool2").output.shape[1:] == (4, 4, 64) and lean.output.shape[1:] == (10,)


def test_lean_normalises_after_pooling_and_costs_half_the_default_per_image():
    lean, default = build_model("lean"), build_model("default")
    following = [layer.name for layer in lean.layers[lean.layers.index(lean.get_layer("pool1")) :][:3]]
    assert following == ["pool1", "pool1_norm", "pool1_relu"]

    def multiply_adds(model):
        return sum(
            int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel.shape[:-1]))
            for layer in model.layers
            if hasattr(layer, "kernel")
        )

    assert multiply_adds(lean) < 0.55 * multiply_adds(default)
    assert lean.count_params() <= default.count_params()


def test_original_matches_the_project_origin_layer_for_layer():
    kinds = [type(layer).__name__ for layer in build_model("original").layers[1:]]
    assert kinds == [
        "Conv2D",
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "BatchNormalization",
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]


def test_default_stays_within_half_a_million_parameters():
    assert build_model("default").count_params() <= 500_000


def test_width_scales_channels_and_dropout_is_applied():
    narrow = build_model("default", width=0.5, dropout=0.1)
    assert narrow.get_layer("conv1").filters == 16
    assert narrow.get_layer("dropout1").rate == pytest.approx(0.1)
    assert len(layer_table(narrow)) == len(narrow.layers)


@pytest.mark.parametrize("kwargs", [{"architecture": "resnet"}, {"width": 0.0}, {"dropout": 1.0}])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        build_model(**kwargs)


def test_the_config_knows_every_architecture_by_name():
    # training.config keeps its own list so that it can validate without importing Keras.
    assert ARCHITECTURE_NAMES == tuple(ARCHITECTURES)
