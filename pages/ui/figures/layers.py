"""Inside the network: images and maps to click on, one unit's numbers, histograms, the whole network."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def click_targets(
    x: list, y: list, hovertemplate: str, customdata: list | None = None, text: list | None = None
) -> go.Scatter:
    """Invisible markers on heat-map cells, which a click selects (`on_select`): Plotly cannot select heat-map cells.

    They also carry the hover text. Lay them out with `hoverdistance=-1`, so that a click
    anywhere picks the nearest one.
    """
    return go.Scatter(
        x=x,
        y=y,
        customdata=customdata,
        text=text,
        mode="markers",
        marker={"symbol": "square", "size": 24, "opacity": 0},
        hovertemplate=hovertemplate,
        showlegend=False,
    )


def written_heatmap(values: np.ndarray, x: list, y: list, text: list, **style) -> go.Heatmap:
    """A heat map with `text` written in its cells; `style` is the rest of `go.Heatmap`'s settings."""
    return go.Heatmap(z=values, x=x, y=y, text=text, texttemplate="%{text}", **style)


def mosaic_figure(
    mosaic: np.ndarray,
    tile: tuple[int, int],
    order: np.ndarray,
    columns: int,
    colorscale: str = "Viridis",
    height: int = 520,
) -> go.Figure:
    """The channel mosaic as one heat map; hovering a tile names its channel, clicking it selects a point
    whose customdata is the channel."""
    tile_height, tile_width = tile
    rows, places = np.divmod(np.arange(len(order)), columns)
    figure = go.Figure(
        [
            go.Heatmap(z=mosaic, colorscale=colorscale, zmin=0, zmax=1, showscale=False, hoverinfo="skip"),
            click_targets(
                x=(places * (tile_width + 1) + (tile_width - 1) / 2).tolist(),
                y=(rows * (tile_height + 1) + (tile_height - 1) / 2).tolist(),
                customdata=[int(channel) for channel in order],
                hovertemplate="channel %{customdata}<extra></extra>",
            ),
        ]
    )
    # Fixed ranges: the click targets' markers would pad an automatic range.
    figure.update_yaxes(range=[mosaic.shape[0] - 0.5, -0.5], visible=False, scaleanchor="x")
    figure.update_xaxes(range=[-0.5, mosaic.shape[1] - 0.5], visible=False)
    figure.update_layout(
        height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0}, dragmode=False, hoverdistance=-1, showlegend=False
    )
    return figure


def image_figure(
    image: np.ndarray, colorscale: str = "Viridis", height: int = 320, symmetric: bool = False, title: str = ""
) -> go.Figure:
    """One 2-D array as a heat map with its colour bar."""
    limit = float(np.max(np.abs(image))) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=image,
            colorscale=colorscale,
            zmin=-limit if symmetric else None,
            zmax=limit if symmetric else None,
            hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0}, title=title or None)
    return figure


def overlay_figure(image: np.ndarray, heat: np.ndarray, title: str = "", height: int = 360) -> go.Figure:
    """A heat map laid over the grey input digit."""
    figure = go.Figure(
        [
            go.Heatmap(
                z=image, colorscale=[[0, "black"], [1, "white"]], zmin=0, zmax=1, showscale=False, hoverinfo="skip"
            ),
            # Transparent where the heat is zero, so the digit shows through.
            go.Heatmap(
                z=heat,
                zmin=0,
                zmax=1,
                colorscale=[[0, "rgba(255,230,0,0)"], [0.3, "rgba(255,170,0,0.45)"], [1, "rgba(255,20,0,0.9)"]],
                hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>",
            ),
        ]
    )
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0}, title=title or None)
    return figure


def unit_picker_figure(values: np.ndarray, selected: tuple[int, int], title: str = "", height: int = 360) -> go.Figure:
    """One channel's map; every cell can be clicked (customdata: [row, column]); the chosen one is outlined."""
    rows, columns = values.shape
    grid_rows, grid_columns = np.divmod(np.arange(rows * columns), columns)
    figure = go.Figure(
        [
            go.Heatmap(z=values, colorscale="Viridis", hoverinfo="skip"),
            click_targets(
                x=grid_columns.tolist(),
                y=grid_rows.tolist(),
                customdata=np.stack([grid_rows, grid_columns], axis=1).tolist(),
                text=[f"{value:.3f}" for value in values.ravel()],
                hovertemplate="row %{customdata[0]}, column %{customdata[1]}: %{text}<extra></extra>",
            ),
        ]
    )
    row, column = selected
    figure.add_shape(
        type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5, line={"color": "red", "width": 3}
    )
    figure.update_yaxes(range=[rows - 0.5, -0.5], visible=False, scaleanchor="x")
    figure.update_xaxes(range=[-0.5, columns - 0.5], visible=False)
    figure.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0},
        title=title or None,
        dragmode=False,
        hoverdistance=-1,
        showlegend=False,
    )
    return figure


