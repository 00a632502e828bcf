"""Looking inside a model: feature maps, filters, attributions (Grad-CAM, saliency, SmoothGrad,
integrated gradients, occlusion) and the arithmetic of one unit (pure functions, no Streamlit).

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
from model.runtime.inference import as_model_input, fitted

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
                lambda images: self.maps_model(fitted(model, images), training=False),
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
                    activations, features = gradient_model(fitted(model, images), training=False)
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
                self.logits(self.features_model(fitted(self.model, images), training=False)), class_index, axis=1
            )
        return tf.abs(tape.gradient(score, images))[0, ..., 0]

    def _class_logits(self, images, class_index):
        features = self.features_model(fitted(self.model, images), training=False)
        return tf.gather(self.logits(features), class_index, axis=1)

    def _gradients(self, images, class_index):
        """The gradient of the class's logit with respect to each image of a batch."""
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = tf.reduce_sum(self._class_logits(images, class_index))
        return tape.gradient(score, images)

    def _scores(self, images, class_index):
        """The class's logit and probability for each image of a batch."""
        logits = self.logits(self.features_model(fitted(self.model, images), training=False))
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


def default_cam_layer(model: keras.Model) -> str:
    """The last convolution whose output is still a map (at least 4x4): Grad-CAM needs space to point at."""
    candidates = [
        layer
        for layer in inspectable_layers(model)
        if isinstance(layer, keras.layers.Conv2D) and min(layer.output.shape[1:3]) >= 4
    ]
    if not candidates:
        raise ValueError("The model has no convolution layer with a spatial output.")
    return candidates[-1].name


def _check_class(class_index: int) -> int:
    if not isinstance(class_index, (int, np.integer)) or not 0 <= int(class_index) <= 9:
        raise ValueError(f"class_index must be a digit 0-9, got {class_index!r}.")
    return int(class_index)


def _normalise(heat: np.ndarray) -> np.ndarray:
    heat = np.nan_to_num(heat.astype(np.float32))
    top = heat.max()
    return heat / top if top > 0 else np.zeros_like(heat)


def grad_cam(
    model: keras.Model, model_input: np.ndarray, class_index: int, layer_name: str | None = None
) -> np.ndarray:
    """Grad-CAM for `class_index`: a (28, 28) heat map in [0, 1] of where the evidence is.

    The channels of `layer_name` (by default the last convolution with a spatial map) are
    weighted by the mean gradient of the class's logit, summed, passed through ReLU and
    resized to the input.
    """
    class_index = _check_class(class_index)
    name = layer_name or default_cam_layer(model)
    if not isinstance(_layer(model, name), keras.layers.Conv2D | keras.layers.MaxPooling2D):
        raise ValueError(f"Grad-CAM needs a convolution or pooling layer, not {name!r}.")
    inspector = _inspector(model)
    images = _one_input(model_input)
    with inspector.lock:
        heat = inspector.cam_function(model, name)(images, tf.constant(class_index, tf.int32))
    return _normalise(np.asarray(heat))


def saliency(model: keras.Model, model_input: np.ndarray, class_index: int) -> np.ndarray:
    """The plain input gradient of the class's logit: a (28, 28) map in [0, 1] of the pixels that matter most."""
    class_index = _check_class(class_index)
    inspector = _inspector(model)
    images = _one_input(model_input)
    with inspector.lock:
        gradients = inspector.saliency_function(images, tf.constant(class_index, tf.int32))
    return _normalise(np.asarray(gradients))


def _batch_gradients(model: keras.Model, images: np.ndarray, class_index: int) -> np.ndarray:
    inspector = _inspector(model)
    with inspector.lock:
        gradients = inspector.gradient_function(
            tf.constant(images[..., None], tf.float32), tf.constant(class_index, tf.int32)
        )
    return np.asarray(gradients)[..., 0]


