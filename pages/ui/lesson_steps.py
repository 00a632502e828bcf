"""The Lesson page's steps, one function each: a short text written from the model's own layers
(`lesson_facts`), one figure on the visitor's digit and one thing to try; and why a step does not
apply to a model. This file has the first four steps, lesson_later_steps.py the others; the
arithmetic is in model/analysis/lesson.py, the figures in figures/lesson.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from model.analysis.lesson import (
    LessonFacts,
    activation_maps,
    lesson_facts,
    pooling_maps,
    pre_activation_map,
)
from model.analysis.unit import explain_unit
from model.store.registry import ModelVersion
from pages.ui.common import as_code_span as code
from pages.ui.figures.lesson import (
    before_after_figure,
    convolution_figure,
    input_figure,
)
from pages.ui.models import FallingBack
from pages.ui.state import Digit

STATIC = {"displayModeBar": False}
# What an activation other than ReLU does, in a few words.
ACTIVATIONS = {
    "tanh": "squashes every value into -1 to 1",
    "sigmoid": "squashes every value into 0 to 1",
    "elu": "keeps small negative values instead of zeroing them",
    "leaky relu": "scales negative values down instead of zeroing them",
    "gelu": "lets small negative values through, softly",
    "swish": "lets small negative values through, softly",
    "silu": "lets small negative values through, softly",
}


@dataclass(frozen=True)
class Lesson:
    """What every step works on: the version, its predictor, the visitor's digit, the model's facts
    and the digit's ten probabilities."""

    version: ModelVersion
    predictor: FallingBack
    digit: Digit
    facts: LessonFacts
    probabilities: np.ndarray

    @property
    def model(self):
        return self.predictor.model

    @property
    def image(self) -> np.ndarray:
        return self.digit.image

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


@dataclass(frozen=True)
class LessonStep:
    """One step: its title, what shows it, and why it does not apply to a model ("" when it does)."""

    title: str
    show: Callable[[Lesson], None]
    missing: Callable[[LessonFacts], str] = lambda facts: ""


def no_convolution(facts: LessonFacts) -> str:
    if facts.convolution is None:
        pixels = int(np.prod(facts.input.shape))
        return f"this model has no convolution layers: it reads your digit as one flat list of {pixels} pixels."
    return ""


def no_activation(facts: LessonFacts) -> str:
    if facts.convolution is None:
        return "with no convolution there is no convolution's activation either."
    if facts.activation is None:
        return f"{code(facts.convolution.layer)} has no activation: its sums pass on as they are, negatives included."
    return ""


def no_pooling(facts: LessonFacts) -> str:
    if facts.convolution is None:
        return "with no convolution there are no maps to pool."
    if facts.pooling is None:
        first = code(facts.convolution.layer)
        return f"this model has no pooling layer after {first}; its maps shrink only by convolution."
    return ""


def no_deeper_layers(facts: LessonFacts) -> str:
    if facts.convolution is None:
        return "this model has no convolutions, so no deeper ones."
    if not facts.deeper:
        return f"{code(facts.convolution.layer)} is this model's only convolution."
    return ""


@st.cache_data(max_entries=8, show_spinner=False)
def facts_of(cache_key: str, _model) -> LessonFacts:
    """The lesson's facts about a model version, read once per version."""
    return lesson_facts(_model)


def size(shape) -> str:
    """(26, 26, 32) -> "26 x 26 x 32"."""
    return " x ".join(str(int(number)) for number in shape)


def explain(text: str, try_this: str) -> None:
    """A step's words: its explanation and one thing to try."""
    st.markdown(text)
    st.caption(f"**Try this:** {try_this}")


def channel_picker(key: str, channels: int) -> int:
    return int(st.number_input(f"Channel (0-{channels - 1})", 0, channels - 1, 0, key=key))


def what_it_sees(lesson: Lesson) -> None:
    facts, digit = lesson.facts, lesson.digit
    shape = facts.input.shape
    if digit.source == "drawing" or digit.source.startswith("upload"):
        origin = (
            f"Your {'drawing' if digit.source == 'drawing' else 'photo'} was cropped to its ink, scaled to fit "
            "20 x 20 and centred by its centre of mass, as MNIST digits are."
        )
    else:
        origin = f"This is {digit.source}, already 28 x 28 like every MNIST digit."
    rescaled = (
        f" Its first layer, {', '.join(map(code, facts.input.rescaling))}, rescales them."
        if facts.input.rescaling
        else ""
    )
    explain(
        f"The network sees your digit as {int(np.prod(shape))} numbers, a {size(shape)} grid, one per pixel, from 0 "
        f"(black) to 1 (white ink). {origin}{rescaled}",
        "hover the pixels to read them; draw a thin 1, then a thick one, and compare.",
    )
    st.plotly_chart(input_figure(lesson.image, "What the network gets"), key="lesson_input", config=STATIC)


