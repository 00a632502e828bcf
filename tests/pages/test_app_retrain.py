"""AppTest of the Retrain page: the sidebar settings, a real background run, versions."""

import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.store.registry import DEFAULT_ID, active_version, get_version, list_versions
from model.store.snapshots import read_snapshots
from pages.ui.state import Digit
from tests.conftest import APP
from tests.training.test_jobs import SLOW
from training.config import preset
from training.jobs import JobRunner
from training.sweep_plan import MAX_TEXT

pytestmark = pytest.mark.slow


@pytest.fixture()
def page(isolated_registry, mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.switch_page("pages/retrain.py").run()
    assert not app.exception
    yield app
    runner = JobRunner()
    if runner.is_running():
        runner.cancel(wait=5)


def test_invalid_settings_are_refused_before_anything_starts(page):
    page.number_input(key="retrain_quick_epochs").set_value(0).run()
    assert any("epochs must be" in error.value for error in page.sidebar.error)
    page.button(key="retrain_start").click().run()
    assert any("nothing was started" in error.value for error in page.sidebar.error)
    assert JobRunner().status() is None
    page.number_input(key="retrain_quick_epochs").set_value(1).run()
    page.number_input(key="retrain_quick_lr").set_value(0.0).run()
    assert any("learning_rate must be" in error.value for error in page.sidebar.error)


def test_the_sweep_s_value_boxes_take_a_few_values_only(page):
    page.multiselect(key="retrain_sweep_settings").set_value(["learning_rate", "batch_size"]).run()
    for name in ("learning_rate", "batch_size"):
        assert page.text_input(key=f"retrain_sweep_{name}").max_chars == MAX_TEXT
    page.text_input(key="retrain_sweep_batch_size").set_value("1e999").run()
    assert not page.exception
    assert any("batch_size" in warning.value for warning in page.warning)
    assert page.button(key="retrain_sweep_start").disabled


def test_a_run_from_the_sidebar_becomes_a_version_to_activate_compare_and_delete(page):
    # The visitor's drawing is watched with the probe digits.
    drawing = np.zeros((28, 28), np.float32)
    drawing[4:24, 12:16] = 1.0
    page.session_state["current_digit"] = Digit(drawing, "your drawing")
    page.number_input(key="retrain_quick_epochs").set_value(1).run()
    page.number_input(key="retrain_quick_train_size").set_value(300).run()
    page.select_slider(key="retrain_quick_width").set_value(0.25).run()
    page.button(key="retrain_start").click().run()
    assert not page.exception
    runner = JobRunner()
    deadline = time.monotonic() + 240
    while runner.status().state != "finished" and time.monotonic() < deadline:
        assert runner.status().is_active, runner.status()
        time.sleep(0.5)
    new_id = runner.status().version
    snapshots = read_snapshots(get_version(new_id).path)
    assert snapshots["probe_labels"][-1] == -1
    np.testing.assert_allclose(snapshots["probes"][-1], drawing, atol=1e-3)

    page.run()
    assert not page.exception
    assert any("Finished" in success.value for success in page.success)
    assert new_id in page.selectbox(key="retrain_version").options
    page.selectbox(key="retrain_version").set_value(new_id).run()
    page.button(key="retrain_activate").click().run()
    assert active_version().id == new_id
    # The comparison of the two versions renders: per-class bars and the confusion difference.
    assert not page.exception
    assert len([m for m in page.metric if "test accuracy" in m.label]) == 2

    page.selectbox(key="retrain_version").set_value(new_id).run()
    page.button(key="retrain_delete").click().run()
    assert not page.exception
    assert [version.id for version in list_versions()] == [DEFAULT_ID]
    assert active_version().id == DEFAULT_ID


def test_a_second_start_is_refused_and_the_running_job_shown(page):
    runner = JobRunner()
    runner.start(SLOW)
    page.button(key="retrain_start").click().run()
    assert any("in progress already" in warning.value for warning in page.sidebar.warning)
    assert any(button.key == "retrain_cancel" for button in page.button)
    page.button(key="retrain_cancel").click().run()
    assert runner.status().state == "cancelled"


def test_augmentation_settings_reach_the_run(page):
    page.toggle(key="retrain_quick_augment").set_value(True).run()
    page.slider(key="retrain_quick_elastic").set_value(1.5).run()
    page.slider(key="retrain_quick_rotation").set_value(12.0).run()
    assert not page.exception and not page.sidebar.error
    page.button(key="retrain_start").click().run()
    settings = JobRunner().status().config
    assert (settings["elastic"], settings["rotation"]) == (1.5, 12.0)
    page.toggle(key="retrain_quick_augment").set_value(False).run()
    assert not page.exception


def test_the_augmentation_preview_says_when_nothing_is_augmented(page):
    """The public-mode walk: with no augmentation both rows were the same under a caption about
    how "the chosen augmentation changes them"."""
    captions = lambda: " ".join(caption.value for caption in page.caption)  # noqa: E731
    assert "do not augment, so both rows are the same" in captions()
    page.toggle(key="retrain_quick_augment").set_value(True).run()
    assert "as the chosen augmentation changes them" in captions() and "do not augment" not in captions()


def test_each_preset_shows_its_measured_time_and_accuracy(page):
    for name in ("fast", "quick", "strong", "standard", "original"):
        page.selectbox(key="retrain_preset").set_value(name).run()
        captions = " ".join(caption.value for caption in page.sidebar.caption)
        assert "Measured on 2 CPU cores:" in captions and "%" in captions, name


def test_a_sweep_from_the_page_runs_on_ray_and_a_finished_trial_becomes_a_version(page):
    page.number_input(key="retrain_quick_epochs").set_value(1).run()
    page.number_input(key="retrain_quick_train_size").set_value(1000).run()
    page.select_slider(key="retrain_quick_width").set_value(0.25).run()
    page.multiselect(key="retrain_sweep_settings").set_value(["learning_rate"]).run()
    page.text_input(key="retrain_sweep_learning_rate").set_value("0.01, fast").run()
    assert any("'fast' is not a float" in warning.value for warning in page.warning)
    assert page.button(key="retrain_sweep_start").disabled
    page.text_input(key="retrain_sweep_learning_rate").set_value("0.01, 0.003").run()
    assert any("2 trials of at most 1 epoch each" in caption.value for caption in page.caption)
    page.button(key="retrain_sweep_start").click().run()
    assert not page.exception
    runner = JobRunner()
    deadline = time.monotonic() + 240
    while runner.status().is_active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runner.status().state == "finished", runner.status().message

    page.run()
    assert not page.exception
    assert any("2 of 2 trials finished" in success.value for success in page.success)
    table = page.dataframe[0].value
    assert list(table["learning_rate"]) == ["0.01", "0.003"] and set(table["state"]) == {"finished"}
    page.selectbox(key="retrain_sweep_keep_choice").set_value(1).run()
    page.button(key="retrain_sweep_keep").click().run()
    assert not page.exception
    kept = runner.status().trials[1]["version"]
    assert kept in [version.id for version in list_versions()]
    assert get_version(kept).metadata.config["learning_rate"] == 0.003


def test_weight_averaging_starts_at_the_preset_s_and_reaches_the_run(page):
    page.selectbox(key="retrain_preset").set_value("strong").run()
    assert page.select_slider(key="retrain_strong_weight_average").value == preset("strong").weight_average > 0
    page.selectbox(key="retrain_preset").set_value("quick").run()
    averaging = page.select_slider(key="retrain_quick_weight_average")
    assert averaging.value == 0.0 and "off" in averaging.options
    averaging.set_value(0.995).run()
    assert not page.exception and not page.sidebar.error
    page.button(key="retrain_start").click().run()
    assert JobRunner().status().config["weight_average"] == 0.995
