"""How it learned: a version's snapshots replayed, through AppTest sessions."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.architecture import build_model
from model.runtime.preprocess import from_uint8
from model.store.registry import publish_version
from model.store.schemas import RunMetadata
from model.store.snapshots import SNAPSHOTS_FILE, read_snapshots
from tests.conftest import APP
from training.snapshots import SnapshotRecorder, probe_indices

PAGE = "pages/how_it_learned.py"


def publish_replayed(x_test, y_test, registry=None):
    """A version, "replayed", with six snapshots of an untrained `fast` network (weights moved between them)."""
    model = build_model("fast", width=0.25)
    probes = from_uint8(x_test[probe_indices(y_test)])
    recorder = SnapshotRecorder(probes, x_test, y_test, total_steps=5, probe_labels=y_test[probe_indices(y_test)])
    recorder.set_model(model)
    recorder.on_train_begin()
    rng = np.random.default_rng(0)
    for batch in range(5):
        model.set_weights([weights + rng.normal(0, 0.05, weights.shape) for weights in model.get_weights()])
        recorder.on_train_batch_end(batch)
    metadata = RunMetadata(test_accuracy=0.5)
    return publish_version(model, metadata, "replayed", registry=registry, snapshots=recorder.arrays())


@pytest.fixture()
def replayed(isolated_registry, small_mnist):
    version = publish_replayed(*small_mnist[1])
    return version, read_snapshots(version.path)


def open_replay(version_id: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120).run()
    if version_id:
        app.session_state["app_chosen_version"] = version_id
    return app.switch_page(PAGE).run()


def shown_text(app: AppTest) -> str:
    return " ".join(element.value for element in [*app.markdown, *app.caption, *app.info, *app.warning])


def test_a_version_without_snapshots_says_so(isolated_registry):
    app = open_replay()
    assert not app.exception
    assert "has no training snapshots to replay" in shown_text(app) and not app.slider


def test_the_slider_shows_each_frame_from_the_untrained_start_to_the_end(replayed):
    version, arrays = replayed
    app = open_replay(version.id)
    assert not app.exception
    slider = app.slider(key="learned_slider")
    # It opens on the finished network.
    assert (slider.min, slider.max, slider.value) == (0, 5, 5)
    for frame in (0, 3, 5):
        app.slider(key="learned_slider").set_value(frame).run()
        assert not app.exception
        text = shown_text(app)
        accuracy = next(metric for metric in app.metric if metric.label.startswith("Accuracy"))
        assert accuracy.value == f"{arrays['subset_accuracy'][frame]:.1%}"
        if frame == 0:
            assert "Before the first step of 5" in text
        else:
            assert f"After step {arrays['steps'][frame]} of 5" in text
        errors = int(arrays["confusion"][frame].sum() - np.trace(arrays["confusion"][frame]))
        assert f"{errors} of the 1,000 digits are wrong" in text
    charts = {chart.proto.id for chart in app.get("plotly_chart")}
    assert len(charts) == 6


def test_play_steps_through_the_frames_from_the_start_and_stops_at_the_end(replayed):
    version, arrays = replayed
    app = open_replay(version.id)
    app.button(key="learned_play").click().run()
    # At the end, Play starts again from the untrained network: its first rerun shows frame 1.
    assert app.slider(key="learned_slider").value == 1 and app.button(key="learned_play").label == "Pause"
    for frame in range(2, 6):
        app.run()
        assert app.slider(key="learned_slider").value == frame
    app.run()
    assert app.slider(key="learned_slider").value == 5 and app.button(key="learned_play").label == "Play"
    # Pause keeps the frame.
    app.slider(key="learned_slider").set_value(2).run()
    app.button(key="learned_play").click().run()
    app.button(key="learned_play").click().run()
    assert app.slider(key="learned_slider").value == 3 and app.button(key="learned_play").label == "Play"
    assert not app.exception


@pytest.mark.slow  # Feature maps' first run: 1.5 s.
def test_a_probe_digit_opens_on_feature_maps(replayed):
    version, arrays = replayed
    app = open_replay(version.id)
    app.selectbox(key="learned_probe").set_value(7).run()
    app.button(key="learned_open_probe").click().run()
    assert not app.exception
    assert app.title[0].value == "Feature maps"
    digit = app.session_state["current_digit"]
    assert digit.label == 7 and "probe digit a 7 from replayed" in digit.source
    np.testing.assert_allclose(digit.image, arrays["probes"][7], atol=1e-3)


def test_a_broken_snapshot_file_is_a_message_not_a_traceback(replayed):
    version, _ = replayed
    (version.path / SNAPSHOTS_FILE).write_bytes(b"not an archive")
    app = open_replay(version.id)
    assert not app.exception
    assert "cannot be shown" in shown_text(app)
