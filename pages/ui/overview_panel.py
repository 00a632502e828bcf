"""The Feature maps page's overview: the whole network for the current digit, left to right."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.analysis.inspection import feature_maps, layer_outputs
from pages.ui.common import new_click
from pages.ui.figures.images import tile_channels, vector_tile
from pages.ui.figures.layers import network_figure


def overview_section(model, image: np.ndarray, probabilities: np.ndarray) -> None:
    """Input, every convolution and pooling layer (all channels as tiles), the dense part, the ten
    outputs. A click on a channel's tile opens that layer and channel below."""
    st.subheader("The whole network")
    maps = feature_maps(model, image)
    names = list(maps)
    outputs = layer_outputs(model, image)
    stages = [{"title": "input", "image": image, "colorscale": "gray"}]
    for index, (name, values) in enumerate(maps.items()):
        height, width, channels = values.shape
        columns = int(np.ceil(np.sqrt(channels)))
        mosaic = tile_channels(values, np.arange(channels), False, columns)
        rows, places = np.divmod(np.arange(channels), columns)
        stages.append(
            {
                "title": name,
                "image": mosaic,
                "targets": (
                    (places * (width + 1) + (width - 1) / 2).tolist(),
                    (rows * (height + 1) + (height - 1) / 2).tolist(),
                    [[index, int(channel)] for channel in range(channels)],
                    f"{name}, channel %{{customdata[1]}}<extra></extra>",
                ),
            }
        )
    # The dense part: every layer after the last feature map that changes the values (not dropout).
    last = list(outputs).index(model.get_layer(names[-1]).name) if names else -1
    for name in list(outputs)[last + 1 : -1]:
        if "dropout" in name or outputs[name].ndim != 1:
            continue
        stages.append({"title": f"{name} ({outputs[name].size})", "image": vector_tile(outputs[name])})
    stages.append(
        {
            "title": "output",
            "image": probabilities.reshape(10, 1),
            "colorscale": "Oranges",
            "text": np.array([[f"{digit}"] for digit in range(10)]),
        }
    )
    event = st.plotly_chart(
        network_figure(stages),
        key="feature_overview",
        on_select="rerun",
        selection_mode="points",
        config={"displayModeBar": False},
    )
    click = new_click(event, "feature_overview_click")
    if click is not None and isinstance(click.get("customdata"), list) and len(click["customdata"]) == 2:
        layer_index, channel = (int(value) for value in click["customdata"])
        # The layer and channel pickers below are drawn after this, so they show the choice in this run.
        st.session_state.feature_layer = names[layer_index]
        st.session_state.feature_channel = channel
    st.caption(
        "The digit flows left to right: each block is one convolution or pooling layer, every channel a small "
        "tile (bright where it responds); then the dense part and the ten outputs (darker is likelier). "
        "Click a tile to open that layer and channel below."
    )
