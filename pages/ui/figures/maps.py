"""Digits in two dimensions and along a transformation: the digit map and robustness curves."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from model.analysis.confidence import with_article
from pages.ui.figures.colours import ACCENT, DIGIT_COLOURS


def digit_map_figure(
    points: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    shown: np.ndarray,
    marked: np.ndarray | None = None,
    current: tuple[float, float] | None = None,
    height: int = 560,
) -> go.Figure:
    """Test digits as points coloured by true label (`shown`: a boolean mask of those drawn), mistakes
    as black-edged crosses, `marked` indices ringed, the current digit as a star. Each point's
    customdata is its test index (a number: Streamlit returns arrays of customdata as objects),
    for box and lasso selection."""
    traces = []
    for digit in range(10):
        for mistakes in (False, True):
            chosen = np.flatnonzero(shown & (labels == digit) & ((predictions != labels) == mistakes))
            if not len(chosen):
                continue
            traces.append(
                go.Scattergl(
                    x=points[chosen, 0],
                    y=points[chosen, 1],
                    mode="markers",
                    name=f"{digit}" + (" (mistakes)" if mistakes else ""),
                    legendgroup=str(digit),
                    # One legend entry a digit: its first trace (mistakes only, when it has no other).
                    showlegend=not mistakes or not (shown & (labels == digit) & (predictions == labels)).any(),
                    customdata=chosen,
                    text=[f"#{i}: {with_article(labels[i])}, predicted {predictions[i]}" for i in chosen],
                    marker={
                        "color": DIGIT_COLOURS[digit],
                        "size": 9 if mistakes else 4,
                        "symbol": "x" if mistakes else "circle",
                        "line": {"width": 1, "color": "black"} if mistakes else {"width": 0},
                        "opacity": 1.0 if mistakes else 0.6,
                    },
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    if marked is not None and len(marked):
        traces.append(
            go.Scattergl(
                x=points[marked, 0],
                y=points[marked, 1],
                mode="markers",
                name="marked",
                customdata=marked,
                text=[f"#{i}: {with_article(labels[i])}, predicted {predictions[i]}" for i in marked],
                marker={"size": 14, "symbol": "circle-open", "color": "red", "line": {"width": 2}},
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if current is not None:
        # WebGL like the points: Plotly draws WebGL traces above SVG ones, which would hide the star.
        traces.append(
            go.Scattergl(
                x=[current[0]],
                y=[current[1]],
                mode="markers",
                name="your digit",
                marker={"size": 22, "symbol": "star", "color": "gold", "line": {"width": 2, "color": "black"}},
                hovertemplate="your digit<extra></extra>",
            )
        )
    figure = go.Figure(traces)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor="x")
    figure.update_layout(
        height=height,
        # Room above the plot for Plotly's toolbar, which covered the legend's title.
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        dragmode="lasso",
        legend={"title": "true digit", "itemsizing": "constant"},
    )
    return figure


def robustness_figure(
    amounts: np.ndarray,
    probabilities: np.ndarray,
    flips: list[float],
    title: str,
    unit: str,
    chosen: float | None = None,
    height: int = 250,
) -> go.Figure:
    """The ten class probabilities along one transformation, a dashed line where the prediction
    changes, a solid one at the amount shown."""
    figure = go.Figure()
    top = set(np.argmax(probabilities, axis=1).tolist())
    for digit in range(probabilities.shape[1]):
        figure.add_trace(
            go.Scatter(
                x=amounts,
                y=probabilities[:, digit],
                name=str(digit),
                mode="lines",
                line={"color": DIGIT_COLOURS[digit], "width": 2.5 if digit in top else 1},
                opacity=1.0 if digit in top else 0.35,
                hovertemplate=f"{digit}: %{{y:.1%}} at %{{x:.3g}}<extra></extra>",
            )
        )
    for flip in flips:
        figure.add_vline(x=flip, line={"dash": "dash", "color": "#444", "width": 1})
    if chosen is not None:
        figure.add_vline(x=chosen, line={"color": ACCENT, "width": 2})
    figure.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis={"range": [0, 1.02], "tickformat": ".0%"},
        xaxis={"title": unit},
        legend={"orientation": "h", "y": -0.35, "font": {"size": 10}},
        showlegend=False,
    )
    return figure