def one_convolution(lesson: Lesson) -> None:
    convolution = lesson.facts.convolution
    try:
        sums = pre_activation_map(lesson.model, lesson.image, convolution)
    except ValueError as error:
        st.info(f"The arithmetic of {code(convolution.layer)} cannot be shown: {error}")
        return
    rows, columns, channels = sums.shape
    picks = st.columns(3)
    channel = picks[0].number_input(f"Filter (0-{channels - 1})", 0, channels - 1, 0, key="lesson_conv_channel")
    strongest = np.unravel_index(int(np.argmax(sums[..., channel])), (rows, columns))
    row = picks[1].slider("Window row", 0, rows - 1, int(strongest[0]), key="lesson_conv_row")
    column = picks[2].slider("Window column", 0, columns - 1, int(strongest[1]), key="lesson_conv_column")
    try:
        unit = explain_unit(lesson.model, lesson.image, convolution.layer, row, column, channel)
    except ValueError as error:
        st.info(f"The arithmetic of {code(convolution.layer)} cannot be shown: {error}")
        return
    kernel_rows, kernel_columns = convolution.kernel
    weights = kernel_rows * kernel_columns * unit.inputs.shape[-1]
    reads = f"{code(convolution.reads)}'s output" if convolution.reads else "the input"
    moves = "one pixel" if convolution.strides == (1, 1) else f"{size(convolution.strides)} pixels"
    bias = f", plus its bias {unit.bias:+.2f}, gives {unit.pre_activation:+.2f}" if convolution.bias else " (no bias)"
    explain(
        f"{code(convolution.layer)} slides {convolution.filters} filters of {kernel_rows} x {kernel_columns} weights "
        f"over {reads}, {moves} at a time: each filter makes one map of {size(convolution.output_shape[:2])}. At row "
        f"{row}, column {column}, filter {channel} sums the {weights} values under it times its weights: "
        f"{unit.weighted_sum:+.2f}{bias}. Feature maps explains "
        "any value this way.",
        "move the window onto a stroke, then onto the background: where are this filter's sums largest?",
    )
    seen = unit.previous[..., 0]
    st.plotly_chart(
        convolution_figure(
            seen,
            unit.window,
            unit.kernel[..., 0],
            unit.inputs[..., 0] * unit.kernel[..., 0],
            sums[..., channel],
            (row, column),
            ("window on " + (convolution.reads or "the input"), "x weights", "= products", f"sums, filter {channel}"),
        ),
        key="lesson_convolution",
        config=STATIC,
    )


def activation(lesson: Lesson) -> None:
    facts = lesson.facts
    activation, convolution = facts.activation, facts.convolution
    channels = convolution.filters
    channel = channel_picker("lesson_activation_channel", channels)
    try:
        before, after = activation_maps(lesson.model, lesson.image, facts, channel)
    except ValueError as error:
        st.info(f"The values around {code(activation.layer)} cannot be shown: {error}")
        return
    where = f"{code(convolution.layer)}'s " + (
        "own sums" if not activation.between else "sums after " + " and ".join(map(code, activation.between))
    )
    if activation.name == "relu":
        text = (
            f"{code(activation.layer)} applies ReLU, max(0, x), to {where}: every negative value (red) becomes 0, "
            f"positive ones pass unchanged. For your digit {np.mean(after == 0):.0%} of channel {channel} is now 0: "
            "its pattern is absent there. Without this bend, all the layers together would be one linear sum."
        )
    else:
        does = ACTIVATIONS.get(activation.name, "bends each value")
        text = (
            f"This model's convolutions have no ReLU: {code(activation.layer)} applies {activation.name} to {where}, "
            f"which {does}. Channel {channel} now runs from {after.min():.2f} to {after.max():.2f}."
        )
    explain(text, "step through the channels: some are almost all zero for your digit. Which strokes survive?")
    st.plotly_chart(
        before_after_figure(before, after, (f"before {activation.layer}", f"after {activation.layer}"), True),
        key="lesson_activation",
        config=STATIC,
    )


def pooling(lesson: Lesson) -> None:
    facts = lesson.facts
    pool = facts.pooling
    channel = channel_picker("lesson_pooling_channel", pool.output_shape[-1])
    before, after = pooling_maps(lesson.model, lesson.image, facts, channel)
    keeps = "largest" if pool.kind == "max" else "average"
    step = size(pool.strides[:1]) if pool.strides[0] == pool.strides[1] else size(pool.strides)
    moves = f"{step} pixel{'' if pool.strides == (1, 1) else 's'}"
    why = (
        "A stroke found anywhere in a window still counts, so a small shift matters less."
        if pool.kind == "max"
        else "Each value is its window's mean strength: smoother, and a small shift matters less."
    )
    explain(
        f"{code(pool.layer)} is {pool.kind} pooling: it keeps the {keeps} value of each {size(pool.pool_size)} window, "
        f"moving {moves} at a time. Each of the {pool.input_shape[-1]} maps of {code(pool.before)} shrinks from "
        f"{size(pool.input_shape[:2])} to {size(pool.output_shape[:2])}. {why}",
        f"hover a value on the right and find the {size(pool.pool_size)} window it came from on the left.",
    )
    st.plotly_chart(
        before_after_figure(before, after, (f"{pool.before}, channel {channel}", f"{pool.layer}"), False),
        key="lesson_pooling",
        config=STATIC,
    )