def outlined_figure(
    image: np.ndarray, box: tuple[int, int, int, int], title: str = "", height: int = 240, colorscale: str = "gray"
) -> go.Figure:
    """An image with a rectangle (top, bottom, left, right, inclusive) drawn on it."""
    top, bottom, left, right = box
    figure = go.Figure(
        go.Heatmap(z=image, colorscale=colorscale, showscale=False, hovertemplate="%{z:.3f}<extra></extra>")
    )
    figure.add_shape(
        type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5, line={"color": "red", "width": 2}
    )
    figure.update_yaxes(range=[image.shape[0] - 0.5, -0.5], visible=False, scaleanchor="x")
    figure.update_xaxes(range=[-0.5, image.shape[1] - 0.5], visible=False)
    figure.update_layout(height=height, margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0}, title=title or None)
    return figure


def numbers_figure(
    values: np.ndarray,
    title: str = "",
    colorscale: str = "Viridis",
    symmetric: bool = False,
    marked: tuple[int, int] | None = None,
    height: int = 170,
) -> go.Figure:
    """A small grid of numbers (a window, a kernel slice, their products), each cell coloured and labelled."""
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    figure = go.Figure(
        go.Heatmap(
            z=values,
            text=np.vectorize(lambda value: "" if np.isnan(value) else f"{value:.2f}")(values.astype(float)),
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale=colorscale,
            zmin=-limit if symmetric else None,
            zmax=limit if symmetric else None,
            showscale=False,
            hoverinfo="skip",
        )
    )
    if marked is not None:
        row, column = marked
        figure.add_shape(
            type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5, line={"color": "red", "width": 3}
        )
    figure.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    figure.update_xaxes(visible=False)
    figure.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 24 if title else 0, "b": 0},
        title={"text": title, "font": {"size": 12}},
    )
    return figure


def histogram_figure(series: dict[str, np.ndarray], x_title: str, height: int = 280) -> go.Figure:
    """Overlaid histograms, one per named array (its values flattened)."""
    figure = go.Figure(
        [go.Histogram(x=np.ravel(values), name=name, opacity=0.7, nbinsx=60) for name, values in series.items()]
    )
    figure.update_layout(
        barmode="overlay",
        height=height,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        xaxis_title=x_title,
        yaxis_title="count",
        legend={"orientation": "h", "y": 1.1},
    )
    return figure


def network_figure(stages: list[dict], width: int = 940) -> go.Figure:
    """The whole network left to right, one panel per stage: {"title", "image" (2-D, NaN for gaps),
    optionally "targets" (x, y, customdata) that a click selects, "colorscale", "text"}. The
    height fits panels about `width` pixels wide in all."""

    # Narrow stages (the ten outputs) still get room for their labels.
    widths = np.array([max(stage["image"].shape[1] / stage["image"].shape[0], 0.3) for stage in stages], np.float64)
    height = int(width / widths.sum() * max(stage["image"].shape[0] / stage["image"].shape[1] for stage in stages[:1]))
    height = max(140, min(height, 400)) + 40
    figure = make_subplots(
        rows=1,
        cols=len(stages),
        column_widths=(widths / widths.sum()).tolist(),
        subplot_titles=[stage["title"] for stage in stages],
        horizontal_spacing=0.012,
    )
    for column, stage in enumerate(stages, start=1):
        image = stage["image"]
        finite = image[np.isfinite(image)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        figure.add_trace(
            go.Heatmap(
                z=image,
                zmin=low,
                zmax=high if high > low else low + 1,
                colorscale=stage.get("colorscale", "Viridis"),
                showscale=False,
                text=stage.get("text"),
                texttemplate="%{text}" if stage.get("text") is not None else None,
                hoverinfo="skip",
            ),
            row=1,
            col=column,
        )
        if stage.get("targets"):
            x, y, customdata, hover = stage["targets"]
            figure.add_trace(click_targets(x, y, hover, customdata=customdata), row=1, col=column)
        axis = "" if column == 1 else str(column)
        figure.update_yaxes(
            range=[image.shape[0] - 0.5, -0.5], visible=False, scaleanchor=f"x{axis}", row=1, col=column
        )
        figure.update_xaxes(range=[-0.5, image.shape[1] - 0.5], visible=False, row=1, col=column)
    figure.update_annotations(font_size=11)
    figure.update_layout(
        height=height, margin={"l": 0, "r": 40, "t": 30, "b": 0}, dragmode=False, hoverdistance=-1, showlegend=False
    )
    return figure
