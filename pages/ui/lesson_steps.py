"""The Lesson page's steps, one function each: a short text written from the model's own layers
(`lesson_facts`), one figure on the visitor's digit and one thing to try. The arithmetic is in
model/analysis/lesson.py, the figures in figures/lesson.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from model.analysis.confidence import with_article
from model.analysis.inspection import feature_maps
from model.analysis.lesson import (
    LessonFacts,
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
from model.analysis.robustness import Curve
from model.analysis.unit import explain_unit
from model.store.files import array_digest
from model.store.registry import ModelVersion
from pages.ui.common import how_sure_in_words
from pages.ui.data import evaluation_on_test_set, mnist_test_set
from pages.ui.figures.lesson import (
    before_after_figure,
    channels_figure,
    convolution_figure,
    input_figure,
    softmax_figure,
    vectors_figure,
)
from pages.ui.figures.maps import robustness_figure
from pages.ui.models import FallingBack
from pages.ui.state import Digit

STATIC = {"displayModeBar": False}
# Channels shown for a deeper layer.
SHOWN_CHANNELS = 6
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
        return f"{facts.convolution.layer} has no activation: its sums pass on as they are, negatives included."
    return ""


def no_pooling(facts: LessonFacts) -> str:
    if facts.convolution is None:
        return "with no convolution there are no maps to pool."
    if facts.pooling is None:
        return f"this model has no pooling layer after {facts.convolution.layer}; its maps shrink only by convolution."
    return ""


def no_deeper_layers(facts: LessonFacts) -> str:
    if facts.convolution is None:
        return "this model has no convolutions, so no deeper ones."
    if not facts.deeper:
        return f"{facts.convolution.layer} is this model's only convolution."
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
    rescaled = f" Its first layer, {', '.join(facts.input.rescaling)}, rescales them." if facts.input.rescaling else ""
    explain(
        f"The network sees your digit as {int(np.prod(shape))} numbers, a {size(shape)} grid, one per pixel, from 0 "
        f"(black) to 1 (white ink). {origin}{rescaled}",
        "hover the pixels to read them; draw a thin 1, then a thick one, and compare.",
    )
    st.plotly_chart(input_figure(lesson.image, "What the network gets"), key="lesson_input", config=STATIC)


def one_convolution(lesson: Lesson) -> None:
    convolution = lesson.facts.convolution
    sums = pre_activation_map(lesson.model, lesson.image, convolution)
    rows, columns, channels = sums.shape
    picks = st.columns(3)
    channel = picks[0].number_input(f"Filter (0-{channels - 1})", 0, channels - 1, 0, key="lesson_conv_channel")
    strongest = np.unravel_index(int(np.argmax(sums[..., channel])), (rows, columns))
    row = picks[1].slider("Window row", 0, rows - 1, int(strongest[0]), key="lesson_conv_row")
    column = picks[2].slider("Window column", 0, columns - 1, int(strongest[1]), key="lesson_conv_column")
    try:
        unit = explain_unit(lesson.model, lesson.image, convolution.layer, row, column, channel)
    except ValueError as error:
        st.info(f"The arithmetic of {convolution.layer} cannot be shown: {error}")
        return
    kernel_rows, kernel_columns = convolution.kernel
    weights = kernel_rows * kernel_columns * unit.inputs.shape[-1]
    reads = f"{convolution.reads}'s output" if convolution.reads else "the input"
    moves = "one pixel" if convolution.strides == (1, 1) else f"{size(convolution.strides)} pixels"
    bias = f", plus its bias {unit.bias:+.2f}, gives {unit.pre_activation:+.2f}" if convolution.bias else " (no bias)"
    explain(
        f"{convolution.layer} slides {convolution.filters} filters of {kernel_rows} x {kernel_columns} weights over "
        f"{reads}, {moves} at a time: each filter makes one map of {size(convolution.output_shape[:2])}. At row "
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
    before, after = activation_maps(lesson.model, lesson.image, facts, channel)
    where = f"{convolution.layer}'s " + (
        "own sums" if not activation.between else "sums after " + " and ".join(activation.between)
    )
    if activation.name == "relu":
        text = (
            f"{activation.layer} applies ReLU, max(0, x), to {where}: every negative value (red) becomes 0, "
            f"positive ones pass unchanged. For your digit {np.mean(after == 0):.0%} of channel {channel} is now 0: "
            "its pattern is absent there. Without this bend, all the layers together would be one linear sum."
        )
    else:
        does = ACTIVATIONS.get(activation.name, "bends each value")
        text = (
            f"This model's convolutions have no ReLU: {activation.layer} applies {activation.name} to {where}, "
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
    moves = size(pool.strides[:1]) if pool.strides[0] == pool.strides[1] else size(pool.strides)
    why = (
        "A stroke found anywhere in a window still counts, so a small shift matters less."
        if pool.kind == "max"
        else "Each value is its window's mean strength: smoother, and a small shift matters less."
    )
    explain(
        f"{pool.layer} is {pool.kind} pooling: it keeps the {keeps} value of each {size(pool.pool_size)} window, "
        f"moving {moves} pixels at a time. Each of the {pool.input_shape[-1]} maps of {pool.before} shrinks from "
        f"{size(pool.input_shape[:2])} to {size(pool.output_shape[:2])}. {why}",
        f"hover a value on the right and find the {size(pool.pool_size)} window it came from on the left.",
    )
    st.plotly_chart(
        before_after_figure(before, after, (f"{pool.before}, channel {channel}", f"{pool.layer}"), False),
        key="lesson_pooling",
        config=STATIC,
    )


def deeper_layers(lesson: Lesson) -> None:
    facts = lesson.facts
    deeper = {convolution.layer: convolution for convolution in facts.deeper}
    fields = dict(zip(deeper, facts.deeper_fields))
    chosen = st.selectbox("Layer", list(deeper), index=len(deeper) - 1, key="lesson_deep_layer")
    maps = feature_maps(lesson.model, lesson.image)[chosen]
    listed = ", ".join(f"{name} ({c.filters} channels, {size(c.output_shape[:2])})" for name, c in deeper.items())
    plural = "convolutions" if len(deeper) > 1 else "convolution"
    explain(
        f"After {facts.convolution.layer}, {len(deeper)} more {plural}: {listed}. Each filter reads every channel "
        f"below it, so deeper channels respond to bigger parts of the digit: one value of {chosen} sees "
        f"{size(fields[chosen])} pixels. Below: its strongest channels for your digit.",
        f"draw a 1, then a 7: which channels of {chosen} light up?",
    )
    st.plotly_chart(
        channels_figure(maps, strongest_channels(maps, SHOWN_CHANNELS), chosen), key="lesson_deeper", config=STATIC
    )


def flatten_and_dense(lesson: Lesson) -> None:
    head = lesson.facts.head
    reads = f"{head.flatten_reads}'s" if head.flatten_reads else "the"
    if head.flatten_kind == "Flatten":
        made = f"{head.flatten} lays {reads} {size(head.flatten_reads_shape)} values out as one list of "
        made += f"{head.flatten_size}."
    else:
        made = f"{head.flatten}, a {head.flatten_kind} layer, makes one list of {head.flatten_size} numbers."
    hidden = " ".join(
        f"{dense.layer}, a dense layer of {dense.units} units with {dense.activation}, weighs the whole list into each."
        for dense in head.hidden
    )
    output = head.output
    last = (
        f"{output.layer}, a dense layer of {output.units}, gives one score per digit."
        if output
        else "The last layer gives one score per digit."
    )
    none = "" if head.hidden else " There is no hidden dense layer."
    dropout = (
        f" {', '.join(head.dropout)} only act{'s' if len(head.dropout) == 1 else ''} in training."
        if head.dropout
        else ""
    )
    explain(
        f"{made} {hidden}{none} {last}{dropout}".replace("  ", " "),
        "hover the strips to read the numbers; draw another digit and see which ones change.",
    )
    st.plotly_chart(
        vectors_figure(head_vectors(lesson.model, lesson.image, lesson.facts)), key="lesson_dense", config=STATIC
    )


def softmax(lesson: Lesson) -> None:
    head, probabilities, predicted = lesson.facts.head, lesson.probabilities, lesson.predicted
    scores = logits(lesson.model, lesson.image, lesson.facts)
    temperature = st.select_slider(
        "Temperature", [0.25, 0.5, 1.0, 2.0, 4.0], value=1.0, key="lesson_temperature", format_func="{:g}".format
    )
    if head.softmax_layer:
        turns = f"The softmax of {head.softmax_layer} turns the {len(scores)} scores into probabilities"
    else:
        turns = f"This model ends without a softmax; a softmax would turn its {len(scores)} scores into probabilities"
    explain(
        f"{turns}: e^score divided by the sum of all e^scores, so they add up to 1. Your digit's highest score, "
        f"{scores[predicted]:.1f} for {predicted}, becomes {probabilities[predicted]:.1%}. "
        + how_sure_in_words(probabilities),
        "slide the temperature: scores divided by 2 give flatter probabilities, by 0.5 sharper. The winner stays.",
    )
    st.plotly_chart(
        softmax_figure(scores, with_temperature(scores, temperature), temperature), key="lesson_softmax", config=STATIC
    )


@st.cache_data(max_entries=16, show_spinner=False)
def rotations(cache_key: str, image_key: str, _model, _image: np.ndarray) -> Curve:
    """The digit's rotation curve, once per digit and version."""
    return rotation_curve(_model, _image)


