"""A training run's frames: the first filters, the probe digits' answers, the accuracy so far,
the digit map and the errors of one frame."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from pages.ui.figures.colours import ACCENT, DIGIT_COLOURS, MUTED
from pages.ui.figures.images import enlarged, tile_channels
from pages.ui.figures.layers import click_targets, mosaic_figure, written_heatmap

# Figures small enough to sit side by side: no Plotly tool bar.
STATIC = {"displayModeBar": False}


def filters_figure(filters: np.ndarray, columns: int = 8, width: int = 340) -> go.Figure:
    """(C, k, k) filters as one mosaic about `width` pixels wide, on one symmetric scale (white is
    zero; red negative, blue positive)."""
    limit = float(np.abs(filters).max()) or 1.0
    maps = np.transpose(filters, (1, 2, 0))
    order = np.arange(len(filters))
    columns = min(columns, len(filters))
    mosaic = tile_channels(maps, order, False, columns, (-limit, limit))
    height = max(60, int(width * mosaic.shape[0] / mosaic.shape[1]))
    return mosaic_figure(mosaic, maps.shape[:2], order, columns, colorscale="RdBu", height=height)


def probe_strip(probes: np.ndarray, gap: int = 3) -> np.ndarray:
    """The probe digits side by side, white ink on black, grey gaps between them (a uint8 image)."""
    tiles = [np.pad(np.clip(probe, 0, 1) * 255, ((0, 0), (0, gap)), constant_values=128) for probe in probes]
    return enlarged(np.concatenate(tiles, axis=1)[:, :-gap].astype(np.uint8), 56)


def probe_name(label: int) -> str:
    return "your drawing" if label < 0 else f"a {label}"


def probes_figure(probabilities: np.ndarray, labels: np.ndarray, height: int = 330) -> go.Figure:
    """The probe digits' ten probabilities, one row each; the true class's cell outlined. A
    click on a row selects a point whose customdata is the probe's index."""
    names = [probe_name(int(label)) for label in labels]
    digits = [str(digit) for digit in range(10)]
    text = [[f"{value:.0%}" if value >= 0.1 else "" for value in row] for row in probabilities]
    truth = [(digits[int(label)], names[index]) for index, label in enumerate(labels) if label >= 0]
    figure = go.Figure(
        [
            written_heatmap(
                probabilities,
                digits,
                names,
                text,
                colorscale="Blues",
                zmin=0,
                zmax=1,
                xgap=1,
                ygap=1,
                hoverinfo="skip",
                colorbar={"title": "probability", "tickformat": ".0%"},
            ),
            go.Scatter(
                x=[cell[0] for cell in truth],
                y=[cell[1] for cell in truth],
                mode="markers",
                marker={"symbol": "square-open", "size": 15, "color": ACCENT, "line": {"width": 2}},
                hoverinfo="skip",
                showlegend=False,
            ),
            # Every cell a click target of its row: a click anywhere on a row picks that probe digit.
            click_targets(
                x=digits * len(names),
                y=[name for name in names for _ in digits],
                customdata=[index for index in range(len(names)) for _ in digits],
                text=[
                    f"{name}: {value:.1%} for {digit}"
                    for name, row in zip(names, probabilities)
                    for digit, value in enumerate(row)
                ],
                hovertemplate="%{text}<extra></extra>",
            ),
        ]
    )
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(title="the network's answer", type="category", side="top")
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, dragmode=False, hoverdistance=-1, showlegend=False
    )
    return figure


def accuracy_figure(steps: np.ndarray, accuracy: np.ndarray, current: int, height: int = 200) -> go.Figure:
    """The subset's accuracy at every frame, the frame shown marked."""
    figure = go.Figure(
        [
            go.Scatter(
                x=steps,
                y=accuracy,
                mode="lines+markers",
                line={"color": MUTED},
                marker={"size": 4},
                hovertemplate="step %{x}: %{y:.1%}<extra></extra>",
            ),
            go.Scatter(
                x=[steps[current]],
                y=[accuracy[current]],
                mode="markers",
                marker={"size": 12, "color": ACCENT},
                hoverinfo="skip",
            ),
        ]
    )
    figure.update_layout(
        height=height,
        margin={"l": 50, "r": 10, "t": 10, "b": 40, "autoexpand": False},
        xaxis={"title": "training step"},
        yaxis={"title": "accuracy", "range": [0, 1.02], "tickformat": ".0%"},
        showlegend=False,
    )
    return figure


# The ten digits' colours as a colour scale over 0..9, one flat step each.
DIGIT_SCALE = [
    [bound, colour] for digit, colour in enumerate(DIGIT_COLOURS) for bound in (digit / 10, (digit + 1) / 10)
]


def map_frame_figure(
    positions: np.ndarray, labels: np.ndarray, predictions: np.ndarray, height: int = 440
) -> go.Figure:
    """One frame of the digit map, zoomed to the frame's digits (the 1st to 99th percentile): one
    trace coloured by true digit, mistakes as crosses (cheaper than a trace per digit, as every frame
    is drawn again), and a legend of the ten colours."""
    mistakes = predictions != labels
    traces = [
        go.Scattergl(
            x=positions[chosen, 0],
            y=positions[chosen, 1],
            mode="markers",
            marker={
                "color": labels[chosen],
                "colorscale": DIGIT_SCALE,
                "cmin": -0.5,
                "cmax": 9.5,
                "size": 8 if wrong else 4,
                "symbol": "x" if wrong else "circle",
                "opacity": 0.9 if wrong else 0.6,
            },
            customdata=np.stack([labels[chosen], predictions[chosen]], axis=1),
            hovertemplate="true %{customdata[0]}, answered %{customdata[1]}<extra></extra>",
            showlegend=False,
        )
        for wrong in (False, True)
        for chosen in [np.flatnonzero(mistakes == wrong)]
    ]
    legend = [
        go.Scattergl(x=[None], y=[None], mode="markers", name=str(digit), marker={"color": colour})
        for digit, colour in enumerate(DIGIT_COLOURS)
    ]
    figure = go.Figure([*traces, *legend])
    low, high = np.percentile(positions, [1, 99], axis=0)
    padding = (high - low) * 0.08 + 1e-6
    figure.update_xaxes(range=[low[0] - padding[0], high[0] + padding[0]], visible=False)
    figure.update_yaxes(range=[low[1] - padding[1], high[1] + padding[1]], visible=False)
    figure.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        dragmode=False,
        legend={"title": "true digit", "itemsizing": "constant"},
    )
    return figure


def probe_maps_figure(maps: np.ndarray, height: int = 220) -> go.Figure:
    """(H, W, C) feature maps of one probe digit, one tile a channel, one shared scale."""
    order = np.arange(maps.shape[-1])
    columns = min(8, len(order))
    return mosaic_figure(tile_channels(maps, order, False, columns), maps.shape[:2], order, columns, height=height)
