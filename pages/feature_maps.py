"""Feature maps: what every convolution and pooling layer sees for the current digit."""

import numpy as np
import streamlit as st

from model.analysis.attributions import (
    completeness,
    default_cam_layer,
    grad_cam,
    integrated_gradients,
    occlusion,
    saliency,
    smooth_grad,
)
from model.analysis.inspection import (
    feature_maps,
    first_convolution,
    kernels,
    layer_outputs,
    layer_shapes,
    layer_weights,
)
from pages.ui.channel_panel import channel_panel
from pages.ui.common import how_sure_in_words, layer_table_view, new_click
from pages.ui.digit_check import check_digit, show_digit_check
from pages.ui.figures.images import tile_channels
from pages.ui.figures.layers import histogram_figure, image_figure, mosaic_figure, overlay_figure, unit_picker_figure
from pages.ui.figures.predictions import probability_bars
from pages.ui.models import chosen_model
from pages.ui.overview_panel import overview_section
from pages.ui.routing import guarded
from pages.ui.state import digit_to_show
from pages.ui.unit_panel import unit_panel


def maps_section(version, model, image) -> None:
    """Every convolution and pooling layer's channels as a mosaic, one channel large, the first filters."""
    shapes = layer_shapes(model)
    if not shapes:
        st.info(
            "This model has no convolution or pooling layers, so there are no feature maps to show: its "
            "layers see the digit as a flat list of pixels. Saliency below still shows which pixels matter."
        )
        return
    names = list(shapes)
    layer = st.selectbox(
        "Layer", names, key="feature_layer", format_func=lambda name: f"{name}: {' x '.join(map(str, shapes[name]))}"
    )
    maps = feature_maps(model, image)[layer]
    height, width, channels = maps.shape

    options = st.columns(3)
    per_channel = (
        options[0].radio(
            "Colour scale", ["shared", "per channel"], horizontal=True, key="feature_scale", persist_state="session"
        )
        == "per channel"
    )
    strongest_first = options[1].toggle("Strongest channels first", key="feature_order", persist_state="session")
    order = np.argsort(-maps.max(axis=(0, 1)), kind="stable") if strongest_first else np.arange(channels)
    columns = 16 if height * width == 1 else min(8, channels)

    st.subheader(f"{layer}: {channels} channels of {height} x {width}")
    st.caption(
        "Each square is one channel (one learned filter) of this layer: bright where the pattern it detects "
        "appears in the digit. Early layers find edges and strokes; deeper ones, coarser parts of digits."
        + (" This layer's maps are 1 x 1: each square is one number." if height * width == 1 else "")
    )
    mosaic = tile_channels(maps, order, per_channel, columns)
    event = st.plotly_chart(
        mosaic_figure(mosaic, (height, width), order, columns),
        key="feature_grid",
        on_select="rerun",
        selection_mode="points",
        config={"displayModeBar": False},
    )
    # A click on a tile picks its channel (the figure's customdata); the picker stays free.
    click = new_click(event, "feature_last_click", layer)
    if click is not None and click.get("customdata", -1) >= 0:
        st.session_state.feature_channel = int(click["customdata"])
    st.session_state.feature_channel = min(st.session_state.get("feature_channel", int(order[0])), channels - 1)
    channel = options[2].number_input(
        "Channel", 0, channels - 1, key="feature_channel", help="Or click a square in the grid."
    )

    values = maps[..., channel]
    # The unit explained below: the channel's strongest, until a pixel of its map is clicked.
    if st.session_state.get("feature_unit_of") != (layer, channel):
        st.session_state.feature_unit_of = (layer, channel)
        st.session_state.feature_unit = tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))
    # A click on the map is in the chart's state (under its key) when this run starts: the unit
    # changes before the map is drawn, so one run shows it.
    click = new_click(st.session_state.get("feature_channel_big"), "feature_unit_click", (layer, channel))
    if click is not None and click.get("customdata"):
        st.session_state.feature_unit = tuple(int(i) for i in click["customdata"])
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            unit_picker_figure(values, st.session_state.feature_unit, f"{layer}, channel {channel}"),
            key="feature_channel_big",
            on_select="rerun",
            selection_mode="points",
            config={"displayModeBar": False},
        )
        st.caption(
            f"Channel {channel} at full size: its strongest value is {values.max():.2f}, its mean "
            f"{values.mean():.2f}. Hover to read values; click a pixel to see how it is computed (below)."
        )
    with right:
        filters_panel(model)
    channel_panel(version, model, layer, channel)
    previous = names[names.index(layer) - 1] if names.index(layer) > 0 else "the digit"
    unit_panel(model, image, layer, *st.session_state.feature_unit, channel, previous)


