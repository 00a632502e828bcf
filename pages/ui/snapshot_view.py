"""One frame of a training run, as the Retrain page shows it live and How it learned replays it:
how far the run is, the first layer's filters, and the probe digits' answers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.store.snapshots import Snapshots
from pages.ui.common import new_click
from pages.ui.figures.snapshots import STATIC, filters_figure, probe_name, probe_strip, probes_figure


def progress_line(snapshots: Snapshots, index: int) -> str:
    step, total = int(snapshots.steps[index]), max(1, snapshots.total_steps)
    if step == 0:
        return f"Before the first step of {total:,}: the network as it starts, with random weights."
    return f"After step {step:,} of {total:,} ({step / total:.0%} of the run)."


def accuracy_metric(snapshots: Snapshots, index: int, column) -> None:
    accuracy, start = float(snapshots.subset_accuracy[index]), float(snapshots.subset_accuracy[0])
    column.metric(
        "Accuracy on 1,000 test digits",
        f"{accuracy:.1%}",
        f"{(accuracy - start) * 100:+.1f} points since the start" if index else None,
        help="The first 1,000 MNIST test digits, the same in every run and every frame.",
    )


def filter_change(snapshots: Snapshots, index: int) -> str:
    """How far the filters have moved since the first frame, in words ("" for the first frame or a live one)."""
    if index == 0:
        return ""
    start = snapshots.filters[0]
    change = float(np.linalg.norm(snapshots.filters[index] - start) / (np.linalg.norm(start) or 1.0))
    return f" Since the start their weights have moved by {change:.0%} of their size."


def learning_view(snapshots: Snapshots, index: int, key: str, clickable: bool = True) -> int | None:
    """The frame's filters and probe answers side by side. Returns the probe digit clicked (its
    index) when `key`'s chart is `clickable` and was clicked on a new row, else None."""
    names = [probe_name(int(label)) for label in snapshots.probe_labels]
    left, right = st.columns([2, 3])
    with left:
        filters = snapshots.filters[index]
        if len(filters):
            st.markdown("**The first layer's filters**")
            st.plotly_chart(filters_figure(filters), key=f"{key}_filters", config=STATIC)
            st.caption(
                f"{len(filters)} filters of {filters.shape[1]} x {filters.shape[2]} weights (red negative, blue "
                "positive, each frame on its own scale). They start as random noise; training turns them into "
                "detectors of strokes and edges." + filter_change(snapshots, index)
            )
        else:
            st.caption("This network has no convolution, so it has no filters to watch.")
    with right:
        st.markdown("**How the network answers the probe digits**")
        st.image(probe_strip(snapshots.probes), caption=" · ".join(names))
        event = st.plotly_chart(
            probes_figure(snapshots.probe_probabilities[index], snapshots.probe_labels),
            key=f"{key}_probes",
            on_select="rerun" if clickable else "ignore",
            selection_mode="points",
            config=STATIC,
        )
        drawings = ", ".join(dict.fromkeys(probe_name(int(label)) for label in snapshots.probe_labels if label < 0))
        st.caption(
            "One test digit of each class"
            + (f" and {drawings}" if drawings else "")
            + ": each row is one digit, each column how likely the network finds that answer; the true digit's "
            "cell is outlined."
        )
    click = new_click(event, f"{key}_last_click") if clickable else None
    if click is not None and click.get("customdata") is not None:
        return int(click["customdata"])
    return None
