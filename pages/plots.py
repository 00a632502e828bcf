"""Plotly figures for the pages: pure functions of arrays, no model work."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

ACCENT = "#e4572e"
MUTED = "#9aa5b1"


def probability_bars(probabilities: np.ndarray, title: str = "") -> go.Figure:
    """A bar per digit, the most likely one highlighted."""
    probabilities = np.asarray(probabilities, dtype=float)
    best = int(np.argmax(probabilities))
    colours = [ACCENT if digit == best else MUTED for digit in range(len(probabilities))]
    figure = go.Figure(go.Bar(
        x=[str(digit) for digit in range(len(probabilities))], y=probabilities, marker_color=colours,
        text=[f"{p:.0%}" if p >= 0.01 else "" for p in probabilities], textposition="outside",
        hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
    ))
    figure.update_layout(
        title=title or None, height=260, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        yaxis={"range": [0, 1.12], "tickformat": ".0%", "title": "probability"},
        xaxis={"title": "digit", "type": "category"}, showlegend=False,
    )
    return figure
