"""Digit map: the 10,000 test digits as the network sees them, the current digit among them, its neighbours."""

import threading

import numpy as np
import streamlit as st

from model.analysis import layout
from model.analysis.confidence import with_article
from model.analysis.projection import (
    METHODS,
    PLACING_NEIGHBOURS,
    NeighbourIndex,
    cached_features,
    cached_projection,
    feature_layers,
    features,
    kept_projection,
    place,
)
from model.store.registry import ModelVersion, list_versions
from model.store.storage import ModelBroken
from pages.ui.access import may_manage
from pages.ui.common import gallery
from pages.ui.data import HEAVY_WORK, evaluation_on_test_set, mnist_test_set, mnist_train_set, work_bar
from pages.ui.figures.maps import digit_map_figure
from pages.ui.models import chosen_model, predictor_for, version_name, version_problem
from pages.ui.state import Digit, current_digit

# The digits shown for a selection, at most.
GALLERY_SIZE = 30


def _sha(version: ModelVersion) -> str:
    return version.metadata.model_sha256 or version.cache_key


def _file(version: ModelVersion) -> str:
    # Features are computed in a child process at a lower priority, from the model's file.
    return str(version.model_file)


@st.cache_resource(max_entries=8, show_spinner=False)
def test_features(
    cache_key: str, layer: str, _version: ModelVersion, _model, _images: np.ndarray
) -> tuple[np.ndarray, NeighbourIndex]:
    """The test digits' features (read-only, shared by every session) and their neighbour index,
    which places a new digit on a UMAP or t-SNE map: built once, not on every rerun."""
    with HEAVY_WORK, work_bar(f"Computing the {len(_images):,} test digits' features at {layer}") as report:
        values = cached_features(_model, layer, _images, _version.cache_folder, _sha(_version), _file(_version), report)
    values.flags.writeable = False
    return values, NeighbourIndex(values)


@st.cache_resource(max_entries=2, show_spinner=False)
def neighbour_index(
    cache_key: str, layer: str, _version: ModelVersion, _model, _train: np.ndarray, _test: np.ndarray
) -> NeighbourIndex:
    """The 60,000 training then the 10,000 test digits' features (shared by every session, never changed)."""
    with (
        HEAVY_WORK,
        work_bar(f"Computing the {len(_train):,} training digits' features, for the nearest digits") as report,
    ):
        train = cached_features(_model, layer, _train, _version.cache_folder, _sha(_version), _file(_version), report)
        test = cached_features(_model, layer, _test, _version.cache_folder, _sha(_version), _file(_version))
    return NeighbourIndex(np.concatenate([train, test]))


@st.cache_resource
def _projection_locks() -> dict[str, threading.Lock]:
    return {}


def projection(version: ModelVersion, layer: str, method: str, values: np.ndarray) -> dict | None:
    """The map for a version, layer and method: from disk, or computed once (with progress) while
    other visitors asking for the same map wait for it. In public mode only the operator starts a
    UMAP or t-SNE map (a minute of both cores); None, with a message, for anyone else."""
    key = f"{_sha(version)[:16]}-{layer}"
    kept = kept_projection(len(values), method, version.cache_folder, key)
    if kept is not None:
        return kept
    if method != "PCA" and not may_manage():
        st.info(
            f"The {method} map of these features has not been computed yet: in public mode the operator "
            "computes maps, which takes a minute or so of this server's time. PCA's map is here for everyone."
        )
        return None
    lock = _projection_locks().setdefault(f"{key}-{method}", threading.Lock())

    def doing(fraction: float) -> str:
        if method == "UMAP" and fraction < layout.UMAP_NEIGHBOURS_DONE:
            return "finding each digit's nearest neighbours (the first map also compiles UMAP's code)"
        return f"{fraction:.0%}"

    # UMAP and t-SNE take a minute of the CPU: in a process at a lower priority, so strokes come first.
    compute = None if method == "PCA" else layout.project_apart
    with lock, work_bar(f"Computing the {method} map of {len(values):,} digits", doing) as report, HEAVY_WORK:
        return cached_projection(values, method, version.cache_folder, key, report, compute)


