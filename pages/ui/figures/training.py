"""Training: curves per epoch and a sweep's trials."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pages.ui.figures.colours import ACCENT, MUTED
from pages.ui.figures.layers import written_heatmap


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
            written_heatmap(
                values,
                second,
                first,
                text,
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