def class_scores(model: keras.Model, images: np.ndarray, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """The logit and the probability of `class_index` for each of (N, 28, 28) images."""
    class_index = _check_class(class_index)
    batch = as_model_input(images)
    inspector = _inspector(model)
    with inspector.lock:
        logits, probabilities = inspector.score_function(tf.constant(batch), tf.constant(class_index, tf.int32))
    return np.asarray(logits), np.asarray(probabilities)


def smooth_grad(
    model: keras.Model, model_input: np.ndarray, class_index: int, samples: int = 24, noise: float = 0.15
) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): the input gradient of the class's logit averaged over
    `samples` copies of the digit with Gaussian noise (standard deviation `noise`), as magnitudes:
    a (28, 28) map, >= 0, less speckled than the plain gradient."""
    class_index = _check_class(class_index)
    image = _one_input(model_input).numpy()[0, ..., 0]
    if not 1 <= samples <= 256 or not 0.0 <= noise <= 1.0:
        raise ValueError("samples must be 1-256 and noise 0-1.")
    rng = np.random.default_rng(0)
    noisy = image[None] + rng.normal(0.0, noise, (samples, 28, 28)).astype(np.float32)
    return np.abs(_batch_gradients(model, noisy, class_index).mean(axis=0)).astype(np.float32)


def integrated_gradients(model: keras.Model, model_input: np.ndarray, class_index: int, steps: int = 32) -> np.ndarray:
    """Integrated gradients (Sundararajan et al., 2017) from a black baseline: each pixel's
    value times the class logit's gradient averaged along the straight path from black to the
    digit (`steps` points). A signed (28, 28) map whose sum is close to the logit's rise
    from the black image to the digit (completeness: see `completeness`)."""
    class_index = _check_class(class_index)
    if not 2 <= steps <= 512:
        raise ValueError(f"steps must be 2-512, got {steps}.")
    image = _one_input(model_input).numpy()[0, ..., 0]
    # Midpoints of `steps` equal parts of u in [0, 1], taken at alpha = u**2: denser near the
    # black baseline, where the gradients change fastest (measured on the shipped model: the
    # completeness error falls from 8.3% to 3.5% on average at 32 steps).
    u = (np.arange(steps) + 0.5) / steps
    alphas, weights = (u**2).astype(np.float32), (2 * u / steps).astype(np.float32)
    gradients = _batch_gradients(model, alphas[:, None, None] * image[None], class_index)
    return (image * np.tensordot(weights, gradients, axes=1)).astype(np.float32)


def completeness(
    model: keras.Model, model_input: np.ndarray, class_index: int, attributions: np.ndarray
) -> tuple[float, float]:
    """(sum of the attributions, logit(digit) - logit(black image)): integrated gradients'
    completeness check; the two agree within a few percent when the steps are enough."""
    logits, _ = class_scores(model, np.stack([np.zeros((28, 28), np.float32), model_input]), class_index)
    return float(np.sum(attributions)), float(logits[1] - logits[0])


def occlusion(
    model: keras.Model, model_input: np.ndarray, class_index: int, patch: int = 6, stride: int = 2
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler and Fergus, 2014): how much the class's logit falls when
    a `patch` x `patch` square of the digit is blacked out, averaged over the squares covering
    each pixel. A signed (28, 28) map: positive where hiding the pixels lowers the score
    (evidence for the class), negative where it raises it. (The logit, not the probability:
    a confident model's probability barely moves when a small square is hidden.)"""
    class_index = _check_class(class_index)
    if not 1 <= patch <= 28 or not 1 <= stride <= patch:
        raise ValueError("patch must be 1-28 and stride 1-patch.")
    image = _one_input(model_input).numpy()[0, ..., 0]
    starts = list(range(0, 28 - patch + 1, stride))
    if starts[-1] != 28 - patch:
        starts.append(28 - patch)
    corners = [(row, column) for row in starts for column in starts]
    batch = np.repeat(image[None], len(corners) + 1, axis=0)
    for index, (row, column) in enumerate(corners, start=1):
        batch[index, row : row + patch, column : column + patch] = 0.0
    logits, _ = class_scores(model, batch, class_index)
    heat, count = np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)
    for (row, column), logit in zip(corners, logits[1:]):
        heat[row : row + patch, column : column + patch] += logits[0] - logit
        count[row : row + patch, column : column + patch] += 1
    return heat / np.maximum(count, 1)


def _layer_values(model: keras.Model, layer_name: str, model_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A layer's input (the previous layer's output) and the feature map shown for it, for one
    image, each (H, W, C): one traced call of a sub-model built once per layer."""
    inspector = _inspector(model)
    with inspector.lock:
        if layer_name not in inspector.unit_functions:
            shown = inspector.tensors[activation_layer(model, layer_name).name][1]
            probe = keras.Model(inspector.inputs, [inspector.tensors[layer_name][0], shown])
            inspector.unit_functions[layer_name] = tf.function(
                lambda images: probe(fitted(model, images), training=False), input_signature=_SIGNATURE[:1]
            )
        previous, shown = inspector.unit_functions[layer_name](_one_input(model_input))
    return np.asarray(previous)[0], np.asarray(shown)[0]


def _padding(layer: keras.layers.Layer, size: int, kernel: int, stride: int, output: int) -> int:
    """Rows (or columns) of zeros added before the first one: none for "valid", Keras's split for "same"."""
    if layer.padding == "valid":
        return 0
    return max((output - 1) * stride + kernel - size, 0) // 2


