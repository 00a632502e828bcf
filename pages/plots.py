"""Plotly figures for the pages: pure functions of arrays, no model work."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from model.runtime.inference import a_digit

ACCENT = "#e4572e"
MUTED = "#9aa5b1"


def enlarged(image: np.ndarray, width: int) -> np.ndarray:
    """A small image enlarged by a whole factor to about `width` pixels, each pixel a sharp square
    (a browser would blur it)."""
    factor = max(1, width // max(image.shape[:2]))
    return np.kron(image, np.ones((factor, factor), image.dtype))


def framed(image: np.ndarray) -> np.ndarray:
    """A uint8 grey image with a one-pixel grey frame, so that ink at its edge does not merge
    into the white page."""
    return np.pad(image, 1, constant_values=128)


def padded_square(image: np.ndarray) -> np.ndarray:
    """An image padded with black (or transparency) to a square, centred: so that a row of
    steps of different shapes lines up."""
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    padding = [(top, side - height - top), (left, side - width - left)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, padding)


def probability_bars(probabilities: np.ndarray, title: str = "") -> go.Figure:
    """A bar per digit, the most likely one highlighted."""
    probabilities = np.asarray(probabilities, dtype=float)
    # No highlight while there is nothing to show (all zeros, before a first drawing).
    best = int(np.argmax(probabilities)) if probabilities.max(initial=0.0) > 0 else -1
    colours = [ACCENT if digit == best else MUTED for digit in range(len(probabilities))]
    figure = go.Figure(
        go.Bar(
            x=[str(digit) for digit in range(len(probabilities))],
            y=probabilities,
            marker_color=colours,
            text=[f"{p:.0%}" if p >= 0.01 else "" for p in probabilities],
            textposition="outside",
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title or None,
        height=260,
        # Margins fixed to fit the axes' labels: Plotly need not measure them on every redraw.
        margin={"l": 60, "r": 10, "t": 30 if title else 20, "b": 45, "autoexpand": False},
        yaxis={"range": [0, 1.12], "tickformat": ".0%", "title": "probability"},
        xaxis={"title": "digit", "type": "category"},
        showlegend=False,
    )
    return figure


def tile_channels(
    maps: np.ndarray, order: np.ndarray, per_channel: bool, columns: int, limits: tuple[float, float] | None = None
) -> np.ndarray:
    """(H, W, C) maps -> one mosaic image, channels in `order`, one pixel of NaN between tiles.

    Values are scaled to [0, 1]: from `limits` when given, else with `per_channel` each
    tile to its own range, otherwise all tiles to one shared range.
    """
    height, width, _ = maps.shape
    rows = -(-len(order) // columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan, np.float32)
    low, high = limits if limits is not None else (float(np.min(maps)), float(np.max(maps)))
    for position, channel in enumerate(order):
        tile = maps[..., channel].astype(np.float32)
        if per_channel and limits is None:
            low, high = float(tile.min()), float(tile.max())
        tile = (tile - low) / (high - low) if high > low else np.zeros_like(tile)
        row, column = divmod(position, columns)
        mosaic[
            row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width
        ] = tile
    return mosaic


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
            go.Heatmap(
                z=correct,
                x=digits,
                y=digits,
                text=text,
                texttemplate="%{text}",
                hoverinfo="skip",
                colorscale=[[0, "#e8ecef"], [1, "#e8ecef"]],
                showscale=False,
                xgap=2,
                ygap=2,
            ),
            go.Heatmap(
                z=errors,
                x=digits,
                y=digits,
                text=text,
                texttemplate="%{text}",
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


def training_curves(history: list[dict]) -> go.Figure:
    """Loss and accuracy per epoch, training and validation, side by side; loss from 0, accuracy in 0-1."""
    epochs = [row["epoch"] for row in history]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for column, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, dash in (("", "training", "solid"), ("val_", "validation", "dot")):
            values = [row.get(prefix + metric) for row in history]
            if any(value is not None for value in values):
                figure.add_trace(
                    go.Scatter(x=epochs, y=values, name=f"{name} {metric}", mode="lines+markers", line={"dash": dash}),
                    row=1,
                    col=column,
                )
    figure.update_xaxes(title="epoch", dtick=max(1, len(epochs) // 10))
    figure.update_yaxes(rangemode="tozero", row=1, col=1)
    figure.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def curves_caption(history: list[dict]) -> str:
    """What `training_curves` draws for `history`, in words."""
    validation = any(row.get("val_loss") is not None for row in history)
    where = "on the training images and on the held-out validation images" if validation else "on the training images"
    sentence = f"Loss and accuracy after each epoch, {where}."
    if validation:
        return sentence + " Validation falling behind training means over-fitting."
    return sentence + " Hold some images out (sidebar) to see over-fitting as well."


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
        go.Heatmap(
            z=better,
            x=digits,
            y=digits,
            text=[[f"{int(v):+d}" if v else "" for v in row] for row in difference],
            customdata=difference,
            texttemplate="%{text}",
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


def vector_tile(values: np.ndarray, columns: int | None = None) -> np.ndarray:
    """A 1-D vector as a near-square grid, row by row, NaN after its end."""
    values = np.ravel(values).astype(np.float32)
    columns = columns or int(np.ceil(np.sqrt(len(values))))
    grid = np.full(-(-len(values) // columns) * columns, np.nan, np.float32)
    grid[: len(values)] = values
    return grid.reshape(-1, columns)


def network_figure(stages: list[dict], width: int = 940) -> go.Figure:
    """The whole network left to right, one panel per stage: {"title", "image" (2-D, NaN for gaps),
    optionally "targets" (x, y, customdata) that a click selects, "colorscale", "text"}. The
    height fits panels about `width` pixels wide in all."""
    from plotly.subplots import make_subplots

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


# Ten distinct colours for the ten digits (Plotly's D3 palette).
DIGIT_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


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
                    showlegend=not mistakes,
                    customdata=chosen,
                    text=[f"#{i}: {a_digit(labels[i])}, predicted {predictions[i]}" for i in chosen],
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
                text=[f"#{i}: {a_digit(labels[i])}, predicted {predictions[i]}" for i in marked],
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


def sweep_figure(rows: list[dict], names: list[str], metric: str = "validation_accuracy") -> go.Figure:
    """A sweep's trials: for two settings, a heat map of the metric over their values; for one,
    bars per value. Trials without a result yet stay blank; ASHA's stopped ones say at which epoch."""

    def note(row: dict) -> str:
        value = row.get(metric)
        shown = f"{value:.2%}" if value is not None else row.get("state", "")
        return shown + (f"<br>stopped after epoch {row.get('epoch')}" if row.get("state") == "stopped early" else "")

    reached = [row[metric] for row in rows if row.get(metric) is not None]
    # The scale spans the results (at least a point), never past 100%.
    top = min(1.0, max(reached)) if reached else 1.0
    bottom = min(min(reached), top - 0.01) if reached else 0.0

    if len(names) == 2:
        first, second = ([str(value) for value in dict.fromkeys(row[name] for row in rows)] for name in names)
        values = np.full((len(first), len(second)), np.nan)
        text = [["" for _ in second] for _ in first]
        for row in rows:
            i, j = first.index(str(row[names[0]])), second.index(str(row[names[1]]))
            values[i, j] = row[metric] if row.get(metric) is not None else np.nan
            text[i][j] = note(row)
        figure = go.Figure(
            go.Heatmap(
                z=values,
                x=second,
                y=first,
                text=text,
                texttemplate="%{text}",
                colorscale="Viridis",
                zmin=bottom,
                zmax=top,
                colorbar={"title": "validation", "tickformat": ".1%"},
                hovertemplate=f"{names[0]} %{{y}}, {names[1]} %{{x}}: %{{z:.2%}}<extra></extra>",
            )
        )
        figure.update_layout(
            xaxis={"title": names[1], "type": "category"}, yaxis={"title": names[0], "type": "category"}
        )
    else:
        name = names[0]
        figure = go.Figure(
            go.Bar(
                x=[str(row[name]) for row in rows],
                y=[row.get(metric) or 0.0 for row in rows],
                text=[note(row) for row in rows],
                marker_color=[ACCENT if row.get("state") == "finished" else MUTED for row in rows],
                hovertemplate=f"{name} %{{x}}: %{{y:.2%}}<extra></extra>",
            )
        )
        # From zero: a cut axis made gaps of a point look large; the numbers are on the bars.
        figure.update_layout(
            xaxis={"title": name, "type": "category"},
            yaxis={"title": "validation accuracy", "tickformat": ".0%", "range": [0, 1.0]},
        )
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10})
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