def map_view(version: ModelVersion, predictor, method: str, layer: str, digit: dict | None, key: str) -> np.ndarray:
    """One version's map; returns the test indices selected on it (box or lasso)."""
    x_test, y_test = mnist_test_set()
    model = predictor.model
    values, test_index = test_features(version.cache_key, layer, version, model, x_test)
    projected = projection(version, layer, method, values)
    if projected is None:
        return np.array([], int)
    evaluation = evaluation_on_test_set(version.cache_key, predictor, x_test, y_test)
    wrong = evaluation.predictions != y_test
    shown = wrong if st.session_state.get("map_mistakes") else np.ones(len(y_test), bool)
    cell = st.session_state.get("map_cell")
    current = None
    if digit is not None:
        current = place(projected, features(model, layer, digit.image[None])[0], test_index)
    event = st.plotly_chart(
        digit_map_figure(
            projected["points"],
            y_test,
            evaluation.predictions,
            shown,
            evaluation.cell(*cell) if cell else None,
            current,
        ),
        key=f"map_chart_{key}",
        on_select="rerun",
        selection_mode=("box", "lasso"),
    )
    placed = {
        "PCA": "by PCA's transform",
        "UMAP": "by UMAP's transform",
        "t-SNE": f"at the mean position of its {PLACING_NEIGHBOURS} nearest test digits",
    }[method]
    st.caption(
        f"{version_name(version.id)}: {method} of its {layer} features; {int(wrong.sum()):,} mistakes (crosses)."
        + (f" The star is the current digit, placed {placed}." if current is not None else "")
    )
    points = event.selection.points if event and event.selection else []
    chosen = {point.get("customdata") for point in points}
    return np.array(sorted(int(index) for index in chosen if isinstance(index, (int, float))), int)


def neighbours_section(version: ModelVersion, model, layer: str, digit: Digit) -> None:
    """The current digit's 10 nearest digits in feature space, among the training and test digits."""
    train_set, test_set = mnist_train_set(), mnist_test_set()
    if train_set is None or test_set is None:
        return
    (x_train, y_train), (x_test, y_test) = train_set, test_set
    st.subheader("Its nearest digits, as the network sees them")
    counted = f"{len(x_train) + len(x_test):,}"
    with st.spinner(f"Computing the features of the {counted} digits (once per version and layer)..."):
        index = neighbour_index(version.cache_key, layer, version, model, x_train, x_test)
    nearest, distances = index.query(features(model, layer, digit.image[None])[0], 10)
    for column, position, distance in zip(st.columns(10), nearest, distances):
        in_train = position < len(x_train)
        image = x_train[position] if in_train else x_test[position - len(x_train)]
        label = y_train[position] if in_train else y_test[position - len(x_train)]
        column.image(image, width=64, caption=f"{with_article(label)}, {distance:.1f}")
        column.caption(f"train #{position}" if in_train else f"test #{position - len(x_train)}")
    st.caption(
        f"The 10 digits (of the {len(x_train):,} training and {len(x_test):,} test digits) whose {layer} features "
        "are closest to "
        f"those of the current digit ({digit.source}), with their labels and distances."
    )


st.title("Digit map")
version, predictor = chosen_model(__file__)
test_set = mnist_test_set()
try:
    layers = feature_layers(predictor.model)
except ValueError as error:
    layers = []
    st.info(f"{error} The digit map needs one.")
if test_set is not None and layers:
    controls = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    method = controls[0].radio("Projection", METHODS, horizontal=True, key="map_method", persist_state="session")
    layer = controls[1].selectbox(
        "Features of", layers, index=len(layers) - 1, key="map_layer", persist_state="session"
    )
    others = {other.id: other for other in list_versions() if other.id != version.id and not version_problem(other)}
    against = controls[2].selectbox(
        "Compare with",
        [None, *others],
        key="map_compare",
        format_func=lambda i: "nothing" if i is None else version_name(i),
    )
    controls[3].toggle("Only the mistakes", key="map_mistakes", persist_state="session")
    digit = current_digit()
    cell = st.session_state.get("map_cell")
    if cell:
        ring = st.columns([3, 1], vertical_alignment="center")
        ring[0].caption(
            f"Ringed in red: the test images of {with_article(cell[0])} that the model predicted as {cell[1]}."
        )
        if ring[1].button("Clear the ring", key="map_clear_cell"):
            del st.session_state.map_cell
            st.rerun()
    if against is None:
        selected = map_view(version, predictor, method, layer, digit, "main")
    else:
        other = others[against]
        sides = st.columns(2)
        with sides[0]:
            selected = map_view(version, predictor, method, layer, digit, "main")
        with sides[1]:
            try:
                other_predictor = predictor_for(other)
                other_layers = feature_layers(other_predictor.model)
                selected = np.union1d(
                    selected, map_view(other, other_predictor, method, other_layers[-1], digit, "other")
                )
            except (ModelBroken, ValueError) as error:
                st.warning(f"Version {other.id} cannot be mapped: {error}")
    st.caption(
        "Each point is a test digit; digits the network sees as alike sit close. Colour is the true digit; "
        "crosses are mistakes. Hover for details; draw a box or a lasso around points to see those digits below."
        + (" The star is the current digit." if digit is not None else " Draw a digit to see where yours lands.")
    )
    if len(selected):
        x_test, y_test = test_set
        evaluation = evaluation_on_test_set(version.cache_key, predictor, x_test, y_test)
        st.subheader(f"{len(selected):,} digits selected")
        gallery(selected[:GALLERY_SIZE], x_test, y_test, evaluation.probabilities, "map")
        if len(selected) > GALLERY_SIZE:
            st.caption(f"The first {GALLERY_SIZE} are shown.")
    if digit is not None:
        neighbours_section(version, predictor.model, layer, digit)
