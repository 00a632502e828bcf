"""AppTests of the Lesson page: every step on the shipped model, `fast`, `lean` and a model without
convolutions, with words taken from each model's own layers; Back, Next and the step kept in the session."""

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.architecture import build_model
from model.runtime.preprocess import from_uint8
from model.store.registry import default_version, publish_version
from model.store.schemas import RunMetadata
from model.store.storage import load_model
from pages.ui.state import CURRENT_DIGIT, Digit
from tests.conftest import APP

STEPS = 8
MAX_WORDS = 80


def dense_only_model() -> keras.Model:
    """An uploaded-style classifier without convolutions."""
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="digits")(x)
    return keras.Model(inputs, outputs, name="dense_only")


def publish(model: keras.Model, version_id: str) -> str:
    return publish_version(model, RunMetadata(test_accuracy=0.5, created="2026-12-04T00:00:00"), version_id).id


def open_lesson(small_mnist, version_id: str | None = None, with_digit: bool = True) -> AppTest:
    _, (x_test, y_test) = small_mnist
    app = AppTest.from_file(APP, default_timeout=120)
    if version_id is not None:
        app.session_state["app_chosen_version"] = version_id
    if with_digit:
        app.session_state[CURRENT_DIGIT] = Digit(from_uint8(x_test[0]), "drawing", int(y_test[0]))
    app.run()
    return app.switch_page("pages/lesson.py").run()


def plain(text: str) -> str:
    """Text without the code spans around layer names."""
    return text.replace("`", "")


def step_text(app: AppTest) -> tuple[str, str]:
    """The step's explanation and its "try this", as shown (layer names in code spans, here taken out)."""
    (explanation,) = [plain(block.value) for block in app.markdown]
    (try_this,) = [plain(caption.value) for caption in app.caption if caption.value.startswith("**Try this:**")]
    assert "`conv1`" in app.markdown[0].value or "conv1" not in explanation
    return explanation, try_this


def walk(app: AppTest) -> dict[int, str]:
    """Every step Next reaches from the first, each checked to render alone and briefly: its words by step."""
    texts = {}
    while True:
        assert not app.exception, app.exception
        step = app.session_state["lesson_step"]
        assert app.subheader[0].value.startswith(f"{step + 1}. ")
        explanation, try_this = step_text(app)
        words = len(f"{explanation} {try_this}".split())
        assert words <= MAX_WORDS, (step, words, explanation)
        assert len(app.get("plotly_chart")) == 1, step
        texts[step] = explanation
        if app.button(key="lesson_next").disabled:
            return texts
        app.button(key="lesson_next").click().run()
        assert app.session_state["lesson_step"] > step


def size(shape) -> str:
    return " x ".join(str(int(number)) for number in shape)


def assert_words_match(model: keras.Model, texts: dict[int, str]) -> None:
    """The words of each step name the model's own layers and sizes (read here from Keras directly)."""
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    first = convolutions[0]
    assert f"{first.name} slides {first.filters} filters of {size(first.kernel_size)} weights" in texts[1]
    assert f"one map of {size(first.output.shape[1:3])}" in texts[1]
    pool = next(layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D))
    assert f"{pool.name} is max pooling" in texts[3] and f"each {size(pool.pool_size)} window" in texts[3]
    assert f"to {size(pool.output.shape[1:3])}" in texts[3]
    for deeper in convolutions[1:]:
        assert f"{deeper.name} ({deeper.filters} channels, {size(deeper.output.shape[1:3])})" in texts[4]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for hidden in dense[:-1]:
        assert f"{hidden.name}, a dense layer of {hidden.units} units with relu" in texts[5]
    assert f"{dense[-1].name}, a dense layer of 10" in texts[5]
    flatten = model.get_layer("flatten")
    assert f"one list of {flatten.output.shape[-1]}" in texts[5]
    assert f"The softmax of {dense[-1].name}" in texts[6]


