"""AppTest of the warning for inputs unlike any digit (pages/ui/digit_check.py) on Draw and Feature maps."""

import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks.not_digits import not_digits
from model.analysis import novelty
from model.architecture import build_model
from model.runtime.preprocess import preprocess_digit
from model.store.registry import default_version, publish_version
from model.store.schemas import RunMetadata
from pages.ui.digit_check import _fitting
from tests.conftest import APP, write_npz
from tests.pages.test_app_draw import TIMEOUT, drawn_canvas, metric, open_draw_page, stub_canvas

WARNING = "does not look like a digit"
PREPARING = "being prepared"


@pytest.fixture()
def canvas(isolated_registry):
    # References the server fitted for earlier tests are forgotten: this test's own is on disk.
    _fitting.clear()
    with stub_canvas() as stub:
        yield stub
    _fitting.clear()


def as_canvas(drawing: np.ndarray) -> np.ndarray:
    """A white-on-black drawing as the canvas's RGBA layer."""
    return np.stack([drawing] * 4, axis=-1)


@pytest.fixture()
def reference(shipped_model, mnist):
    """The shipped model's reference, fitted on 3,000 training digits and kept where the app looks."""
    (x_train, y_train), _ = mnist
    fitted = novelty.fit_reference(shipped_model, x_train[:3000], y_train[:3000])
    version = default_version()
    novelty.keep_reference(version.cache_folder, version.metadata.model_sha256, fitted)
    return fitted


def clearly(shipped_model, reference, drawings, unlike: bool) -> np.ndarray:
    """The first drawing the reference scores far from its threshold, on the side asked for."""
    for drawing in drawings:
        result = preprocess_digit(drawing)
        score = novelty.novelty(shipped_model, reference, result.model_input[None])[0]
        if (score > 1.5) if unlike else (score < 0.35):
            return drawing
    raise AssertionError("No drawing far enough from the threshold.")


def test_a_scribble_is_called_unlike_any_digit_and_a_drawn_digit_is_not(canvas, reference, shipped_model, mnist):
    _, (x_test, y_test) = mnist
    scribble = clearly(shipped_model, reference, (d for kind, _, d in not_digits(20) if kind == "scribble"), True)
    canvas.image = as_canvas(scribble)
    app = open_draw_page()
    assert not app.exception
    assert any(WARNING in warning.value for warning in app.warning)
    # The prediction is still shown: the warning says what it is worth, in place of "Sure it is a 4".
    assert metric(app, "Prediction") not in (None, "–")
    assert not any("Entropy" in caption.value for caption in app.caption)

    digits = (drawn_canvas(x_test[i], seed=i)[..., 0] for i in range(20))
    canvas.image = as_canvas(clearly(shipped_model, reference, digits, False))
    app.run()
    assert not app.exception and not any(WARNING in warning.value for warning in app.warning)
    assert any("Entropy" in caption.value for caption in app.caption)

    # Feature maps warns about the same current digit.
    canvas.image = as_canvas(scribble)
    app.run()
    app.switch_page("pages/feature_maps.py").run()
    assert not app.exception
    assert any(WARNING in warning.value for warning in app.warning)


@pytest.mark.slow
@pytest.mark.processes
def test_a_new_version_says_the_check_is_being_prepared_then_checks(
    canvas, isolated_registry, small_mnist, tmp_path, monkeypatch
):
    (x_train, y_train), (x_test, y_test) = small_mnist
    monkeypatch.setenv(
        "MNIST_PATH",
        str(write_npz(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)),
    )
    metadata = RunMetadata(test_accuracy=0.1, created="2026-12-03T00:00:00")
    version = publish_version(build_model("default", width=0.25), metadata, "tiny-version")
    canvas.image = as_canvas(next(d for kind, _, d in not_digits(1) if kind == "scribble"))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["app_chosen_version"] = version.id
    app.run()
    app.switch_page("pages/draw.py").run()
    assert not app.exception
    assert any(PREPARING in caption.value for caption in app.caption)
    # Fitted in the background (a child process): the page never waited for it.
    deadline = time.monotonic() + 120
    while any(PREPARING in caption.value for caption in app.caption) and time.monotonic() < deadline:
        time.sleep(1)
        app.run()
    assert not any(PREPARING in caption.value for caption in app.caption)
    assert novelty.kept_reference(version.cache_folder, version.metadata.model_sha256) is not None


STOPS_DURING_A_FIT = """
import sys, time
from pages.ui import digit_check

digit_check._fit = lambda version, mnist: time.sleep(120)
fitting = digit_check._Fitting()
with fitting.lock:
    future = fitting.submit(None, None)
while not future.running():
    time.sleep(0.01)
print("fitting", flush=True)
"""


@pytest.mark.slow
def test_a_fit_under_way_does_not_hold_up_the_server_s_stop():
    """Stopping a server waited for the digit check's fit to end (the browser tests' servers took
    20 s to stop): the interpreter joins a ThreadPoolExecutor's threads at exit."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-c", STOPS_DURING_A_FIT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "fitting" in done.stdout, done.stderr
