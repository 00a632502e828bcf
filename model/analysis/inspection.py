"""Looking inside a model: feature maps, filters, every layer's output and weights, and the
per-model graph and traced functions that attributions.py and unit.py share (pure functions,
no Streamlit).

A convolution's feature map is its activation: for a convolution followed by batch
normalisation and ReLU (the default architecture's `conv1`, `conv1_norm`, `conv1_relu`),
the output of that ReLU; for a convolution with its own ReLU (the `original` network), its output.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np
import tensorflow as tf

from model.architecture import inspectable_layers
from model.runtime.inference import as_model_input, shaped_for

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_cache_lock = threading.Lock()


def _layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError as error:
        raise ValueError(f"The model has no layer named {name!r}.") from error


def activation_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer whose output is the activation of the convolution or pooling layer `name`."""
    layer = _layer(model, name)
    names = {other.name for other in model.layers}
    return model.get_layer(f"{name}_relu") if f"{name}_relu" in names else layer


def layer_shapes(model: keras.Model) -> dict[str, tuple[int, int, int]]:
    """Each convolution and pooling layer's output shape (H, W, C), in layer order."""
    return {layer.name: tuple(int(size) for size in layer.output.shape[1:]) for layer in inspectable_layers(model)}


def _graph(model: keras.Model) -> tuple[keras.KerasTensor, dict[str, tuple[keras.KerasTensor, keras.KerasTensor]]]:
    """The model's input and each layer's (input, output) tensors, all in one connected graph.

    A functional model has its own. A Sequential model's layers are called several times
    while Keras builds it (each layer's first call belongs to a different partial graph),
    so its layers are called once more here, in order, on a new input.
    """
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(model.inputs[0].shape[1:])
        tensors, x = {}, inputs
        for layer in model.layers:
            tensors[layer.name] = (x, layer(x))
            x = tensors[layer.name][1]
        return inputs, tensors
    return model.inputs[0], {layer.name: (layer.input, layer.output) for layer in model.layers[1:]}


class _Inspector:
    """The sub-models of one model, built once: all feature maps in one call, and gradient helpers."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.names = [layer.name for layer in inspectable_layers(model)]
        self.lock = threading.Lock()
        self.inputs, self.tensors = _graph(model)
        if self.names:
            outputs = [self.tensors[activation_layer(model, name).name][1] for name in self.names]
            self.maps_model = keras.Model(self.inputs, outputs, name=f"{model.name}_feature_maps")
            self.maps = tf.function(
                lambda images: self.maps_model(shaped_for(model, images), training=False),
                input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
            )
        # The classifier's inputs and weights, to take gradients of logits rather than of
        # saturated softmax probabilities.
        head = model.layers[-1]
        self.head = head
        self.features_model = keras.Model(self.inputs, self.tensors[head.name][0])
        self.cam_functions: dict[str, tf.types.experimental.GenericFunction] = {}
        self.unit_functions: dict[str, tf.types.experimental.GenericFunction] = {}
        self.all_outputs = None
        self.saliency_function = tf.function(self._saliency, input_signature=_SIGNATURE)
        self.gradient_function = tf.function(self._gradients, input_signature=_BATCH_SIGNATURE)
        self.score_function = tf.function(self._scores, input_signature=_BATCH_SIGNATURE)

    def logits(self, features):
        head = self.head
        if isinstance(head, keras.layers.Softmax) or (
            isinstance(head, keras.layers.Activation) and getattr(head.activation, "__name__", "") == "softmax"
        ):
            # A softmax of its own: its input is the logits.
            return features
        if isinstance(head, keras.layers.Dense):
            return tf.matmul(features, head.kernel) + (head.bias if head.use_bias else 0.0)
        return head(features)

    def cam_function(self, model: keras.Model, layer_name: str):
        """A traced Grad-CAM for one layer: (image, class) -> (28, 28) map before normalisation."""
        if layer_name not in self.cam_functions:
            gradient_model = keras.Model(
                self.inputs,
                [self.tensors[activation_layer(model, layer_name).name][1], self.tensors[self.head.name][0]],
            )

            def cam(images, class_index):
                with tf.GradientTape() as tape:
                    activations, features = gradient_model(shaped_for(model, images), training=False)
                    score = tf.gather(self.logits(features), class_index, axis=1)
                gradients = tape.gradient(score, activations)
                weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
                heat = tf.nn.relu(tf.reduce_sum(activations * weights, axis=-1))[0]
                return tf.image.resize(heat[..., None], (28, 28), method="bilinear")[..., 0]

            self.cam_functions[layer_name] = tf.function(cam, input_signature=_SIGNATURE)
        return self.cam_functions[layer_name]

    def _saliency(self, images, class_index):
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = tf.gather(
                self.logits(self.features_model(shaped_for(self.model, images), training=False)), class_index, axis=1
            )
        return tf.abs(tape.gradient(score, images))[0, ..., 0]

    def _class_logits(self, images, class_index):
        features = self.features_model(shaped_for(self.model, images), training=False)
        return tf.gather(self.logits(features), class_index, axis=1)

    def _gradients(self, images, class_index):
        """The gradient of the class's logit with respect to each image of a batch."""
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = tf.reduce_sum(self._class_logits(images, class_index))
        return tape.gradient(score, images)

    def _scores(self, images, class_index):
        """The class's logit and probability for each image of a batch."""
        logits = self.logits(self.features_model(shaped_for(self.model, images), training=False))
        return tf.gather(logits, class_index, axis=1), tf.gather(tf.nn.softmax(logits), class_index, axis=1)


