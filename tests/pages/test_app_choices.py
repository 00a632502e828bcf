"""A visitor's choices outlive visits to other pages (issue 30, item 5), through AppTest sessions.

Streamlit forgets a widget's value when a run does not draw the widget: before, leaving a page and
coming back reset its toggles, pickers and methods.
"""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.runtime.preprocess import from_uint8
from pages.ui.state import CURRENT_DIGIT, Digit
from tests.conftest import APP


def there_and_back(app: AppTest, page: str) -> AppTest:
    app.switch_page("pages/home.py").run()
    app.switch_page("pages/draw.py").run()
    return app.switch_page(page).run()


@pytest.mark.parametrize(
    "page, kind, key, value",
    [
        ("pages/confusion_matrix.py", "toggle", "confusion_normalised", True),
        pytest.param("pages/confusion_matrix.py", "selectbox", "confusion_true", 4, marks=pytest.mark.slow),
        pytest.param("pages/feature_maps.py", "radio", "feature_method", "Saliency", marks=pytest.mark.slow),
        pytest.param("pages/feature_maps.py", "toggle", "feature_order", True, marks=pytest.mark.slow),
        pytest.param("pages/robustness.py", "selectbox", "robust_kind", "shift", marks=pytest.mark.slow),
    ],
)
def test_a_choice_survives_a_visit_to_other_pages(page, kind, key, value, isolated_registry, mnist):
    _, (x_test, _) = mnist
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.session_state[CURRENT_DIGIT] = Digit(from_uint8(x_test[0]), "MNIST test image #0", 7)
    app.switch_page(page).run()
    widget = getattr(app, kind)(key=key)
    assert widget.value != value
    widget.set_value(value).run()
    there_and_back(app, page)
    assert not app.exception
    assert getattr(app, kind)(key=key).value == value


@pytest.mark.slow  # 4.4 s with its MNIST-wide setup.
def test_the_cell_sent_to_the_digit_map_is_the_cell_chosen_after_a_trip(
    warm_registry, small_mnist_app, mnist, shipped_model
):
    """After leaving and coming back, "Show these on the digit map" ringed 9 -> 4 instead of 4 -> 9."""
    # A cell the shipped model has mistakes in, among the test digits the app reads here (the first 1,000).
    _, (x_test, y_test) = mnist
    x_test, y_test = x_test[:1000], y_test[:1000]
    predicted = np.argmax(shipped_model.predict(x_test[..., None] / 255.0, verbose=0), axis=1)
    wrong = int(np.flatnonzero(predicted != y_test)[0])
    cell = (int(y_test[wrong]), int(predicted[wrong]))
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.switch_page("pages/confusion_matrix.py").run()
    app.selectbox(key="confusion_true").set_value(cell[0]).run()
    app.selectbox(key="confusion_predicted").set_value(cell[1]).run()
    there_and_back(app, "pages/confusion_matrix.py")
    assert (app.selectbox(key="confusion_true").value, app.selectbox(key="confusion_predicted").value) == cell
    app.button(key="confusion_on_map").click()
    # The Digit map computes its map on the click; only the cell it was sent matters here.
    app.run(timeout=300)
    assert app.session_state["map_cell"] == cell


def test_training_settings_survive_a_visit_to_other_pages(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.switch_page("pages/retrain.py").run()
    app.selectbox(key="retrain_preset").set_value("fast").run()
    app.number_input(key="retrain_fast_epochs").set_value(3).run()
    app.toggle(key="retrain_fast_augment").set_value(True).run()
    there_and_back(app, "pages/retrain.py")
    assert not app.exception
    assert app.selectbox(key="retrain_preset").value == "fast"
    assert app.number_input(key="retrain_fast_epochs").value == 3
    assert app.toggle(key="retrain_fast_augment").value is True


def test_after_a_reload_mid_run_the_sidebar_shows_the_running_run_s_settings(isolated_registry, monkeypatch):
    """A reload is a new session: its sidebar showed the first preset's settings while another run trained."""
    from model.store.schemas import JobStatus
    from training.config import preset
    from training.jobs import JobRunner

    running = preset("fast").replace(epochs=3, seed=7)
    status = JobStatus(state="running", job="1", kind="train", preset="custom", config=running.to_dict())
    monkeypatch.setattr(JobRunner, "status", lambda self: status)
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.switch_page("pages/retrain.py").run()
    assert not app.exception
    assert app.selectbox(key="retrain_preset").value == "fast"
    assert app.number_input(key="retrain_fast_epochs").value == 3
    assert app.number_input(key="retrain_fast_seed").value == 7
    # The visitor's own changes are theirs from then on.
    app.number_input(key="retrain_fast_epochs").set_value(2).run()
    assert app.number_input(key="retrain_fast_epochs").value == 2


def test_a_finished_run_whose_version_was_deleted_says_so(isolated_registry, monkeypatch):
    """Issue 30, item 9: after Delete, the panel still said "Saved as version X"."""
    from model.store.schemas import JobStatus
    from training.config import preset
    from training.jobs import JobRunner

    status = JobStatus(
        state="finished",
        job="1",
        config=preset("quick").to_dict(),
        version="gone-version",
        test_accuracy=0.99,
        message="Saved as version gone-version.",
    )
    monkeypatch.setattr(JobRunner, "status", lambda self: status)
    app = AppTest.from_file(APP, default_timeout=180).run()
    app.switch_page("pages/retrain.py").run()
    assert not app.exception
    assert not [block for block in app.success if "Saved as version gone-version" in block.value]
    assert [block for block in app.info if "gone-version, has been deleted since" in block.value]
