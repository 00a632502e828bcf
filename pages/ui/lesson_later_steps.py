"""The Lesson page's later steps, one function each: deeper layers, flatten and dense, softmax and
where the network fails. The first four steps, and what every step shares, are in lesson_steps.py."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.analysis.confidence import with_article
from model.analysis.inspection import feature_maps
from model.analysis.lesson import head_vectors, logits, rotation_curve, strongest_channels, with_temperature
from model.analysis.robustness import Curve
from model.store.files import array_digest
from pages.ui.common import as_code_span as code
from pages.ui.common import how_sure_in_words
from pages.ui.data import evaluation_on_test_set, mnist_test_set
from pages.ui.figures.lesson import channels_figure, softmax_figure, vectors_figure
from pages.ui.figures.maps import robustness_figure
from pages.ui.lesson_steps import STATIC, Lesson, explain, size

# Channels shown for a deeper layer.
SHOWN_CHANNELS = 6


def deeper_layers(lesson: Lesson) -> None:
    facts = lesson.facts
    deeper = {convolution.layer: convolution for convolution in facts.deeper}
    fields = dict(zip(deeper, facts.deeper_fields))
    chosen = st.selectbox("Layer", list(deeper), index=len(deeper) - 1, key="lesson_deep_layer")
    maps = feature_maps(lesson.model, lesson.image)[chosen]
    listed = ", ".join(f"{code(name)} ({c.filters} channels, {size(c.output_shape[:2])})" for name, c in deeper.items())
    plural = "convolutions" if len(deeper) > 1 else "convolution"
    explain(
        f"After {code(facts.convolution.layer)}, {len(deeper)} more {plural}: {listed}. Each filter reads every "
        f"channel below it, so deeper channels respond to bigger parts of the digit: one value of {code(chosen)} sees "
        f"{size(fields[chosen]) if fields[chosen] else 'more'} pixels. Below: its strongest channels for your digit.",
        f"draw a 1, then a 7: which channels of {code(chosen)} light up?",
    )
    st.plotly_chart(
        channels_figure(maps, strongest_channels(maps, SHOWN_CHANNELS), chosen), key="lesson_deeper", config=STATIC
    )


def flatten_and_dense(lesson: Lesson) -> None:
    head = lesson.facts.head
    reads = f"{code(head.flatten_reads)}'s" if head.flatten_reads else "the"
    if head.flatten_kind == "Flatten":
        made = f"{code(head.flatten)} lays {reads} {size(head.flatten_reads_shape)} values out as one list of "
        made += f"{head.flatten_size}."
    else:
        made = f"{code(head.flatten)}, a {head.flatten_kind} layer, makes one list of {head.flatten_size} numbers."
    hidden = " ".join(
        f"{code(dense.layer)}, a dense layer of {dense.units} units with {dense.activation}, weighs the whole list "
        "into each."
        for dense in head.hidden
    )
    output = head.output
    last = (
        f"{code(output.layer)}, a dense layer of {output.units}, gives one score per digit."
        if output
        else "The last layer gives one score per digit."
    )
    none = "" if head.hidden else " There is no hidden dense layer."
    dropout = (
        f" {', '.join(map(code, head.dropout))} only act{'s' if len(head.dropout) == 1 else ''} in training."
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
    scores = logits(lesson.model, lesson.image)
    temperature = st.select_slider(
        "Temperature", [0.25, 0.5, 1.0, 2.0, 4.0], value=1.0, key="lesson_temperature", format_func="{:g}".format
    )
    if head.softmax_layer:
        turns = f"The softmax of {code(head.softmax_layer)} turns the {len(scores)} scores into probabilities"
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
    flips = "Within ±60° it never flips."
    if nearest:
        # Just past the first flip, on its side of upright: what the digit has become.
        past = min((a for a in angles if a * nearest[0] > 0 and abs(a) >= abs(nearest[0])), key=abs)
        flips = f"It first flips at {nearest[0]:g}°, to {with_article(int(curve.predictions[angles.index(past)]))}."
    true = lesson.digit.label if lesson.digit.label is not None else predicted
    test_set = mnist_test_set()
    mistakes = ""
    if test_set is not None:
        result = evaluation_on_test_set(lesson.version.cache_key, lesson.predictor, *test_set)
        row = result.confusion[true].copy()
        row[true] = 0
        worst = int(np.argmax(row))
        count = "once" if row[worst] == 1 else f"{row[worst]} times"
        mistakes = f" On the {len(result.labels):,} test digits it is wrong {result.errors} times; " + (
            f"true {true}s are most often called {worst} ({count})." if row[worst] else f"never on a true {true}."
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
        ).update_layout(showlegend=True, legend_title_text="digit"),  # fmt: skip
        key="lesson_rotation_curve",
        config=STATIC,
    )