# The fast loop walks `fast`; the whole suite every architecture.
@pytest.mark.parametrize(
    "architecture", ["fast", *(pytest.param(name, marks=pytest.mark.slow) for name in ("default", "lean", "original"))]
)
def test_every_step_renders_in_few_words_taken_from_the_models_layers(
    isolated_registry, small_mnist, small_mnist_file, architecture
):
    if architecture == "default":
        version_id, model = None, load_model(default_version().model_file)
    else:
        model = build_model(architecture, width=0.25)
        version_id = publish(model, f"{architecture}-version")
    app = open_lesson(small_mnist, version_id)
    texts = walk(app)
    assert sorted(texts) == list(range(STEPS))
    assert_words_match(model, texts)
    # ReLU: a layer of its own, after batch normalisation (default), or after pooling (fast, lean).
    where = {
        "default": "conv1_relu applies ReLU, max(0, x), to conv1's sums after conv1_norm",
        "fast": "pool1_relu applies ReLU, max(0, x), to conv1's sums after pool1:",
        "lean": "pool1_relu applies ReLU, max(0, x), to conv1's sums after pool1 and pool1_norm",
        "original": "conv1 applies ReLU, max(0, x), to conv1's own sums",
    }
    assert where[architecture] in texts[2]
    if architecture == "fast":
        assert "Its first layer, standardise, rescales them." in texts[0]
        assert "over standardise's output" in texts[1]
    else:
        assert "over the input" in texts[1] and "rescales" not in texts[0]
    assert ("plus its bias" if architecture in ("fast", "original") else "(no bias)") in texts[1]
    # From a drawing: the preprocessing is named.
    assert "cropped to its ink, scaled to fit 20 x 20 and centred" in texts[0]
    # Where it fails: the test set's mistakes (the app reads `small_mnist_file`), and the rotation.
    with np.load(small_mnist_file) as data:
        x_test, y_test = data["x_test"], data["y_test"]
    predictions = np.argmax(model.predict(from_uint8(x_test)[..., None], verbose=0), axis=1)
    wrong = int(np.sum(predictions != y_test))
    assert f"On the {len(y_test):,} test digits it is wrong {wrong} times" in texts[7]
    assert "Rotated 0°" in texts[7]


def test_a_model_without_convolutions_skips_the_steps_that_need_them(isolated_registry, small_mnist):
    app = open_lesson(small_mnist, publish(dense_only_model(), "dense-only"))
    texts = walk(app)
    # Back and Next go from step 1 straight to step 6.
    assert sorted(texts) == [0, 5, 6, 7]
    skipped = [plain(caption.value) for caption in app.caption if "does not apply" in caption.value]
    assert len(skipped) == 4
    assert skipped[0].startswith("Step 2, One convolution, does not apply: this model has no convolution layers")
    assert "flat list of 784 pixels" in skipped[0]
    assert any(caption.startswith("Step 4, Pooling, does not apply") for caption in skipped)
    assert "flat lays the 28 x 28 x 1 values out as one list of 784." in texts[5]
    assert "hidden, a dense layer of 32 units with relu" in texts[5] and "digits, a dense layer of 10" in texts[5]
    assert "The softmax of digits" in texts[6]
    app.button(key="lesson_back").click().run()
    assert app.session_state["lesson_step"] == 6
    # Picked by hand, a skipped step says why in one sentence, with no figure.
    app.selectbox(key="lesson_picker").set_value(2).run()
    assert not app.exception
    assert app.subheader[0].value == "3. ReLU"
    assert plain(app.info[0].value) == (
        "ReLU does not apply to this model: with no convolution there is no convolution's activation either."
    )
    assert not app.get("plotly_chart")
    app.button(key="lesson_back").click().run()
    assert app.session_state["lesson_step"] == 0


@pytest.mark.slow  # tests/model/analysis/test_lesson.py checks these facts in the fast loop.
def test_a_convolution_without_relu_and_with_average_pooling_is_told_as_it_is(isolated_registry, small_mnist):
    inputs = keras.Input((28, 28), name="pixels")
    x = keras.layers.Reshape((28, 28, 1), name="shaped")(inputs)
    x = keras.layers.Conv2D(4, 5, strides=2, padding="same", activation="tanh", name="edges")(x)
    x = keras.layers.AveragePooling2D(3, strides=1, name="smooth")(x)
    x = keras.layers.GlobalAveragePooling2D(name="summary")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="answer")(x)
    app = open_lesson(small_mnist, publish(keras.Model(inputs, outputs), "tanh-average"))
    texts = walk(app)
    assert sorted(texts) == [0, 1, 2, 3, 5, 6, 7]
    assert "a 28 x 28 grid" in texts[0]
    assert "edges slides 4 filters of 5 x 5 weights over shaped's output, 2 x 2 pixels at a time" in texts[1]
    assert "one map of 14 x 14" in texts[1] and "plus its bias" in texts[1]
    assert "This model's convolutions have no ReLU: edges applies tanh to edges's own sums" in texts[2]
    assert (
        "smooth is average pooling: it keeps the average value of each 3 x 3 window, moving 1 pixel at a time"
        in texts[3]
    )
    assert "from 14 x 14 to 12 x 12" in texts[3]
    assert "summary, a GlobalAveragePooling2D layer, makes one list of 4 numbers" in texts[5]
    assert any(caption.value == "Step 5, Deeper layers, does not apply: `edges` is this model's only convolution."
               for caption in app.caption)  # fmt: skip


def test_the_step_survives_another_page_and_back_moves(isolated_registry, small_mnist):
    app = open_lesson(small_mnist, publish(dense_only_model(), "dense-only"))
    assert app.button(key="lesson_back").disabled
    app.button(key="lesson_next").click().run()
    app.button(key="lesson_next").click().run()
    assert app.session_state["lesson_step"] == 6
    app.switch_page("pages/robustness.py").run()
    app.switch_page("pages/lesson.py").run()
    assert not app.exception
    assert app.subheader[0].value == "7. Softmax: how sure it is"
    app.select_slider(key="lesson_temperature").set_value(4.0).run()
    assert "temperature 4" in str(app.get("plotly_chart")[0].proto.spec)
    app.button(key="lesson_back").click().run()
    assert app.session_state["lesson_step"] == 5 and app.subheader[0].value == "6. Flatten and dense"


def test_in_public_mode_the_lesson_works_without_a_drawing(isolated_registry, small_mnist, monkeypatch):
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_lesson(small_mnist, with_digit=False)
    assert not app.exception
    index = app.session_state["lesson_test_index"]
    assert f"This is MNIST test image #{index}, already 28 x 28" in step_text(app)[0]
    app.selectbox(key="lesson_picker").set_value(1).run()
    app.slider(key="lesson_conv_row").set_value(0).run()
    app.slider(key="lesson_conv_column").set_value(0).run()
    assert not app.exception
    # The corner of the digit is black: every product is zero.
    assert "At row 0, column 0, filter 0 sums the 9 values under it times its weights: +0.00" in step_text(app)[0]


def test_an_empty_digit_or_missing_mnist_gives_a_message_not_a_traceback(
    isolated_registry, small_mnist, monkeypatch, tmp_path
):
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state[CURRENT_DIGIT] = Digit(np.zeros((28, 28), np.float32), "drawing")
    app.run()
    app.switch_page("pages/lesson.py").run()
    assert not app.exception
    assert app.info[0].value.startswith("Your digit is empty")
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    without = AppTest.from_file(APP, default_timeout=120).run().switch_page("pages/lesson.py").run()
    assert not without.exception
    assert any("Draw a digit on the Draw page first" in info.value for info in without.info)
    # With a digit but no MNIST, the last step still turns it, and says what is missing.
    drawn = open_lesson(small_mnist)
    drawn.selectbox(key="lesson_picker").set_value(7).run()
    assert not drawn.exception
    assert any("MNIST is not available" in warning.value for warning in drawn.warning)
    assert "Rotated 0°" in step_text(drawn)[0] and "test digits" not in step_text(drawn)[0]