def _geometry(layer: keras.layers.Layer) -> tuple[tuple[int, int], tuple[int, int]]:
    """A convolution's or pooling layer's (kernel height, width) and (stride down, across)."""
    if isinstance(layer, keras.layers.Conv2D):
        if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise ValueError(f"{layer.name}: dilated or grouped convolutions are not explained.")
        return tuple(layer.kernel_size), tuple(layer.strides)
    return tuple(layer.pool_size), tuple(layer.strides)


def receptive_field(model: keras.Model, layer_name: str, row: int, column: int) -> tuple[int, int, int, int]:
    """The input pixels (top, bottom, left, right, inclusive, clipped to the image) that one unit of
    a convolution or pooling layer sees, through every convolution and pooling layer before it
    (the layers are taken as one chain, as in every architecture here)."""
    chain = inspectable_layers(model)
    names = [layer.name for layer in chain]
    if layer_name not in names:
        raise ValueError(f"{layer_name!r} is not a convolution or pooling layer.")
    top, bottom, left, right = row, row, column, column
    for layer in reversed(chain[: names.index(layer_name) + 1]):
        (kernel_rows, kernel_columns), (stride_rows, stride_columns) = _geometry(layer)
        size_rows, size_columns = layer.input.shape[1:3]
        out_rows, out_columns = layer.output.shape[1:3]
        pad_rows = _padding(layer, size_rows, kernel_rows, stride_rows, out_rows)
        pad_columns = _padding(layer, size_columns, kernel_columns, stride_columns, out_columns)
        top, bottom = top * stride_rows - pad_rows, bottom * stride_rows - pad_rows + kernel_rows - 1
        left, right = left * stride_columns - pad_columns, right * stride_columns - pad_columns + kernel_columns - 1
    return max(top, 0), min(bottom, 27), max(left, 0), min(right, 27)


def _signed(number: float) -> str:
    """'+ 0.5' or '- 0.5', for formulas."""
    return f"{'-' if number < 0 else '+'} {abs(number):.3f}"


def _after_layer(
    model: keras.Model, layer: keras.layers.Layer, channel: int, value: float
) -> list[tuple[str, str, float]]:
    """The steps from a convolution's weighted sum (or a pooling layer's value) to the value its
    feature map shows: a convolution's own activation, then the batch normalisation and
    activation layers that follow the layer."""
    steps = []
    activation = getattr(layer, "activation", None)
    if activation is not None and activation is not keras.activations.linear:
        value = (
            max(value, 0.0)
            if layer.activation is keras.activations.relu
            else float(np.asarray(layer.activation(np.array([value], np.float32)))[0])
        )
        steps.append((layer.name, f"its {layer.activation.__name__}", value))
    shown = activation_layer(model, layer.name)
    if shown is layer:
        return steps
    layers = model.layers
    for following in layers[layers.index(layer) + 1 : layers.index(shown) + 1]:
        if isinstance(following, keras.layers.BatchNormalization):
            mean = float(np.asarray(following.moving_mean)[channel])
            variance = float(np.asarray(following.moving_variance)[channel])
            gamma = float(np.asarray(following.gamma)[channel]) if following.scale else 1.0
            beta = float(np.asarray(following.beta)[channel]) if following.center else 0.0
            value = (value - mean) / np.sqrt(variance + following.epsilon) * gamma + beta
            steps.append(
                (
                    following.name,
                    f"batch normalisation: (x {_signed(-mean)}) / sqrt({variance:.3f} + {following.epsilon:g}) "
                    f"* {gamma:.3f} {_signed(beta)}",
                    float(value),
                )
            )
        elif isinstance(following, (keras.layers.Activation, keras.layers.ReLU)):
            kind = getattr(getattr(following, "activation", None), "__name__", "relu")
            plain_relu = kind == "relu" and (
                not isinstance(following, keras.layers.ReLU)
                or (following.max_value is None and not following.negative_slope and not following.threshold)
            )
            # ReLU in numpy; anything else through the layer itself (slower: an eager call).
            value = (
                max(value, 0.0) if plain_relu else float(np.asarray(following(np.array([[value]], np.float32)))[0, 0])
            )
            steps.append((following.name, "ReLU: max(0, x)" if kind == "relu" else kind, value))
        elif not isinstance(following, keras.layers.Dropout):
            raise ValueError(f"{following.name}: a {type(following).__name__} after a convolution is not explained.")
    return steps


