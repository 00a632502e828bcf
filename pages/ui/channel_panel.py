"""The Feature maps page's "What does this channel detect?" panel: top test patches and a made-up image."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.analysis.channels import (
    TopPatches,
    cached_activation_maximisation,
    cached_top_patches,
    convolution_layers,
    input_filter,
    patch,
)
from model.store.mnist import mnist_path
from model.store.registry import ModelVersion
from pages.ui.data import HEAVY_WORK, mnist_test_set
from pages.ui.figures.images import enlarged, framed


@st.cache_data(max_entries=4, show_spinner=False)
def _top_patches(cache_key: str, mnist_file: str, _version: ModelVersion, _model, _images: np.ndarray) -> TopPatches:
    # Once per version (the cache key) and MNIST file (which `pages.ui.data` loads once per path),
    # server-wide; on disk beside the version across restarts.
    with HEAVY_WORK:
        return cached_top_patches(_model, _images, _version.cache_folder, _version.metadata.model_sha256 or cache_key)


@st.cache_data(max_entries=256, show_spinner=False)
def _maximised(cache_key: str, _version: ModelVersion, _model, layer: str, channel: int) -> np.ndarray:
    with HEAVY_WORK:
        return cached_activation_maximisation(
            _model, layer, channel, _version.cache_folder, _version.metadata.model_sha256 or cache_key
        )


def channel_panel(version: ModelVersion, model, layer: str, channel: int) -> None:
    """The 9 test patches that excite the channel most, with their digits, and on demand an image
    made to excite it."""
    st.subheader(f"What does {layer}, channel {channel} detect?")
    if layer not in convolution_layers(model):
        st.caption("Choose a convolution layer: a pooling layer only passes on what the layer before it found.")
        return
    test_set = mnist_test_set()
    if test_set is None:
        return
    x_test, y_test = test_set
    with st.spinner("Finding the test patches that excite every channel (once per model version)..."):
        found = _top_patches(version.cache_key, str(mnist_path()), version, model, x_test)
    columns = st.columns(TOP_COLUMNS)
    for place, (index, value, row, column) in enumerate(
        zip(
            found.images[layer][channel],
            found.values[layer][channel],
            found.rows[layer][channel],
            found.columns[layer][channel],
        )
    ):
        crop = patch(model, x_test[index], layer, int(row), int(column))
        columns[place].image(
            # Enlarged to about the width shown, then framed, so the frame stays a thin line.
            framed(enlarged(crop, 72)),
            caption=f"in {'an' if y_test[index] == 8 else 'a'} {y_test[index]}, strength {value:.2f}",
            width=72,
        )
    st.caption(
        "The 9 test digits in which this channel answers most strongly, each cropped to the part of the digit "
        "that unit sees (its receptive field), with the digit and the channel's value. What they share is what "
        "the channel looks for."
    )
    kernel = input_filter(model, layer, channel)
    if kernel is not None:
        side = kernel.shape[0]
        st.image(enlarged(kernel, 24 * side), width=24 * side, clamp=True)
        st.caption(
            f"The first layer reads the image itself, so its {side}x{side} filter is the pattern it looks for: "
            "white weights want ink, black ones want none, grey ones do not care. (An image made to excite "
            "such a small filter comes out as a blur, so it is not made here.)"
        )
        return
    if st.toggle("Make an image that excites this channel", key="feature_maximise"):
        with st.spinner("Climbing the gradient..."):
            image = _maximised(version.cache_key, version, model, layer, channel)
        st.image(enlarged(image, 168), width=168, clamp=True)
        st.caption(
            "Starting from grey, the image is changed step by step to raise this channel's mean value (with small "
            "random shifts and a blur, so it stays smooth): a picture of the pattern the channel wants."
        )


TOP_COLUMNS = 9