_SIGNATURE = [tf.TensorSpec([1, 28, 28, 1], tf.float32), tf.TensorSpec([], tf.int32)]


_BATCH_SIGNATURE = [tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([], tf.int32)]


def _inspector(model: keras.Model) -> _Inspector:
    with _cache_lock:
        inspector = _cache.get(model)
        if inspector is None:
            inspector = _cache[model] = _Inspector(model)
        return inspector


def _one_input(model_input: np.ndarray) -> tf.Tensor:
    if np.shape(model_input) != (28, 28):
        raise ValueError(f"Expected one input shaped (28, 28), got {np.shape(model_input)}.")
    return tf.constant(as_model_input(model_input))


def feature_maps(model: keras.Model, model_input: np.ndarray) -> dict[str, np.ndarray]:
    """The activation of every convolution and pooling layer for one (28, 28) input.

    In layer order, each shaped (H, W, C) as the layer's output; one call of one cached sub-model.
    """
    inspector = _inspector(model)
    if not inspector.names:
        _one_input(model_input)
        return {}
    with inspector.lock:
        outputs = inspector.maps(_one_input(model_input))
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return {name: np.asarray(output[0]) for name, output in zip(inspector.names, outputs)}


def kernels(model: keras.Model, layer_name: str) -> np.ndarray:
    """A convolution layer's filters, shaped (kernel height, kernel width, input channels, filters)."""
    layer = _layer(model, layer_name)
    if not isinstance(layer, keras.layers.Conv2D):
        raise ValueError(f"{layer_name!r} is a {type(layer).__name__}, not a convolution layer.")
    return np.asarray(layer.kernel)


def first_convolution(model: keras.Model) -> str | None:
    """The name of the model's first convolution layer, or None when it has none."""
    return next((layer.name for layer in inspectable_layers(model) if isinstance(layer, keras.layers.Conv2D)), None)


def layer_outputs(model: keras.Model, model_input: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for one (28, 28) input, by layer name, without the batch axis (one traced call)."""
    inspector = _inspector(model)
    with inspector.lock:
        if inspector.all_outputs is None:
            names = list(inspector.tensors)
            probe = keras.Model(inspector.inputs, [inspector.tensors[name][1] for name in names])
            function = tf.function(
                lambda images: probe(shaped_for(model, images), training=False), input_signature=_SIGNATURE[:1]
            )
            inspector.all_outputs = (names, function)
        names, function = inspector.all_outputs
        outputs = function(_one_input(model_input))
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return {name: np.asarray(output)[0] for name, output in zip(names, outputs)}


def layer_weights(model: keras.Model, layer_name: str) -> dict[str, np.ndarray]:
    """A layer's weight arrays by name ("kernel", "bias", "gamma", "moving_mean", ...); empty when it has none."""
    return {weight.path.split("/")[-1]: np.asarray(weight) for weight in _layer(model, layer_name).weights}
