"""The facts a lesson tells about a model, read from its Keras layers (never written for one model),
and the arrays each lesson step shows for one (28, 28) input. Pure functions, no Streamlit.

    facts = lesson_facts(model)
    facts.convolution.filters       # 32 for the shipped model's conv1
    before, after = activation_maps(model, image, facts, channel=0)
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from model.analysis.inspection import _inspector, layer_outputs
from model.analysis.robustness import Curve, transformation_curve
from model.analysis.unit import receptive_field
from model.runtime.inference import shaped_for

# Layers that normalise or rescale the pixels inside the model, before anything else.
_PIXEL_LAYERS = (keras.layers.Rescaling, keras.layers.Normalization)
_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_GLOBAL_POOLING = (keras.layers.GlobalMaxPooling2D, keras.layers.GlobalAveragePooling2D)
_ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)


@dataclass(frozen=True)
class InputFacts:
    """The model's input shape (without the batch axis) and its layers that rescale the pixels."""

    shape: tuple[int, ...]
    rescaling: tuple[str, ...]


@dataclass(frozen=True)
class ConvolutionFacts:
    """One convolution layer: its filters, kernel, stride, padding, input and output (H, W, C)."""

    layer: str
    filters: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    padding: str
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    # The layer it reads: "" for the model's input.
    reads: str
    bias: bool


@dataclass(frozen=True)
class ActivationFacts:
    """The first convolution's activation: its name ("relu", "tanh", ...), the layer that applies it
    (the convolution itself, or a layer after it), the layer whose output it takes ("" when inside
    the convolution) and the layers between the convolution and it (batch normalisation, pooling)."""

    name: str
    layer: str
    inside_convolution: bool
    before: str
    between: tuple[str, ...]


@dataclass(frozen=True)
class PoolingFacts:
    """The first pooling layer after the first convolution: "max" or "average", window, stride, shapes."""

    layer: str
    kind: str
    pool_size: tuple[int, int]
    strides: tuple[int, int]
    before: str
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]


@dataclass(frozen=True)
class DenseFacts:
    """One dense layer: its units and activation name."""

    layer: str
    units: int
    activation: str


@dataclass(frozen=True)
class HeadFacts:
    """From maps to digits: the layer that makes one list of numbers, its size and what it reads, the
    hidden dense layers, the output layer and where its softmax is (its own activation or a layer)."""

    flatten: str
    flatten_kind: str
    flatten_size: int
    flatten_reads: str
    flatten_reads_shape: tuple[int, ...]
    hidden: tuple[DenseFacts, ...]
    dropout: tuple[str, ...]
    output: DenseFacts | None
    softmax_layer: str


@dataclass(frozen=True)
class LessonFacts:
    """Everything the lesson says about a model; None (or empty) where a step does not apply."""

    input: InputFacts
    convolution: ConvolutionFacts | None
    activation: ActivationFacts | None
    pooling: PoolingFacts | None
    # Every convolution after the first, with the pixels (height, width) one of its values sees
    # (() when that cannot be worked out, as for a dilated convolution).
    deeper: tuple[ConvolutionFacts, ...]
    deeper_fields: tuple[tuple[int, int], ...]
    head: HeadFacts


def _ints(values) -> tuple[int, ...]:
    return tuple(int(value) for value in values)


def _shape(tensor) -> tuple[int, ...]:
    return _ints(tensor.shape[1:])


def _activation_name(layer: keras.layers.Layer) -> str:
    """A layer's activation as a name: "relu", "tanh", "leaky relu", "linear"."""
    if isinstance(layer, keras.layers.ReLU):
        plain = layer.max_value is None and not layer.negative_slope and not layer.threshold
        return "relu" if plain else "clipped or leaky relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky relu"
    if isinstance(layer, keras.layers.ELU):
        return "elu"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _reads(layers: list, index: int) -> str:
    """The layer before `layers[index]` in the chain: "" when it is the model's input."""
    if index == 0 or isinstance(layers[index - 1], keras.layers.InputLayer):
        return ""
    return layers[index - 1].name


