"""The Feature maps page's "How is this value computed?" panel: one unit's arithmetic, step by step."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.analysis.unit import UnitArithmetic, UnitKind, explain_unit
from pages.ui.figures.layers import numbers_figure, outlined_figure

# Input channels shown as window x kernel = products, the largest contributions first.
SHOWN_CHANNELS = 4
# Small figures: no Plotly tool bar.
STATIC = {"displayModeBar": False}


def unit_panel(model, image: np.ndarray, layer: str, row: int, column: int, channel: int, previous: str) -> None:
    """Explains the value at (row, column) of `layer`'s channel: receptive field, window, arithmetic."""
    unit = explain_unit(model, image, layer, row, column, channel)
    st.subheader(f"How {layer}[{row}, {column}], channel {channel} = {unit.value:.3f} is computed")
    top, bottom, left, right = unit.window
    field_top, field_bottom, field_left, field_right = unit.receptive_field
    figures = st.columns([1, 3])
    figures[0].plotly_chart(
        outlined_figure(image, unit.receptive_field, "Receptive field on the digit"),
        key="feature_unit_field",
        config=STATIC,
    )
    figures[0].caption(
        f"Pixels rows {field_top}-{field_bottom}, columns {field_left}-{field_right} of the digit: everything "
        "this value can see."
    )
    if previous != "the digit":
        # The window on the previous layer: on the channel that adds most (a convolution) or the pooled one.
        shown = int(np.argmax(np.abs(unit.per_input_channel))) if unit.kind is UnitKind.CONVOLUTION else unit.channel
        figures[0].plotly_chart(
            outlined_figure(
                unit.previous[..., shown],
                unit.window,
                f"Window on {previous}, channel {shown}",
                colorscale="Viridis",
            ),
            key="feature_unit_window",
            config=STATIC,
        )
    with figures[1]:
        if unit.kind is UnitKind.CONVOLUTION:
            convolution_steps(unit, previous, (top, bottom, left, right))
        else:
            pooling_steps(unit, previous, (top, bottom, left, right))
    st.caption(
        f"The model's own value for this unit is {unit.model_value:.4f}; the arithmetic above gives "
        f"{unit.value:.4f}. Click another pixel of the channel's map to explain it."
    )


def convolution_steps(unit: UnitArithmetic, previous: str, window: tuple[int, int, int, int]) -> None:
    """Each input channel's window times the kernel slice, their sums, the bias, then what follows."""
    top, bottom, left, right = window
    contributions = unit.per_input_channel
    order = np.argsort(-np.abs(contributions))[:SHOWN_CHANNELS]
    channels = "its one channel" if len(contributions) == 1 else f"all {len(contributions)} of its channels"
    st.markdown(
        f"A convolution: the {unit.kernel.shape[0]} x {unit.kernel.shape[1]} window at rows {top}-{bottom}, "
        f"columns {left}-{right} of **{previous}** ({channels}), multiplied by this filter's weights and summed"
        + (":" if len(contributions) == 1 else ", channel by channel. The channels that add most:")
    )
    for input_channel in order:
        inputs, kernel = unit.inputs[..., input_channel], unit.kernel[..., input_channel]
        cells = st.columns([1, 1, 1, 1], vertical_alignment="center")
        source = previous if len(contributions) == 1 else f"{previous}, channel {input_channel}"
        cells[0].plotly_chart(numbers_figure(inputs, source), key=f"unit_in_{input_channel}", config=STATIC)
        cells[1].plotly_chart(
            numbers_figure(kernel, "x weights", colorscale="RdBu", symmetric=True),
            key=f"unit_kernel_{input_channel}",
            config=STATIC,
        )
        cells[2].plotly_chart(
            numbers_figure(inputs * kernel, "= products", colorscale="RdBu", symmetric=True),
            key=f"unit_products_{input_channel}",
            config=STATIC,
        )
        cells[3].metric(
            "sum" if len(contributions) == 1 else f"sum, channel {input_channel}",
            f"{contributions[input_channel]:+.3f}",
        )
    others = len(contributions) - len(order)
    rest = float(contributions.sum() - contributions[order].sum())
    lines = [
        f"  the {len(order)} channels above    {float(contributions[order].sum()):+.4f}" if others else "",
        f"+ the other {others} channels     {rest:+.4f}" if others else "",
        f"= weighted sum            {unit.weighted_sum:+.4f}",
        f"+ bias {unit.bias:+.4f}        = {unit.pre_activation:+.4f}",
        *(f"{step.layer}: {step.what}\n                          = {step.value:+.4f}" for step in unit.steps),
    ]
    st.code("\n".join(line for line in lines if line), language=None, wrap_lines=True)


def pooling_steps(unit: UnitArithmetic, previous: str, window: tuple[int, int, int, int]) -> None:
    """The pooling window on the previous layer's channel, and which value won (or their mean)."""
    top, bottom, left, right = window
    values = unit.inputs
    cells = st.columns([1, 2], vertical_alignment="center")
    marked = unit.winner
    cells[0].plotly_chart(
        numbers_figure(values, f"{previous}, channel {unit.channel}", marked=marked, height=200),
        key="unit_pool_window",
        config=STATIC,
    )
    if unit.kind is UnitKind.MAX_POOLING:
        text = (
            f"Max pooling: the {values.shape[0]} x {values.shape[1]} window at rows {top}-{bottom}, columns "
            f"{left}-{right} of **{previous}**, channel {unit.channel}. The largest value, "
            f"{unit.pooled:.4f} (outlined), passes on; the others are dropped."
        )
    else:
        text = (
            f"Average pooling: the mean of the {values.shape[0]} x {values.shape[1]} window at rows {top}-{bottom}, "
            f"columns {left}-{right} of **{previous}**, channel {unit.channel}: {unit.pooled:.4f}."
        )
    text += "".join(f" Then {step.layer}, {step.what}: {step.value:.4f}." for step in unit.steps)
    cells[1].markdown(text)
