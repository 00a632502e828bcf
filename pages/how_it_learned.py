"""How it learned: a version's training replayed from its snapshots, frame by frame."""

import streamlit as st

from model.store.registry import ModelVersion
from model.store.snapshots import Snapshots, read_snapshots
from pages.ui.figures.predictions import confusion_figure
from pages.ui.figures.snapshots import (
    STATIC,
    accuracy_figure,
    map_frame_figure,
    probe_maps_figure,
    probe_name,
)
from pages.ui.models import chosen_model, version_name
from pages.ui.routing import guarded
from pages.ui.snapshot_view import accuracy_metric, learning_view, progress_line
from pages.ui.state import set_current_digit

# While playing, the next frame after this many seconds.
PLAY_EVERY = 0.8
# The frame shown and the version playing (session keys of this page's own: a widget's value is
# forgotten on other pages).
FRAME, PLAYING, SLIDER = "learned_frame", "learned_playing", "learned_slider"


@st.cache_data(max_entries=8, show_spinner="Reading the snapshots...")
def snapshots_of(cache_key: str, folder: str) -> Snapshots | None:
    """A version's snapshots (keyed by the version's cache key), None when it has none; ValueError when unreadable."""
    arrays = read_snapshots(folder)
    return Snapshots.from_arrays(arrays) if arrays is not None else None


def replay_controls(version: ModelVersion, snapshots: Snapshots) -> int:
    """Play or Pause and the frame slider; returns the frame to show (the next one while playing)."""
    last = snapshots.frames - 1
    playing = st.session_state.get(PLAYING) == version.cache_key
    index = min(int(st.session_state.get(FRAME, last)), last)
    play, slider = st.columns([1, 7], vertical_alignment="bottom")
    if play.button(
        "Pause" if playing else "Play",
        key="learned_play",
        icon=":material/play_arrow:" if not playing else ":material/pause:",
        width="stretch",
    ):
        playing = not playing
        st.session_state[PLAYING] = version.cache_key if playing else None
        index = 0 if playing and index == last else index
        st.session_state[FRAME] = index
        # The fragment's timer starts or stops with a run of the whole page.
        st.rerun(scope="app")
    if playing:
        index = min(index + 1, last)
    st.session_state[FRAME] = st.session_state[SLIDER] = index
    slider.slider(
        "Frame",
        0,
        last,
        key=SLIDER,
        on_change=lambda: st.session_state.update({FRAME: st.session_state[SLIDER]}),
        format="%d",
        help="Each frame is a snapshot taken during training, denser at the start where most changes happen.",
    )
    if playing and index == last:
        st.session_state[PLAYING] = None
    return index


@guarded()
def frame_view(version: ModelVersion, snapshots: Snapshots, timed: bool) -> None:
    """The frame: where the run is, filters and probes, accuracy, digit map and errors, a probe's
    maps. `timed`: this fragment reruns by itself (playing); once the replay stops, so does that."""
    if timed and st.session_state.get(PLAYING) != version.cache_key:
        st.rerun(scope="app")
    index = replay_controls(version, snapshots)
    top = st.columns([3, 1])
    top[0].markdown(progress_line(snapshots, index))
    accuracy_metric(snapshots, index, top[1])
    clicked = learning_view(snapshots, index, "learned")
    if clicked is not None:
        open_probe(version, snapshots, clicked)
    st.plotly_chart(
        accuracy_figure(snapshots.steps, snapshots.subset_accuracy, index), key="learned_accuracy", config=STATIC
    )
    map_and_errors(snapshots, index)
    probe_maps_view(version, snapshots, index)


def map_and_errors(snapshots: Snapshots, index: int) -> None:
    """The digit map and the confusion matrix of the frame."""
    if snapshots.positions is None or snapshots.confusion is None:
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**The digit map**")
        st.plotly_chart(
            map_frame_figure(
                snapshots.positions[index],
                snapshots.subset_labels,
                snapshots.subset_predictions[index],
            ),
            key="learned_map",
            config=STATIC,
        )
        st.caption(
            "The 1,000 test digits as the last hidden layer sees them, on the finished network's two main "
            "directions (PCA) in every frame, each frame zoomed to its digits: the classes start in one "
            "mixed clump and separate as it learns. Crosses are mistakes."
        )
    with right:
        st.markdown("**Its mistakes**")
        st.plotly_chart(
            confusion_figure(snapshots.confusion[index], normalised=False).update_layout(height=440),
            key="learned_confusion",
            config=STATIC,
        )
        errors = int(snapshots.confusion[index].sum() - snapshots.confusion[index].trace())
        st.caption(
            f"{errors} of the 1,000 digits are wrong in this frame: rows are the true digit, columns the answer."
        )


def probe_maps_view(version: ModelVersion, snapshots: Snapshots, index: int) -> None:
    """One probe digit's feature maps at the recorded layer, in this frame."""
    if snapshots.probe_maps is None:
        return
    names = [probe_name(int(label)) for label in snapshots.probe_labels]
    left, right = st.columns([1, 3])
    probe = left.selectbox("Probe digit", range(len(names)), format_func=lambda i: names[i], key="learned_probe")
    left.image(snapshots.probes[probe], width=112, clamp=True)
    if left.button("Open on Feature maps", key="learned_open_probe"):
        open_probe(version, snapshots, probe)
    maps = snapshots.probe_maps[index, probe]
    with right:
        st.plotly_chart(probe_maps_figure(maps), key="learned_probe_maps", config=STATIC)
        st.caption(
            f"{names[probe].capitalize()} as {snapshots.mapped_layer} sees it in this frame: {maps.shape[-1]} channels "
            f"of {maps.shape[0]} x {maps.shape[1]}. Its channels sharpen as the filters do."
        )


def open_probe(version: ModelVersion, snapshots: Snapshots, probe: int) -> None:
    """Makes a probe digit the current digit and opens it on Feature maps."""
    label = int(snapshots.probe_labels[probe])
    set_current_digit(
        snapshots.probes[probe],
        f"probe digit {probe_name(label)} from {version_name(version.id)}'s training",
        label if label >= 0 else None,
    )
    st.session_state[PLAYING] = None
    st.switch_page("pages/feature_maps.py")


st.title("How it learned")
version, _ = chosen_model(__file__)
try:
    snapshots = snapshots_of(version.cache_key, str(version.path))
except ValueError as error:
    st.warning(f"The snapshots of {version_name(version.id)} cannot be shown: {error}")
    st.stop()
if snapshots is None:
    st.info(
        f"{version_name(version.id).capitalize()} has no training snapshots to replay: it was trained before "
        "they were recorded, or uploaded. Every run trained here from now on records them (Retrain, the "
        "command line, fine-tunes and kept sweep trials); choose such a version in the sidebar."
    )
    st.stop()
st.caption(
    f"{snapshots.frames} snapshots of {version_name(version.id)}'s training, from its random start to the finished "
    "network. Press Play, or move the slider; click a probe digit's row to open it on Feature maps."
)
playing = st.session_state.get(PLAYING) == version.cache_key
st.fragment(frame_view, run_every=PLAY_EVERY if playing else None)(version, snapshots, playing)