def _convolution(layers: list, index: int) -> ConvolutionFacts:
    layer = layers[index]
    return ConvolutionFacts(
        layer=layer.name,
        filters=int(layer.filters),
        kernel=_ints(layer.kernel_size),
        strides=_ints(layer.strides),
        padding=layer.padding,
        input_shape=_shape(layer.input),
        output_shape=_shape(layer.output),
        reads=_reads(layers, index),
        bias=bool(layer.use_bias),
    )


def _activation(layers: list, index: int) -> ActivationFacts | None:
    """The first convolution's own activation, else the first activation layer after it (before the
    next convolution or the flattening); None when there is neither."""
    convolution = layers[index]
    own = _activation_name(convolution)
    if own != "linear":
        return ActivationFacts(own, convolution.name, True, "", ())
    for position in range(index + 1, len(layers)):
        layer = layers[position]
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Flatten, keras.layers.Dense, *_GLOBAL_POOLING)):
            return None
        if isinstance(layer, _ACTIVATIONS):
            between = tuple(
                other.name for other in layers[index + 1 : position] if not isinstance(other, keras.layers.Dropout)
            )
            return ActivationFacts(_activation_name(layer), layer.name, False, layers[position - 1].name, between)
    return None


def _pooling(layers: list, index: int) -> PoolingFacts | None:
    """The first max or average pooling layer after the first convolution, before the flattening."""
    for position in range(index + 1, len(layers)):
        layer = layers[position]
        if isinstance(layer, (keras.layers.Flatten, keras.layers.Dense, *_GLOBAL_POOLING)):
            return None
        if isinstance(layer, _POOLING):
            return PoolingFacts(
                layer=layer.name,
                kind="max" if isinstance(layer, keras.layers.MaxPooling2D) else "average",
                pool_size=_ints(layer.pool_size),
                strides=_ints(layer.strides),
                before=layers[position - 1].name,
                input_shape=_shape(layer.input),
                output_shape=_shape(layer.output),
            )
    return None


def _head(layers: list) -> HeadFacts:
    """The first layer whose output is one list of numbers per digit, and the dense layers after it."""
    index = next((position for position, layer in enumerate(layers) if len(layer.output.shape) == 2), -1)
    flatten = layers[index]
    reads = layers[index - 1] if index > 0 else flatten
    dense = [
        DenseFacts(layer.name, int(layer.units), _activation_name(layer))
        for layer in layers[index:]
        if isinstance(layer, keras.layers.Dense)
    ]
    last = layers[-1]
    softmax_layer = last.name if (isinstance(last, keras.layers.Softmax) or _activation_name(last) == "softmax") else ""
    return HeadFacts(
        flatten=flatten.name,
        flatten_kind=type(flatten).__name__,
        flatten_size=int(flatten.output.shape[-1]),
        flatten_reads=_reads(layers, index) if reads is not flatten else "",
        flatten_reads_shape=_shape(reads.output) if reads is not flatten else (),
        hidden=tuple(dense[:-1]),
        dropout=tuple(layer.name for layer in layers[index:] if isinstance(layer, keras.layers.Dropout)),
        output=dense[-1] if dense else None,
        softmax_layer=softmax_layer,
    )