def filters_panel(model) -> None:
    """The first convolution's filters, one tile each."""
    first = first_convolution(model)
    if first is None:
        st.caption("This model's first feature-map layer is a pooling layer: it has no filters to show.")
        return
    filters = kernels(model, first)[:, :, 0, :]
    filter_columns = 8
    # One symmetric scale for all filters, so white is zero.
    limit = float(np.abs(filters).max()) or 1.0
    filter_mosaic = tile_channels(filters, np.arange(filters.shape[-1]), False, filter_columns, (-limit, limit))
    st.plotly_chart(
        mosaic_figure(
            filter_mosaic,
            filters.shape[:2],
            np.arange(filters.shape[-1]),
            filter_columns,
            colorscale="RdBu",
            height=260,
        ),
        key="feature_filters",
    )
    st.caption(
        f"The {filters.shape[-1]} filters of {first}, each {filters.shape[0]} x {filters.shape[1]} weights "
        "(red negative, blue positive): the first layer slides each over the digit to make its maps."
    )


# How to read each attribution method, in one sentence (`{target}`: the class explained).
READINGS = {
    "Grad-CAM": "Grad-CAM weighs the channels of {layer} by how much they raise the score for {target}: "
    "bright regions are where the evidence for that digit is, at the coarse resolution of that layer.",
    "Saliency": "Saliency is the plain gradient: the pixels whose change would move the score for {target} "
    "most; sharp but noisy.",
    "SmoothGrad": "SmoothGrad averages the gradient over 24 noisy copies of the digit: the same question as "
    "saliency with the speckle averaged away, so the strokes that matter for {target} stand out.",
    "Integrated gradients": "Integrated gradients share out the score for {target} among the pixels along the "
    "path from a black image to the digit: blue pixels add to it, red ones take from it, and together they add "
    "up to the score's rise (the check below).",
    "Occlusion": "Occlusion blacks out one 6 x 6 square at a time and measures how much the score for {target} "
    "falls: blue where hiding the digit hurts the score (evidence), red where it helps.",
}
SIGNED = ("Integrated gradients", "Occlusion")


def attribution(method: str, model, image, target: int, cam_layer: str | None, steps: int):
    """The chosen method's (28, 28) map."""
    if method == "Grad-CAM":
        return grad_cam(model, image, target, cam_layer)
    if method == "Saliency":
        return saliency(model, image, target)
    if method == "SmoothGrad":
        return smooth_grad(model, image, target)
    if method == "Integrated gradients":
        return integrated_gradients(model, image, target, steps=steps)
    return occlusion(model, image, target)


