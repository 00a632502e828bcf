import keras
import numpy as np
import pytest

from model.analysis.attributions import default_cam_layer, grad_cam, saliency
from model.analysis.inspection import activation_layer, feature_maps, kernels, layer_shapes
from model.architecture import build_model


@pytest.fixture(scope="module")
def trained(shipped_model):
    return shipped_model


@pytest.fixture(scope="module")
def digit(small_mnist):
    _, (x_test, y_test) = small_mnist
    return x_test[0].astype(np.float32) / 255, int(y_test[0])


@pytest.mark.parametrize("architecture", ["default", "original", "lean"])
def test_every_layer_map_has_its_layer_output_shape(architecture, digit):
    model = build_model(architecture, width=0.5)
    maps = feature_maps(model, digit[0])
    assert list(maps) == list(layer_shapes(model))
    for name, values in maps.items():
        assert values.shape == tuple(model.get_layer(name).output.shape[1:])


@pytest.mark.parametrize("name", ["conv1", "pool1", "conv4", "pool2"])
def test_maps_equal_an_independent_sub_model(trained, digit, name):
    layer = activation_layer(trained, name)
    independent = keras.Model(trained.input, layer.output)
    expected = np.asarray(independent(digit[0][None, :, :, None], training=False))[0]
    np.testing.assert_allclose(feature_maps(trained, digit[0])[name], expected, atol=1e-5)


def test_convolution_maps_are_activations_after_relu(trained, digit):
    assert activation_layer(trained, "conv2").name == "conv2_relu"
    assert feature_maps(trained, digit[0])["conv2"].min() >= 0.0


def test_kernels_are_the_convolution_weights(trained):
    weights = kernels(trained, "conv1")
    assert weights.shape == (3, 3, 1, 32)
    np.testing.assert_array_equal(weights, np.asarray(trained.get_layer("conv1").kernel))
    with pytest.raises(ValueError, match="not a convolution"):
        kernels(trained, "pool1")
    with pytest.raises(ValueError, match="no layer named"):
        kernels(trained, "conv99")


def test_grad_cam_is_finite_in_unit_range_and_brighter_on_the_ink(trained, digit):
    image, label = digit
    heat = grad_cam(trained, image, label)
    assert heat.shape == (28, 28) and np.all(np.isfinite(heat))
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    corners = np.concatenate(
        [heat[:4, :4].ravel(), heat[:4, -4:].ravel(), heat[-4:, :4].ravel(), heat[-4:, -4:].ravel()]
    )
    assert heat[image > 0.5].mean() > corners.mean() + 0.2
    assert default_cam_layer(trained) == "conv4"


def test_saliency_is_a_unit_map_that_differs_between_classes(trained, digit):
    image, label = digit
    own, other = saliency(trained, image, label), saliency(trained, image, (label + 1) % 10)
    assert own.shape == (28, 28) and own.min() >= 0.0 and own.max() == pytest.approx(1.0)
    assert not np.allclose(own, other)


@pytest.mark.parametrize("bad", [{"class_index": 10}, {"class_index": -1}, {"class_index": "7"}])
def test_bad_class_index_raises_value_error(trained, digit, bad):
    with pytest.raises(ValueError):
        grad_cam(trained, digit[0], **bad)


def test_bad_input_shape_raises_value_error(trained):
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        feature_maps(trained, np.zeros((28, 29)))


def test_every_layer_s_output_and_weights_are_the_model_s_own(trained, digit):
    from model.analysis.inspection import layer_outputs, layer_weights
    from model.architecture import layer_table

    image, _ = digit
    outputs = layer_outputs(trained, image)
    assert list(outputs) == [layer.name for layer in trained.layers[1:]]
    np.testing.assert_allclose(outputs["probabilities"], trained(image[None, :, :, None], training=False)[0], atol=1e-6)
    np.testing.assert_allclose(outputs["conv2_relu"], feature_maps(trained, image)["conv2"], atol=1e-6)
    assert set(layer_weights(trained, "conv1_norm")) == {"gamma", "beta", "moving_mean", "moving_variance"}
    assert layer_weights(trained, "conv1")["kernel"].shape == (3, 3, 1, 32) and not layer_weights(trained, "pool1")
    rows = {row["layer"]: row for row in layer_table(trained)}
    assert (rows["conv1"]["kernel"], rows["conv1"]["stride"], rows["conv1"]["padding"]) == ("3 x 3", "1 x 1", "valid")
    assert (rows["pool1"]["kernel"], rows["pool1"]["stride"]) == ("2 x 2", "2 x 2") and rows["flatten"]["kernel"] == ""