def where_it_fails(lesson: Lesson) -> None:
    predicted = lesson.predicted
    curve = rotations(lesson.version.cache_key, array_digest(lesson.image), lesson.model, lesson.image)
    lesson.predictor.finite(curve.probabilities)
    angles = [float(angle) for angle in curve.amounts]
    angle = st.select_slider("Rotate your digit (degrees)", angles, value=0.0, key="lesson_rotation",
                             format_func="{:g}".format)  # fmt: skip
    now = int(curve.predictions[angles.index(angle)])
    nearest = sorted(curve.flips, key=abs)
    flips = f"It first flips at {nearest[0]:g}°." if nearest else "Within ±60° it never flips."
    true = lesson.digit.label if lesson.digit.label is not None else predicted
    test_set = mnist_test_set()
    mistakes = ""
    if test_set is not None:
        result = evaluation_on_test_set(lesson.version.cache_key, lesson.predictor, *test_set)
        row = result.confusion[true].copy()
        row[true] = 0
        worst = int(np.argmax(row))
        mistakes = (
            f" On the {len(result.labels):,} test digits it is wrong {result.errors} times; true {true}s are most "
            f"often called {worst} ({row[worst]} times)."
            if row[worst]
            else f" On the {len(result.labels):,} test digits it never mistakes a true {true}."
        )
    explain(
        f"MNIST's digits are mostly upright. Rotated {angle:g}°, yours is {with_article(now)} "
        f"({curve.probabilities[angles.index(angle)][now]:.0%}). {flips}{mistakes}",
        f"rotate it until it flips; then open Confusion matrix and click row {true}'s red cells.",
    )
    left, right = st.columns([1, 4])
    left.image(curve.images[angles.index(angle)], width=120, clamp=True, caption=f"rotated {angle:g}°")
    right.plotly_chart(
        robustness_figure(
            curve.amounts, curve.probabilities, curve.flips, "Probabilities as it turns", "degrees", angle
        ),  # fmt: skip
        key="lesson_rotation_curve",
        config=STATIC,
    )
