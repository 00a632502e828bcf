"""The Lesson page's figures: one per step, each on the visitor's own digit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pages.ui.figures.colours import ACCENT, MUTED

# Pixel grids: rows downwards, square cells, no tick labels.
_HOVER = "row %{y}, column %{x}: %{z:.3f}<extra></extra>"


def _grid_axes(figure: go.Figure, count: int) -> None:
    for index in range(1, count + 1):
        figure.update_yaxes(autorange="reversed", scaleanchor=f"x{index if index > 1 else ''}", showticklabels=False,
                            showgrid=False, zeroline=False, row=1, col=index)  # fmt: skip
        figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=index)


def _layout(figure: go.Figure, height: int) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 0, "r": 0, "t": 40, "b": 0}, showlegend=False)
    return figure


def input_figure(image: np.ndarray, title: str) -> go.Figure:
    """The 28 x 28 input as grey pixels, each value on hover."""
    figure = make_subplots(1, 1, subplot_titles=(title,))
    figure.add_trace(
        go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=1, hovertemplate=_HOVER, colorbar={"title": "value"}),
        1,
        1,
    )
    _grid_axes(figure, 1)
    return _layout(figure, 420)


def convolution_figure(
    seen: np.ndarray,
    window: tuple[int, int, int, int],
    kernel: np.ndarray,
    products: np.ndarray,
    sums: np.ndarray,
    position: tuple[int, int],
    titles: tuple[str, str, str, str],
) -> go.Figure:
    """What the convolution reads with its window outlined, the filter's weights, their products, and
    the map of sums with the position outlined."""
    figure = make_subplots(1, 4, subplot_titles=titles, column_widths=[0.3, 0.17, 0.17, 0.36])
    limit = float(np.abs(kernel).max()) or 1.0
    products_limit = float(np.abs(products).max()) or 1.0
    sums_limit = float(np.abs(sums).max()) or 1.0
    figure.add_trace(go.Heatmap(z=seen, colorscale="gray", showscale=False, hovertemplate=_HOVER), 1, 1)
    figure.add_trace(_numbers(kernel, limit), 1, 2)
    figure.add_trace(_numbers(products, products_limit), 1, 3)
    figure.add_trace(
        go.Heatmap(z=sums, colorscale="RdBu", zmin=-sums_limit, zmax=sums_limit, showscale=False, hovertemplate=_HOVER),
        1,
        4,
    )
    top, bottom, left, right = window
    figure.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                     line={"color": ACCENT, "width": 2}, row=1, col=1)  # fmt: skip
    row, column = position
    figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5,
                     line={"color": ACCENT, "width": 2}, row=1, col=4)  # fmt: skip
    _grid_axes(figure, 4)
    return _layout(figure, 320)


def _numbers(values: np.ndarray, limit: float) -> go.Heatmap:
    """A small grid with each value written in its cell, red negative and blue positive."""
    return go.Heatmap(
        z=values,
        text=np.vectorize(lambda value: f"{value:.2f}")(values.astype(float)),
        texttemplate="%{text}" if values.size <= 49 else "",
        colorscale="RdBu",
        zmin=-limit,
        zmax=limit,
        showscale=False,
        hovertemplate=_HOVER,
    )


def before_after_figure(before: np.ndarray, after: np.ndarray, titles: tuple[str, str], signed: bool) -> go.Figure:
    """Two maps side by side on one colour scale: red negative and blue positive when `signed`."""
    figure = make_subplots(1, 2, subplot_titles=titles, horizontal_spacing=0.06)
    limit = float(max(np.abs(before).max(), np.abs(after).max())) or 1.0
    low = -limit if signed else float(min(before.min(), after.min()))
    style = {"colorscale": "RdBu" if signed else "Viridis", "zmin": low, "zmax": limit, "hovertemplate": _HOVER}
    figure.add_trace(go.Heatmap(z=before, showscale=False, **style), 1, 1)
    figure.add_trace(go.Heatmap(z=after, **style), 1, 2)
    _grid_axes(figure, 2)
    return _layout(figure, 380)


def channels_figure(maps: np.ndarray, channels: np.ndarray, layer: str) -> go.Figure:
    """A few channels of one layer, side by side on one scale; 1 x 1 maps as one bar per channel."""
    if maps.shape[0] * maps.shape[1] == 1:
        values = maps[0, 0]
        strongest = set(int(channel) for channel in channels)
        figure = go.Figure(
            go.Bar(
                x=np.arange(len(values)),
                y=values,
                marker_color=[ACCENT if channel in strongest else MUTED for channel in range(len(values))],
                hovertemplate=f"{layer}, channel %{{x}}: %{{y:.3f}}<extra></extra>",
            )
        )
        figure.update_layout(title=f"{layer}: every channel's one value", xaxis_title="channel")
        return _layout(figure, 320)
    count = len(channels)
    figure = make_subplots(1, count, subplot_titles=[f"channel {channel}" for channel in channels],
                           horizontal_spacing=0.02)  # fmt: skip
    top = float(maps.max()) or 1.0
    for index, channel in enumerate(channels):
        figure.add_trace(
            go.Heatmap(
                z=maps[..., channel],
                colorscale="Viridis",
                zmin=0,
                zmax=top,
                showscale=False,
                hovertemplate=f"channel {channel}, " + _HOVER,
            ),  # fmt: skip
            1,
            index + 1,
        )
    _grid_axes(figure, count)
    return _layout(figure, 240)


def vectors_figure(vectors: dict[str, np.ndarray]) -> go.Figure:
    """Each list of numbers (the flattened maps, each dense layer's output) as one strip of cells."""
    figure = make_subplots(len(vectors), 1, subplot_titles=[f"{name}: {len(v)} numbers" for name, v in vectors.items()],
                           vertical_spacing=0.25 / max(len(vectors), 1))  # fmt: skip
    for index, (name, values) in enumerate(vectors.items()):
        figure.add_trace(
            go.Heatmap(
                z=values[None, :],
                colorscale="Viridis",
                showscale=False,
                hovertemplate=f"{name}[%{{x}}] = %{{z:.3f}}<extra></extra>",
            ),
            index + 1,
            1,
        )
        figure.update_yaxes(showticklabels=False, row=index + 1, col=1)
    return _layout(figure, 110 + 90 * len(vectors))


def softmax_figure(scores: np.ndarray, probabilities: np.ndarray, temperature: float) -> go.Figure:
    """The ten scores (logits) and the probabilities the softmax makes of them at a temperature."""
    best = int(np.argmax(scores))
    colours = [ACCENT if digit == best else MUTED for digit in range(len(scores))]
    digits = [str(digit) for digit in range(len(scores))]
    figure = make_subplots(1, 2, subplot_titles=("scores (logits)", f"probabilities, temperature {temperature:g}"))
    figure.add_trace(go.Bar(x=digits, y=scores, marker_color=colours,
                            hovertemplate="digit %{x}: score %{y:.2f}<extra></extra>"), 1, 1)  # fmt: skip
    figure.add_trace(
        go.Bar(
            x=digits,
            y=probabilities,
            marker_color=colours,
            text=[f"{p:.0%}" if p >= 0.01 else "" for p in probabilities],
            textposition="outside",
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        ),
        1,
        2,
    )
    figure.update_yaxes(range=[0, 1.15], tickformat=".0%", row=1, col=2)
    figure.update_xaxes(type="category")
    return _layout(figure, 320)