def explain_unit(
    model: keras.Model, model_input: np.ndarray, layer_name: str, row: int, column: int, channel: int
) -> dict:
    """How one value of a convolution's or pooling layer's feature map is computed, for one image.

    Returns a dict: "layer", "kind" ("convolution", "max pooling" or "average pooling"),
    "row", "column", "channel"; "window" (top, bottom, left, right, inclusive) on the layer's
    input ("previous", (H, W, C)) and "receptive_field" on the digit; "inputs", the input window ((kh, kw, C) for a
    convolution, (ph, pw) of the channel for pooling). A convolution adds "kernel" (kh, kw, C),
    "per_input_channel" (C,) sums of inputs x kernel, "sum", "bias", "pre_activation" and
    "steps" [(layer, what it does, value after it)]; max pooling adds "winner" (row, column in
    the window); pooling adds "pooled" and "steps" (an activation after it). "value" is the
    reconstructed value, and "model_value" the model's own.
    """
    layer = _layer(model, layer_name)
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        raise ValueError(f"{layer_name!r} is a {type(layer).__name__}, not a convolution or pooling layer.")
    out_rows, out_columns, channels = (int(size) for size in activation_layer(model, layer_name).output.shape[1:])
    for name, index, size in (("row", row, out_rows), ("column", column, out_columns), ("channel", channel, channels)):
        if not isinstance(index, (int, np.integer)) or not 0 <= index < size:
            raise ValueError(f"{name} must be 0-{size - 1} for {layer_name}, got {index!r}.")
    row, column, channel = int(row), int(column), int(channel)
    previous, shown = _layer_values(model, layer_name, model_input)
    (kernel_rows, kernel_columns), (stride_rows, stride_columns) = _geometry(layer)
    pad_rows = _padding(layer, previous.shape[0], kernel_rows, stride_rows, out_rows)
    pad_columns = _padding(layer, previous.shape[1], kernel_columns, stride_columns, out_columns)
    # The window, on the input padded as Keras pads it for "same" (none for "valid"): zeros for a
    # convolution; for pooling, padding takes no part (NaN, skipped below).
    pooling = not isinstance(layer, keras.layers.Conv2D)
    padded = np.pad(
        previous.astype(np.float64 if pooling else np.float32),
        ((pad_rows, kernel_rows), (pad_columns, kernel_columns), (0, 0)),
        constant_values=np.nan if pooling else 0.0,
    )
    top, left = row * stride_rows, column * stride_columns
    window = padded[top : top + kernel_rows, left : left + kernel_columns]
    result = {
        "layer": layer_name,
        "row": row,
        "column": column,
        "channel": channel,
        "window": (
            top - pad_rows,
            top - pad_rows + kernel_rows - 1,
            left - pad_columns,
            left - pad_columns + kernel_columns - 1,
        ),
        "receptive_field": receptive_field(model, layer_name, row, column),
        # The whole input of the layer, (H, W, C): the window is part of it.
        "previous": previous,
    }
    if isinstance(layer, keras.layers.Conv2D):
        kernel = np.asarray(layer.kernel)[..., channel]
        bias = float(np.asarray(layer.bias)[channel]) if layer.use_bias else 0.0
        per_input_channel = (window * kernel).sum(axis=(0, 1))
        total = float(per_input_channel.sum())
        steps = _after_layer(model, layer, channel, total + bias)
        result |= {
            "kind": "convolution",
            "inputs": window,
            "kernel": kernel,
            "per_input_channel": per_input_channel,
            "sum": total,
            "bias": bias,
            "pre_activation": total + bias,
            "steps": steps,
            "value": steps[-1][2] if steps else total + bias,
        }
    else:
        values = window[..., channel]
        if isinstance(layer, keras.layers.MaxPooling2D):
            winner = np.unravel_index(int(np.nanargmax(values)), values.shape)
            result |= {"kind": "max pooling", "winner": (int(winner[0]), int(winner[1]))}
            pooled = float(np.nanmax(values))
        else:
            result["kind"] = "average pooling"
            pooled = float(np.nanmean(values))
        # A pooling layer followed by its activation (max pooling before ReLU, as in `fast`).
        steps = _after_layer(model, layer, channel, pooled)
        result |= {"pooled": pooled, "steps": steps, "value": steps[-1][2] if steps else pooled}
        result["inputs"] = values.astype(np.float32)
    result["model_value"] = float(shown[row, column, channel])
    return result


def layer_outputs(model: keras.Model, model_input: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for one (28, 28) input, by layer name, without the batch axis (one traced call)."""
    inspector = _inspector(model)
    with inspector.lock:
        if inspector.all_outputs is None:
            names = list(inspector.tensors)
            probe = keras.Model(inspector.inputs, [inspector.tensors[name][1] for name in names])
            function = tf.function(
                lambda images: probe(fitted(model, images), training=False), input_signature=_SIGNATURE[:1]
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
