"""One value of a feature map worked out by hand: its receptive field, the window, the kernel, the
sum of products, the bias, batch normalisation and the activation (`explain_unit`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from model.analysis.inspection import _SIGNATURE, _inspector, _layer, _one_input, activation_layer
from model.architecture import inspectable_layers
from model.runtime.inference import shaped_for


class UnitKind(enum.Enum):
    CONVOLUTION = "convolution"
    MAX_POOLING = "max pooling"
    AVERAGE_POOLING = "average pooling"


@dataclass(frozen=True)
class Step:
    """A layer after the explained one, applied to the value: its name, what it does, the value after it."""

    layer: str
    what: str
    value: float


@dataclass(frozen=True)
class UnitArithmetic:
    """How one value of a feature map is computed, for one image (`explain_unit`).

    `window` (top, bottom, left, right, inclusive) is on the layer's input `previous` (H, W, C),
    `receptive_field` the same on the digit. `inputs` is the input window: (kh, kw, C) for a
    convolution, (ph, pw) of the channel for pooling. `value` is the value rebuilt by hand,
    `model_value` the model's own.
    """

    layer: str
    kind: UnitKind
    row: int
    column: int
    channel: int
    window: tuple[int, int, int, int]
    receptive_field: tuple[int, int, int, int]
    previous: np.ndarray
    inputs: np.ndarray
    steps: tuple[Step, ...]
    value: float
    model_value: float
    # A convolution's: the kernel (kh, kw, C), each input channel's sum of inputs x kernel (C,),
    # their total, the bias and the total plus the bias.
    kernel: np.ndarray | None = None
    per_input_channel: np.ndarray | None = None
    weighted_sum: float | None = None
    bias: float | None = None
    pre_activation: float | None = None
    # Pooling's: the value that passes on; for max pooling, where it is in the window (row, column).
    pooled: float | None = None
    winner: tuple[int, int] | None = None


def _layer_values(model: keras.Model, layer_name: str, model_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A layer's input (the previous layer's output) and the feature map shown for it, for one
    image, each (H, W, C): one traced call of a sub-model built once per layer."""
    inspector = _inspector(model)
    with inspector.lock:
        if layer_name not in inspector.unit_functions:
            shown = inspector.tensors[activation_layer(model, layer_name).name][1]
            probe = keras.Model(inspector.inputs, [inspector.tensors[layer_name][0], shown])
            inspector.unit_functions[layer_name] = tf.function(
                lambda images: probe(shaped_for(model, images), training=False), input_signature=_SIGNATURE[:1]
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


def _after_layer(model: keras.Model, layer: keras.layers.Layer, channel: int, value: float) -> tuple[Step, ...]:
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
        steps.append(Step(layer.name, f"its {layer.activation.__name__}", value))
    shown = activation_layer(model, layer.name)
    if shown is layer:
        return tuple(steps)
    layers = model.layers
    for following in layers[layers.index(layer) + 1 : layers.index(shown) + 1]:
        if isinstance(following, keras.layers.BatchNormalization):
            mean = float(np.asarray(following.moving_mean)[channel])
            variance = float(np.asarray(following.moving_variance)[channel])
            gamma = float(np.asarray(following.gamma)[channel]) if following.scale else 1.0
            beta = float(np.asarray(following.beta)[channel]) if following.center else 0.0
            value = (value - mean) / np.sqrt(variance + following.epsilon) * gamma + beta
            steps.append(
                Step(
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
            steps.append(Step(following.name, "ReLU: max(0, x)" if kind == "relu" else kind, value))
        elif not isinstance(following, keras.layers.Dropout):
            raise ValueError(f"{following.name}: a {type(following).__name__} after a convolution is not explained.")
    return tuple(steps)


def explain_unit(
    model: keras.Model, model_input: np.ndarray, layer_name: str, row: int, column: int, channel: int
) -> UnitArithmetic:
    """How one value of a convolution's or pooling layer's feature map is computed, for one image:
    the window, the kernel, the sums, the bias and each layer after it (batch normalisation, the
    activation). ValueError for another kind of layer or a position outside the map."""
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
    where = {
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
        "model_value": float(shown[row, column, channel]),
    }
    if isinstance(layer, keras.layers.Conv2D):
        kernel = np.asarray(layer.kernel)[..., channel]
        bias = float(np.asarray(layer.bias)[channel]) if layer.use_bias else 0.0
        per_input_channel = (window * kernel).sum(axis=(0, 1))
        total = float(per_input_channel.sum())
        steps = _after_layer(model, layer, channel, total + bias)
        return UnitArithmetic(
            **where,
            kind=UnitKind.CONVOLUTION,
            inputs=window,
            steps=steps,
            value=steps[-1].value if steps else total + bias,
            kernel=kernel,
            per_input_channel=per_input_channel,
            weighted_sum=total,
            bias=bias,
            pre_activation=total + bias,
        )
    values = window[..., channel]
    winner = None
    if isinstance(layer, keras.layers.MaxPooling2D):
        kind, pooled = UnitKind.MAX_POOLING, float(np.nanmax(values))
        found = np.unravel_index(int(np.nanargmax(values)), values.shape)
        winner = (int(found[0]), int(found[1]))
    else:
        kind, pooled = UnitKind.AVERAGE_POOLING, float(np.nanmean(values))
    # A pooling layer followed by its activation (max pooling before ReLU, as in `fast`).
    steps = _after_layer(model, layer, channel, pooled)
    return UnitArithmetic(
        **where,
        kind=kind,
        inputs=values.astype(np.float32),
        steps=steps,
        value=steps[-1].value if steps else pooled,
        pooled=pooled,
        winner=winner,
    )