def lesson_facts(model: keras.Model) -> LessonFacts:
    """What the lesson says about `model`, read from its layers (taken as one chain, as in every
    architecture here): the input, the first convolution, its activation, the first pooling, the
    deeper convolutions, and the flattening, dense layers and softmax."""
    layers = list(model.layers)
    pixels = tuple(layer.name for layer in layers if isinstance(layer, _PIXEL_LAYERS))
    facts_of_input = InputFacts(_shape(model.inputs[0]), pixels)
    convolutions = [index for index, layer in enumerate(layers) if isinstance(layer, keras.layers.Conv2D)]
    head = _head(layers)
    if not convolutions:
        return LessonFacts(facts_of_input, None, None, None, (), (), head)
    first = convolutions[0]
    deeper = tuple(_convolution(layers, index) for index in convolutions[1:])
    fields = []
    for convolution in deeper:
        rows, columns = convolution.output_shape[:2]
        try:
            top, bottom, left, right = receptive_field(model, convolution.layer, rows // 2, columns // 2)
            fields.append((bottom - top + 1, right - left + 1))
        except ValueError:
            fields.append(())
    first_facts = _convolution(layers, first), _activation(layers, first), _pooling(layers, first)
    return LessonFacts(facts_of_input, *first_facts, deeper, tuple(fields), head)


def pre_activation_map(
    model: keras.Model, image: np.ndarray, convolution: ConvolutionFacts, outputs: dict | None = None
) -> np.ndarray:
    """A convolution's sums of products plus bias, before any activation, (H, W, filters); `outputs`:
    the image's `layer_outputs` when the caller has them already."""
    layer = model.get_layer(convolution.layer)
    outputs = outputs if outputs is not None else layer_outputs(model, image)
    previous = outputs[convolution.reads] if convolution.reads else np.asarray(image, np.float32)
    previous = np.asarray(previous, np.float32).reshape(convolution.input_shape)
    if layer.groups != 1:
        raise ValueError(f"{layer.name}: grouped convolutions are not explained.")
    sums = keras.ops.conv(
        previous[None], layer.kernel, convolution.strides, convolution.padding, dilation_rate=layer.dilation_rate
    )
    if layer.use_bias:
        sums = sums + layer.bias
    return np.asarray(sums)[0]


def activation_maps(model: keras.Model, image: np.ndarray, facts: LessonFacts, channel: int) -> tuple:
    """One channel's values just before the first convolution's activation and just after it, (H, W) each."""
    activation = facts.activation
    if activation is None:
        raise ValueError("This model's first convolution has no activation.")
    outputs = layer_outputs(model, image)
    if activation.inside_convolution:
        before = pre_activation_map(model, image, facts.convolution, outputs)
    else:
        before = outputs[activation.before]
    return before[..., channel], outputs[activation.layer][..., channel]


def pooling_maps(model: keras.Model, image: np.ndarray, facts: LessonFacts, channel: int) -> tuple:
    """One channel's map just before the first pooling layer and its pooled map, (H, W) each."""
    pooling = facts.pooling
    if pooling is None:
        raise ValueError("This model has no pooling layer after its first convolution.")
    outputs = layer_outputs(model, image)
    return outputs[pooling.before][..., channel], outputs[pooling.layer][..., channel]


def strongest_channels(maps: np.ndarray, count: int) -> np.ndarray:
    """The channels of an (H, W, C) map with the largest values, strongest first."""
    return np.argsort(-maps.max(axis=(0, 1)), kind="stable")[:count]


def head_vectors(model: keras.Model, image: np.ndarray, facts: LessonFacts) -> dict[str, np.ndarray]:
    """The flattened list and every hidden dense layer's output for one input, by layer name."""
    outputs = layer_outputs(model, image)
    names = [facts.head.flatten, *(dense.layer for dense in facts.head.hidden)]
    return {name: np.ravel(outputs[name]) for name in names if name in outputs}


def logits(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """The ten scores the softmax turns into probabilities (10,): the last layer's input through its
    weighted sums, as the attributions and attacks compute them (`inspection._Inspector.logits`)."""
    inspector = _inspector(model)
    features = inspector.features_model(shaped_for(model, np.asarray(image, np.float32)[None]), training=False)
    return np.asarray(inspector.logits(features))[0]


def with_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of the scores divided by `temperature`: above 1 flatter, below 1 sharper."""
    if temperature <= 0:
        raise ValueError("The temperature must be above 0.")
    shifted = np.asarray(scores, np.float64) / temperature
    shifted = np.exp(shifted - shifted.max())
    return shifted / shifted.sum()


def rotation_curve(model: keras.Model, image: np.ndarray) -> Curve:
    """The ten probabilities as the digit is rotated by each angle of the Robustness page's sweep."""
    return transformation_curve(model, image, "rotation")
