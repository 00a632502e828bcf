"""What a model answers: the ten probabilities, confusion matrices, two versions compared."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from pages.ui.figures.colours import ACCENT, MUTED
from pages.ui.figures.layers import click_targets, written_heatmap


def probability_bars(probabilities: np.ndarray, title: str = "") -> go.Figure:
    """A bar per digit, the most likely one highlighted."""
    probabilities = np.asarray(probabilities, dtype=float)
    # No highlight while there is nothing to show (all zeros, before a first drawing).
    best = int(np.argmax(probabilities)) if probabilities.max(initial=0.0) > 0 else -1
    colours = [ACCENT if digit == best else MUTED for digit in range(len(probabilities))]
    # One constructor call with plain dicts: Plotly validates each property once. (Built as
    # go.Bar plus update_layout, it took 3.6 ms instead of 0.75 ms, on every stroke.)
    bar = {
        "type": "bar",
        "x": [str(digit) for digit in range(len(probabilities))],
        "y": probabilities,
        "marker": {"color": colours},
        "text": [f"{p:.0%}" if p >= 0.01 else "" for p in probabilities],
        "textposition": "outside",
        "hovertemplate": "digit %{x}: %{y:.2%}<extra></extra>",
    }
    layout = {
        "height": 260,
        # Margins fixed to fit the axes' labels: Plotly need not measure them on every redraw.
        "margin": {"l": 60, "r": 10, "t": 30 if title else 20, "b": 45, "autoexpand": False},
        "yaxis": {"range": [0, 1.12], "tickformat": ".0%", "title": "probability"},
        "xaxis": {"title": "digit", "type": "category"},
        "showlegend": False,
        **({"title": title} if title else {}),
    }
    return go.Figure(data=[bar], layout=layout)


def confusion_figure(confusion: np.ndarray, normalised: bool) -> go.Figure:
    """The confusion matrix, counts (or row percentages) in the cells, the diagonal greyed so errors stand out."""
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    values = (
        np.divide(confusion * 100.0, rows, out=np.zeros(confusion.shape), where=rows > 0)
        if normalised
        else confusion.astype(float)
    )
    text = [[f"{v:.1f}%" if normalised else f"{int(v)}" for v in row] for row in values]
    diagonal = np.eye(len(confusion), dtype=bool)
    errors = np.where(diagonal, np.nan, values)
    correct = np.where(diagonal, values, np.nan)
    digits = [str(d) for d in range(len(confusion))]
    top = np.nanmax(errors) if np.isfinite(errors).any() and np.nanmax(errors) > 0 else 1.0
    figure = go.Figure(
        [
            # The diagonal in grey, the errors in red, in cells 2 px apart.
            written_heatmap(
                correct,
                digits,
                digits,
                text,
                hoverinfo="skip",
                colorscale=[[0, "#e8ecef"], [1, "#e8ecef"]],
                showscale=False,
                xgap=2,
                ygap=2,
            ),
            written_heatmap(
                errors,
                digits,
                digits,
                text,
                hoverinfo="skip",
                colorscale="Reds",
                zmin=0,
                zmax=top,
                xgap=2,
                ygap=2,
                colorbar={"title": "% of row", "ticksuffix": "%"} if normalised else {"title": "errors"},
            ),
            # A click on a cell selects its target: x is the predicted digit, y the true one.
            click_targets(
                x=[digits[column] for row in range(len(digits)) for column in range(len(digits))],
                y=[digits[row] for row in range(len(digits)) for column in range(len(digits))],
                text=[cell for row in text for cell in row],
                hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
            ),
        ]
    )
    # Fixed ranges: the click targets' markers would pad an automatic range.
    figure.update_yaxes(range=[len(digits) - 0.5, -0.5], title="true digit", type="category")
    figure.update_xaxes(range=[-0.5, len(digits) - 0.5], title="predicted digit", type="category", side="top")
    figure.update_layout(
        height=560, margin={"l": 10, "r": 10, "t": 40, "b": 10}, dragmode=False, hoverdistance=-1, showlegend=False
    )
    return figure


def comparison_bars(first: np.ndarray, second: np.ndarray, first_name: str, second_name: str) -> go.Figure:
    """Two shares per digit, side by side, each printed on its bar: the axis starts just below the
    lowest and its title says where, so that small gaps are visible and not mistaken for large ones."""
    digits = [str(d) for d in range(len(first))]
    figure = go.Figure(
        [
            go.Bar(
                x=digits,
                y=values,
                name=name,
                # Inside the bar where it fits (near the top it always does), else above it.
                texttemplate="%{y:.1%}",
                textposition="auto",
                textangle=-90,
                hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
            )
            for values, name in ((first, f"A: {first_name}"), (second, f"B: {second_name}"))
        ]
    )
    low = max(0.0, float(min(np.min(first), np.min(second))) - 0.01)
    figure.update_layout(
        barmode="group",
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"tickformat": ".1%", "range": [low, 1.0], "title": f"recall (axis from {low:.1%})"},
        xaxis={"title": "digit", "type": "category"},
    )
    return figure


def confusion_difference_figure(difference: np.ndarray) -> go.Figure:
    """The difference of two confusion matrices (B minus A), coloured by what is better for B: blue
    where B is right more often (more on the diagonal) or wrong less often (fewer off it), red for
    the opposite. The cells show the plain difference."""
    better = np.where(np.eye(len(difference), dtype=bool), difference, -difference)
    limit = float(np.max(np.abs(better))) or 1.0
    digits = [str(d) for d in range(len(difference))]
    figure = go.Figure(
        written_heatmap(
            better,
            digits,
            digits,
            [[f"{int(v):+d}" if v else "" for v in row] for row in difference],
            customdata=difference,
            colorscale="RdBu",
            zmin=-limit,
            zmax=limit,
            xgap=2,
            ygap=2,
            # The cells say B minus A; the scale says what the colour means, not numbers.
            colorbar={
                "title": {"text": "better for B (blue)<br>or worse (red)"},
                "tickvals": [-limit, 0, limit],
                "ticktext": ["worse for B", "no change", "better for B"],
            },
            hovertemplate="true %{y}, predicted %{x}: %{customdata:+d}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", title="true digit", type="category")
    figure.update_xaxes(title="predicted digit", type="category", side="top")
    figure.update_layout(height=480, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure
