"""AppTest of the Draw page, with streamlit-drawable-canvas's browser part replaced by a stub."""

import base64
import contextlib
import importlib
import io
import sys
from unittest import mock

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from benchmarks.drawn_digits import render_drawn
from pages.ui.state import DrawSource
from tests.conftest import APP

TIMEOUT = 120


class CanvasStub:
    """Stands in for the browser side of streamlit-drawable-canvas, which AppTest cannot run: returns
    the component's state as the browser sends it for what the test put on the canvas (`image`:
    an opaque PNG of the strokes on black, as Fabric.js renders it), or a raw state (`state`, to
    forge what a hostile browser could send). The package's own Python (`st_canvas`,
    `CanvasResult`) runs unchanged."""

    def __init__(self):
        self.image = None
        self.state = None
        self.calls = []

    def component(self, *, data: dict, key: str, default: dict, **_) -> dict:
        self.calls.append({"key": key, **data})
        if self.state is not None:
            return {"drawing": self.state, "backgroundFit": None}
        if self.image is None:
            return default
        return {
            "drawing": {"raw": {"objects": [{"type": "Path"}], "background": "#000000"}, "data": data_url(self.image)}
        }


def data_url(image: np.ndarray) -> str:
    """An RGBA canvas as Fabric.js's PNG: the strokes over an opaque black background."""
    layer = Image.fromarray(image if image.ndim == 3 else np.stack([image] * 3 + [image], axis=-1))
    black = Image.new("RGBA", layer.size, (0, 0, 0, 255))
    return (
        "data:image/png;base64,"
        + base64.b64encode(png_bytes(np.asarray(Image.alpha_composite(black, layer.convert("RGBA"))))).decode()
    )


@contextlib.contextmanager
def stub_canvas():
    """The real streamlit_drawable_canvas module, imported with its component declared by a CanvasStub."""
    # Only the canvas's modules are put back afterwards: restoring all of `sys.modules` (patch.dict)
    # dropped what the pages imported meanwhile, and a later test's Plotly then refused shapes made
    # by classes of the dropped import ("Invalid element(s) received for the 'shapes' property").
    stub = CanvasStub()
    real = {name: sys.modules.pop(name) for name in list(sys.modules) if _canvas_module(name)}
    try:
        with mock.patch("streamlit.components.v2.component", return_value=stub.component):
            importlib.import_module("streamlit_drawable_canvas")
            yield stub
    finally:
        for name in [name for name in sys.modules if _canvas_module(name)]:
            del sys.modules[name]
        sys.modules.update(real)


def _canvas_module(name: str) -> bool:
    return name == "streamlit_drawable_canvas" or name.startswith("streamlit_drawable_canvas.")


@pytest.fixture()
def canvas(isolated_registry):
    with stub_canvas() as stub:
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
    assert current.image.shape == (28, 28) and current.source == "drawing"
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
    app.segmented_control(key="draw_source").set_value(DrawSource.UPLOAD).run()
    app.file_uploader(key="draw_upload").set_value(("scan.png", png_bytes(scan), "image/png")).run()
    assert not app.exception
    assert metric(app, "Prediction") == str(y_test[1])

    app.file_uploader(key="draw_upload").set_value(("broken.png", b"\x89PNG\r\n\x1a\nnope", "image/png")).run()
    assert not app.exception
    assert metric(app, "Prediction") == "–"
    assert any("Could not use `broken.png`" in error.value for error in app.error)


def test_a_random_test_image_shows_its_true_label(canvas):
    app = open_draw_page()
    app.segmented_control(key="draw_source").set_value(DrawSource.TEST_IMAGE).run()
    assert not app.exception
    assert metric(app, "Prediction") in {str(digit) for digit in range(10)}
    assert "MNIST test image #" in app.session_state["current_digit"].source
    assert any("True label" in block.value for block in [*app.success, *app.error])


def test_the_canvas_draws_white_on_black_at_the_slider_s_width_and_returns_its_png(canvas):
    app = open_draw_page()
    assert not app.exception
    drawn = canvas.calls[-1]
    assert drawn["key"] == "draw_canvas" and drawn["drawingMode"] == "freedraw" and drawn["returnImageData"]
    assert (drawn["strokeColor"], drawn["backgroundColor"]) == ("#FFFFFF", "#000000")
    assert (drawn["canvasWidth"], drawn["canvasHeight"]) == (280, 280)
    app.slider(key="draw_stroke").set_value(30).run()
    assert canvas.calls[-1]["strokeWidth"] == 30


def test_each_drawing_is_predicted_once_and_clear_and_undo_follow_the_canvas(canvas, small_mnist):
    from model.runtime.forward_worker import Routed

    _, (x_test, y_test) = small_mnist
    first, second = (drawn_canvas(x_test[index], seed=index) for index in (0, 1))
    assert y_test[0] != y_test[1]
    with mock.patch.object(
        Routed, "probabilities_of_image", autospec=True, side_effect=Routed.probabilities_of_image
    ) as spy:
        canvas.image = first
        app = open_draw_page()
        assert metric(app, "Prediction") == str(y_test[0])
        predictions = spy.call_count
        # Another stroke width: the same drawing, no new prediction.
        app.slider(key="draw_stroke").set_value(30).run()
        assert metric(app, "Prediction") == str(y_test[0]) and spy.call_count == predictions
        canvas.image = second
        app.slider(key="draw_stroke").set_value(25).run()
        assert metric(app, "Prediction") == str(y_test[1]) and spy.call_count == predictions + 1
    # The toolbar's bin: no objects, a black PNG. The prediction empties.
    canvas.state = {"raw": {"objects": [], "background": "#000000"}, "data": data_url(np.zeros((280, 280), np.uint8))}
    app.run()
    assert not app.exception and metric(app, "Prediction") == "–"
    assert any("Draw a digit" in info.value for info in app.info)
    # Undo after a stroke: the canvas sends the earlier drawing again, and that is what is predicted.
    canvas.state, canvas.image = None, first
    app.run()
    assert metric(app, "Prediction") == str(y_test[0])


def test_a_drawing_is_still_on_the_canvas_after_a_trip_to_another_page(canvas, small_mnist):
    _, (x_test, y_test) = small_mnist
    canvas.image = drawn_canvas(x_test[0], seed=1)
    app = open_draw_page()
    assert metric(app, "Prediction") == str(y_test[0])
    app.switch_page("pages/feature_maps.py").run()
    # Back on Draw the canvas is mounted afresh: it shows the drawing it is given, and sends
    # nothing until the next stroke.
    canvas.image = None
    app.switch_page("pages/draw.py").run()
    assert not app.exception
    assert canvas.calls[-1]["initialDrawing"]["objects"] == [{"type": "Path"}]
    assert metric(app, "Prediction") == str(y_test[0])
    # The drawing from before is now the canvas's starting point (its bin goes back to it): a
    # button empties the canvas (seen in the public-mode walk: the bin no longer cleared it).
    app.button(key="draw_new").click().run()
    assert not app.exception
    assert canvas.calls[-1]["initialDrawing"]["objects"] == [] and metric(app, "Prediction") == "–"
    # Cleared, it stays cleared after the next trip.
    app.switch_page("pages/feature_maps.py").run()
    app.switch_page("pages/draw.py").run()
    assert canvas.calls[-1]["initialDrawing"]["objects"] == [] and metric(app, "Prediction") == "–"
    assert "draw_new" not in [button.key for button in app.button]


@pytest.mark.parametrize(
    "state",
    [
        "a string",
        {"raw": ["objects"], "data": None},
        {"raw": {"objects": [{}]}, "data": 42},
        {"raw": {"objects": [{}]}, "data": "data:image/png;base64,not base64!"},
        {"raw": {"objects": [{}]}, "data": "data:image/png;base64," + base64.b64encode(b"not a png").decode()},
    ],
)
def test_what_no_canvas_sends_gets_one_message_and_the_next_drawing_is_predicted(canvas, small_mnist, state):
    _, (x_test, y_test) = small_mnist
    canvas.state = state
    app = open_draw_page()
    assert not app.exception and metric(app, "Prediction") == "–"
    messages = [item.value for item in (*app.error, *app.warning)]
    assert len(messages) == 1 and ("canvas sent" in messages[0] or "cannot be read" in messages[0])
    canvas.state, canvas.image = None, drawn_canvas(x_test[0], seed=1)
    app.run()
    assert not app.exception and metric(app, "Prediction") == str(y_test[0])
