"""AppTest of the Draw page, with the canvas component replaced by a stub."""

import io
from unittest import mock

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from benchmarks.drawn_digits import render_drawn
from tests.conftest import APP

TIMEOUT = 120


class CanvasStub:
    """Stands in for pages.canvas.draw_canvas (a browser component): returns what the test put on the canvas."""

    def __init__(self):
        self.image = None

    def draw_canvas(self, stroke_width: int, key: str):
        assert 5 <= stroke_width <= 40 and key == "draw_canvas"
        return self.image


@pytest.fixture()
def canvas(isolated_registry):
    stub = CanvasStub()
    with mock.patch("pages.canvas.draw_canvas", stub.draw_canvas):
        yield stub


def open_draw_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    return app.switch_page("pages/draw.py").run()


def metric(app: AppTest, label: str):
    return next((m.value for m in app.metric if m.label == label), None)


def drawn_canvas(digit: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    while True:
        image = render_drawn(digit, rng)
        if image.ndim == 3:  # The canvas form: white strokes on a transparent layer.
            return image


def test_a_drawn_digit_is_predicted_and_shared(canvas, small_mnist):
    _, (x_test, y_test) = small_mnist
    canvas.image = drawn_canvas(x_test[0], seed=1)
    app = open_draw_page()
    assert not app.exception
    assert metric(app, "Prediction") == str(y_test[0])
    assert any("Entropy" in caption.value and " bits " in caption.value for caption in app.caption)
    current = app.session_state["current_digit"]
    assert current["image"].shape == (28, 28) and current["source"] == "drawing"
    assert len(app.get("plotly_chart")) == 1
    # The naive-resize comparison adds its own prediction.
    app.toggle(key="draw_naive").set_value(True).run()
    assert not app.exception and metric(app, "Naive prediction") is not None


def test_the_empty_canvas_gets_a_prompt_not_a_prediction(canvas):
    app = open_draw_page()
    assert not app.exception
    assert metric(app, "Prediction") == "–"
    assert any("Draw a digit" in info.value for info in app.info)
    assert "current_digit" not in app.session_state


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_good_upload_is_predicted_and_a_broken_one_explained(canvas, small_mnist):
    _, (x_test, y_test) = small_mnist
    scan = 255 - np.asarray(Image.fromarray(x_test[1]).resize((140, 140)))  # Dark ink on white paper.
    app = open_draw_page()
    app.segmented_control(key="draw_source").set_value("Upload an image").run()
    app.file_uploader(key="draw_upload").set_value(("scan.png", png_bytes(scan), "image/png")).run()
    assert not app.exception
    assert metric(app, "Prediction") == str(y_test[1])

    app.file_uploader(key="draw_upload").set_value(("broken.png", b"\x89PNG\r\n\x1a\nnope", "image/png")).run()
    assert not app.exception
    assert metric(app, "Prediction") == "–"
    assert any("Could not use `broken.png`" in error.value for error in app.error)


def test_a_random_test_image_shows_its_true_label(canvas, mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    app = open_draw_page()
    app.segmented_control(key="draw_source").set_value("MNIST test image").run()
    assert not app.exception
    assert metric(app, "Prediction") in {str(digit) for digit in range(10)}
    assert "MNIST test image #" in app.session_state["current_digit"]["source"]
    assert any("True label" in block.value for block in [*app.success, *app.error])
