"""The Retrain page's live view of a running job: its latest snapshot, through AppTest."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.architecture import build_model
from model.runtime.preprocess import from_uint8
from model.store.registry import registry_dir
from model.store.schemas import JobStatus
from tests.conftest import APP
from training.config import preset
from training.job_folder import JobFolder
from training.jobs import JobRunner
from training.snapshots import recorder_for


@pytest.fixture()
def running(isolated_registry, small_mnist, monkeypatch):
    """A job that says it trains (its status only), and the live frames a real recorder sent for it."""
    status = JobStatus(state="running", job="live-1", kind="train", preset="fast", config=preset("fast").to_dict())
    monkeypatch.setattr(JobRunner, "status", lambda self: status)
    _, (x_test, y_test) = small_mnist
    sent = []
    recorder = recorder_for((x_test, y_test), from_uint8(x_test[0]), sent.append)
    recorder.live_every = 0.0
    recorder.set_model(build_model("fast", width=0.25))
    recorder.planned = {0, 3, 5}
    recorder.on_train_begin()
    for batch in range(3):
        recorder.on_train_batch_end(batch)
    JobFolder(registry_dir()).write_live("live-1", sent[-1])
    return status, sent[-1]


def open_retrain() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120).run()
    return app.switch_page("pages/retrain.py").run()


def test_a_running_job_shows_its_latest_snapshot(running):
    _, frame = running
    app = open_retrain()
    assert not app.exception
    text = " ".join(block.value for block in [*app.markdown, *app.caption])
    assert "The network so far" in text and "after step 3 of 5 (60% of the run)" in text
    accuracy = next(metric for metric in app.metric if metric.label.startswith("Accuracy"))
    assert accuracy.value == f"{float(frame['subset_accuracy']):.1%}"
    # The filters and the probe digits: one of each class, then the drawing.
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert any('"a 0"' in spec and '"your drawing"' in spec for spec in specs)
    count, height, width = frame["filters"].shape
    assert f"{count} filters of {height} x {width} weights" in text and "How it learned replays" in text


def test_before_its_first_snapshot_or_with_a_broken_one_the_run_says_it_is_coming(running):
    JobFolder(registry_dir()).live_file.write_bytes(b"broken")
    app = open_retrain()
    assert not app.exception
    assert any("first snapshot appears here" in caption.value for caption in app.caption)
    assert not [metric for metric in app.metric if metric.label.startswith("Accuracy")]
    np.testing.assert_equal(JobRunner().live(running[0]), None)


def test_a_run_on_ray_says_so(running, monkeypatch):
    """Issue 33, item 2: with RAY_ADDRESS set, runs train in a Ray actor; the page says where."""
    status, _ = running
    assert not any("on the Ray cluster" in block.value for block in open_retrain().markdown)
    monkeypatch.setattr(JobRunner, "status", lambda self: status.replace(ray_actor="training-live-1"))
    assert any("on the Ray cluster" in block.value for block in open_retrain().markdown)