@st.fragment
@guarded()
def explanation_section(model, image, predicted: int) -> None:
    """Attribution for any class: Grad-CAM (for models with a convolution that keeps a map),
    saliency, SmoothGrad, integrated gradients (with its completeness check) and occlusion."""
    st.subheader("Why did it say that?")
    try:
        cam_layer = default_cam_layer(model)
        methods = list(READINGS)
    except ValueError:
        cam_layer, methods = None, [name for name in READINGS if name != "Grad-CAM"]
    choice = st.columns([3, 1, 1])
    method = choice[0].radio("Method", methods, horizontal=True, key="feature_method", persist_state="session")
    target = choice[1].selectbox(
        "Explain the class",
        list(range(10)),
        index=predicted,
        key="feature_class",
        format_func=lambda d: f"{d} (predicted)" if d == predicted else str(d),
    )
    steps = choice[2].selectbox(
        "Steps",
        [32, 64, 128],
        key="feature_steps",
        disabled=method != "Integrated gradients",
        help="Integrated gradients: more steps, a closer sum (slower).",
    )
    heat = attribution(method, model, image, target, cam_layer, steps)
    left, right = st.columns(2)
    evidence = np.clip(heat, 0, None) if method in SIGNED else heat
    left.plotly_chart(
        overlay_figure(image, evidence / (evidence.max() or 1.0), f"{method} for {target}"), key="feature_explanation"
    )
    right.plotly_chart(
        image_figure(
            heat,
            colorscale="RdBu" if method in SIGNED else "Viridis",
            symmetric=method in SIGNED,
            height=360,
            title="Values",
        ),
        key="feature_explanation_values",
    )
    reading = READINGS[method].format(target=target, layer=cam_layer)
    if cam_layer is None:
        reading += " (Grad-CAM needs a convolution whose output is still a map; this model has none.)"
    st.caption(reading + " Left: the positive part over the digit; right: the values (hover to read them).")
    if method == "Integrated gradients":
        total, rise = completeness(model, image, target, heat)
        gap = abs(total - rise) / abs(rise) if rise else 0.0
        st.caption(
            f"Completeness check: the attributions add up to {total:.2f}; the score (logit) of {target} rises by "
            f"{rise:.2f} from the black image to the digit, {gap:.1%} apart"
            + (" (more steps close the gap)." if gap > 0.05 else ".")
        )


@st.fragment
@guarded()
def _zeros(activations: np.ndarray) -> str:
    """What a layer's zeros and negative values say: whether its ReLU has been applied yet."""
    if np.min(activations) < 0:
        return (
            "some are negative: this is the layer's raw output, before a ReLU (which comes in a later layer) "
            "sets the negative ones to zero."
        )
    return (
        f"{np.mean(activations == 0):.0%} are exactly zero (after a ReLU, only the patterns found in this digit "
        "light up)."
    )


def network_section(model, image) -> None:
    """The layer table, and for a chosen layer histograms of its weights and of the digit's activations."""
    st.subheader("The network itself")
    layer_table_view(model)
    outputs = layer_outputs(model, image)
    name = st.selectbox("Layer for the histograms", list(outputs), key="feature_histogram_layer")
    weights = layer_weights(model, name)
    left, right = st.columns(2)
    with left:
        if weights:
            st.plotly_chart(histogram_figure(weights, f"weights of {name}"), key="feature_weight_histogram")
            st.caption(
                f"The values of {name}'s weights: {sum(w.size for w in weights.values()):,} in all. Weights far "
                "from zero mark strong connections; a layer whose weights all sit near zero does little."
            )
        else:
            st.caption(f"{name} has no weights: it reshapes, pools, normalises or drops what it gets.")
    with right:
        activations = outputs[name]
        st.plotly_chart(
            histogram_figure({"this digit": activations}, f"output of {name}"), key="feature_activation_histogram"
        )
        st.caption(f"{name}'s {activations.size:,} output values for the current digit; {_zeros(activations)}")


st.title("Feature maps")
version, predictor = chosen_model(__file__)
model = predictor.model

digit = digit_to_show("feature_test_index", "what the network sees for it")
image = digit.image
probabilities = predictor.probabilities_of_image(image)
predicted = int(np.argmax(probabilities))

top = st.columns([1, 3])
top[0].image(image, caption=digit.source, width=140, clamp=True)
with top[1]:
    label = f", labelled {digit.label}" if digit.label is not None else ""
    st.markdown(
        f"**Predicted {predicted}** with {probabilities[predicted]:.1%} confidence{label}. "
        "Draw another digit on the Draw page to change it."
    )
    check = check_digit(version, model, image)
    show_digit_check(check, predicted)
    if not check.unlike_digits:
        st.caption(how_sure_in_words(probabilities))
    st.plotly_chart(probability_bars(probabilities), key="feature_probabilities")

overview_section(model, image, probabilities)
maps_section(version, model, image)
explanation_section(model, image, predicted)
network_section(model, image)
