"""Convolutional networks for 28x28 MNIST digits, as short Keras functional definitions.

Every layer has a name, so pages can list the convolution and pooling layers
(`conv1`, `pool1`, ...) and look inside them.
"""

from __future__ import annotations

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# Each architecture's own dropout rate, used when none is given.
DEFAULT_DROPOUT = {"default": 0.4, "original": 0.2, "fast": 0.0, "lean": 0.1}


def _conv_block(x, filters: int, kernel_size: int, name: str):
    """Convolution without bias, batch normalisation, then ReLU."""
    x = layers.Conv2D(filters, kernel_size, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_norm")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_pool_block(x, filters: int, kernel_size: int, name: str, pool_name: str, dropout: float, dropout_name: str):
    """Convolution without bias, max pooling, then batch normalisation, ReLU and dropout on the pooled map."""
    x = layers.Conv2D(filters, kernel_size, use_bias=False, name=name)(x)
    x = layers.MaxPooling2D(2, name=pool_name)(x)
    x = layers.BatchNormalization(name=f"{pool_name}_norm")(x)
    x = layers.Activation("relu", name=f"{pool_name}_relu")(x)
    return layers.Dropout(dropout, name=dropout_name)(x)


def build_default(width: float = 1.0, dropout: float = DEFAULT_DROPOUT["default"]) -> keras.Model:
    """The shipped design: two conv-conv-pool blocks, a 4x4 convolution as classifier head.

    Batch normalisation after every convolution, dropout after each block, and no
    dense hidden layer: about 0.2 M parameters at width 1.
    """
    c1, c2, c3 = (max(4, round(n * width)) for n in (32, 64, 128))
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_block(inputs, c1, 3, "conv1")  # 26x26
    x = _conv_block(x, c1, 3, "conv2")  # 24x24
    x = layers.MaxPooling2D(2, name="pool1")(x)  # 12x12
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = _conv_block(x, c2, 3, "conv3")  # 10x10
    x = _conv_block(x, c2, 3, "conv4")  # 8x8
    x = layers.MaxPooling2D(2, name="pool2")(x)  # 4x4
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = _conv_block(x, c3, 4, "conv5")  # 1x1
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout3")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="default")


def build_lean(width: float = 1.0, dropout: float = DEFAULT_DROPOUT["lean"]) -> keras.Model:
    """The shipped design at about half its cost per image: one 5x5 convolution instead of the first
    two 3x3 ones, and each block's pooling before its normalisation, so that batch normalisation and
    ReLU run on maps a quarter the size. About 0.19 M parameters at width 1."""
    c1, c2, c3 = (max(4, round(n * width)) for n in (32, 64, 128))
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_pool_block(inputs, c1, 5, "conv1", "pool1", dropout, "dropout1")  # 24x24, pooled to 12x12
    x = _conv_block(x, c2, 3, "conv2")  # 10x10
    x = _conv_pool_block(x, c2, 3, "conv3", "pool2", dropout, "dropout2")  # 8x8, pooled to 4x4
    x = _conv_block(x, c3, 4, "conv4")  # 1x1
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout3")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lean")


def build_original(width: float = 1.0, dropout: float = DEFAULT_DROPOUT["original"]) -> keras.Model:
    """The network of the project's origin, a Keras digit recognizer, layer for layer."""
    c1, c2, units = (max(4, round(n * width)) for n in (32, 64, 100))
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Conv2D(c1, 3, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(c1, 3, activation="relu", name="conv2")(x)
    x = layers.BatchNormalization(name="conv2_norm")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(c2, 3, activation="relu", name="conv3")(x)
    x = layers.Conv2D(c2, 3, activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="dense1")(x)
    x = layers.BatchNormalization(name="dense1_norm")(x)
    x = layers.Dense(units, activation="relu", name="dense2")(x)
    x = layers.BatchNormalization(name="dense2_norm")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="original")


def build_fast(width: float = 1.0, dropout: float = DEFAULT_DROPOUT["fast"]) -> keras.Model:
    """The small network of the fastest known MNIST recipe (tuomaso/train_mnist_fast): a 5x5 and a
    3x3 convolution, each max-pooled before its ReLU, and one dense layer; about 0.22 M parameters."""
    c1, c2, units = (max(4, round(n * width)) for n in (24, 32, 256))
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    # MNIST's mean 0 and standard deviation 1, as the recipe feeds it (inputs stay 0-1 pixels).
    x = layers.Rescaling(1 / 0.3081, offset=-0.1307 / 0.3081, name="standardise")(inputs)
    x = layers.Conv2D(c1, 5, name="conv1")(x)  # 24x24
    x = layers.MaxPooling2D(2, name="pool1")(x)  # 12x12
    x = layers.Activation("relu", name="pool1_relu")(x)
    x = layers.Conv2D(c2, 3, name="conv2")(x)  # 10x10
    x = layers.MaxPooling2D(2, name="pool2")(x)  # 5x5
    x = layers.Activation("relu", name="pool2_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="dense1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout1")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fast")


ARCHITECTURES = {"default": build_default, "original": build_original, "fast": build_fast, "lean": build_lean}


def build_model(architecture: str = "default", width: float = 1.0, dropout: float | None = None) -> keras.Model:
    """Builds a named architecture; `dropout=None` keeps the architecture's own rate."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}.")
    if not 0.1 <= width <= 4.0:
        raise ValueError(f"width must be between 0.1 and 4, got {width}.")
    kwargs = {"width": width}
    if dropout is not None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        kwargs["dropout"] = dropout
    return ARCHITECTURES[architecture](**kwargs)


def inspectable_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The convolution and pooling layers of a model, in order."""
    kinds = (layers.Conv2D, layers.MaxPooling2D, layers.AveragePooling2D)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def layer_table(model: keras.Model) -> list[dict]:
    """One row per layer: name, kind, output shape, parameter count, and for convolution and
    pooling layers the kernel (or pool) size, stride and padding."""
    rows = []
    for layer in model.layers:
        size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        rows.append(
            {
                "layer": layer.name,
                "kind": type(layer).__name__,
                "output shape": str(tuple(layer.output.shape[1:])),
                "parameters": int(layer.count_params()),
                "kernel": " x ".join(map(str, size)) if size else "",
                "stride": " x ".join(map(str, layer.strides)) if size and hasattr(layer, "strides") else "",
                "padding": getattr(layer, "padding", "") if size else "",
            }
        )
    return rows
