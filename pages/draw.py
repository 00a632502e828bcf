"""Draw: draw, upload or pick a digit, and see the prediction and the preprocessing behind it."""

import hashlib

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from model.analysis.confidence import with_article
from model.runtime.inference import Predictor
from model.runtime.preprocess import PreprocessResult, TooLittleInk, naive_resize, preprocess_digit, read_image
from model.store.registry import ModelVersion
from pages.ui.common import as_code_span, carry_out, how_sure_in_words
from pages.ui.data import mnist_test_set
from pages.ui.digit_check import check_digit, show_digit_check
from pages.ui.figures.images import square_thumbnail
from pages.ui.figures.predictions import probability_bars
from pages.ui.models import chosen_model
from pages.ui.routing import guarded
from pages.ui.state import DrawSource, digit_store, set_current_digit

# The canvas is 280x280 CSS pixels: ten times MNIST's 28, small enough for a phone.
CANVAS_SIDE = 280
# The last drawing (the canvas's JSON and PNG), and the one a canvas mounted by this page run starts
# with: it stays the same while strokes rerun only the workspace, so the canvas is not redrawn.
LAST_DRAWING = "draw_last_drawing"
RESTORED = "draw_restored_drawing"
# The probability chart is drawn anew on every stroke (its element changes with its data):
# a fixed width and no mode bar make that cheaper for the browser.
CHART = {"width": 460, "config": {"displayModeBar": False}}
# Each preprocessing step is shown this many pixels wide.
STEP_SIDE = 160


def choose_input(source: DrawSource) -> tuple[np.ndarray | None, int | None, str | None]:
    """The input widgets of the chosen source; returns (image or None, true label or None, where it came from)."""
    if source is DrawSource.DRAW:
        stroke = st.slider(
            "Stroke width", 5, 40, 22, key="draw_stroke", help="MNIST strokes are about a tenth of the digit's height."
        )
        # Room for the canvas's toolbar, which shows above it.
        st.space(16)
        try:
            drawing = draw_on_canvas(stroke)
        except ValueError as error:
            st.error(str(error))
            drawing = None
        st.caption(
            "Draw with the mouse or a finger; it predicts when you lift the pen. "
            "Point at the canvas for its toolbar: undo, redo and clear (the bin)."
        )
        return drawing, None, "drawing"
    if source is DrawSource.UPLOAD:
        upload = st.file_uploader(
            "A photo or scan of one digit (PNG, JPEG or BMP)", type=["png", "jpg", "jpeg", "bmp"], key="draw_upload"
        )
        if upload is None:
            return None, None, None
        try:
            return read_image(upload.getvalue()), None, f"upload {as_code_span(upload.name)}"
        except ValueError as error:
            st.error(f"Could not use {as_code_span(upload.name)}: {error}")
            return None, None, None
    test_set = mnist_test_set()
    if test_set is None:
        return None, None, None
    x_test, y_test = test_set
    if st.button("Another random test image", key="draw_random") or "draw_test_index" not in st.session_state:
        st.session_state.draw_test_index = int(np.random.default_rng().integers(len(x_test)))
    index = st.session_state.draw_test_index
    origin = f"MNIST test image #{index}"
    st.image(x_test[index], caption=f"{origin}, labelled {int(y_test[index])}", width=200)
    return x_test[index], int(y_test[index]), origin


def draw_on_canvas(stroke_width: int) -> np.ndarray | None:
    """The canvas; returns the drawing as RGBA pixels (white ink on black), or None while it is empty.

    The last drawing is kept in the session: a canvas mounted afresh (after another page, or
    another input) shows it again, and until its next stroke it is what the canvas holds. It is
    then the canvas's starting point, which its bin goes back to, so a button empties it.
    Raises ValueError when the browser sent something that the canvas never sends.
    """
    try:
        canvas = st_canvas(
            stroke_width=stroke_width,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIDE,
            width=CANVAS_SIDE,
            initial_drawing=st.session_state.get(RESTORED),
            return_image_data=True,
            key="draw_canvas",
        )
        if st.session_state.get(RESTORED) and st.button(
            "Start a new drawing",
            key="draw_new",
            help="The drawing from before is the canvas's starting point: its bin goes back to it. This empties it.",
        ):
            st.session_state.pop(LAST_DRAWING, None)
            st.rerun(scope="app")
        if not canvas.json_data["objects"]:
            st.session_state.pop(LAST_DRAWING, None)
            return None
        png = canvas.image_bytes
        if png is None:
            # Strokes but no picture: the kept drawing, shown again and not sent back yet.
            png = st.session_state.get(LAST_DRAWING, (None, None))[1]
            return None if png is None else read_image(png)
        image = read_image(png)
        # Kept once it has been read: a forged picture is never shown again.
        st.session_state[LAST_DRAWING] = (canvas.json_data, png)
        return image
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError("The canvas sent something other than a drawing; clear it and draw again.") from error


def show_prediction(probabilities: np.ndarray | None, label: int | None, in_words: bool = True) -> None:
    """The prediction, its confidence, the runner-up, how sure it is in words (unless `in_words` is
    False: for an input that does not look like a digit, the warning says it) and all ten
    probabilities; dashes and an empty chart while there is no digit (which also loads their code
    in the browser before the first stroke)."""
    columns = st.columns(3)
    if probabilities is None:
        for column, name in zip(columns, ("Prediction", "Confidence", "Runner-up")):
            column.metric(name, "–")
        st.plotly_chart(probability_bars(np.zeros(10)), key="draw_probabilities", **CHART)
        return
    digit = int(np.argmax(probabilities))
    columns[0].metric("Prediction", digit)
    columns[1].metric("Confidence", f"{probabilities[digit]:.1%}")
    runner_up = int(np.argsort(probabilities)[-2])
    columns[2].metric("Runner-up", f"{runner_up} ({probabilities[runner_up]:.1%})")
    if in_words:
        st.caption(how_sure_in_words(probabilities))
    if label is not None:
        (st.success if label == digit else st.error)(f"True label: {label}")
    st.plotly_chart(probability_bars(probabilities), key="draw_probabilities", **CHART)


def show_preprocessing(result: PreprocessResult | None) -> None:
    """MNIST's recipe step by step on the input; blank squares until there is a digit."""
    st.subheader("What the network sees")
    st.caption(
        "MNIST digits were scaled so their longer side fits a 20x20 box, then centred by centre of mass "
        "in 28x28. Your input gets the same treatment, step by step."
    )
    captions = {
        "input": "your input",
        "cropped": "cropped to the ink",
        "scaled": "scaled into 20x20",
        "centred": "centred in 28x28 (the network's input)",
    }
    steps = result.steps if result is not None else dict.fromkeys(captions, np.zeros((28, 28), np.float32))
    for column, (name, step) in zip(st.columns(4), steps.items()):
        column.image(square_thumbnail(step, STEP_SIDE), caption=captions[name], width=STEP_SIDE)


def show_naive_resize(image: np.ndarray, predictor: Predictor) -> None:
    naive = naive_resize(image)
    naive_probabilities = predictor.probabilities_of_image(naive)
    naive_digit = int(np.argmax(naive_probabilities))
    st.caption(
        "The original app squeezed the whole canvas into 28x28: the digit lands small, off-centre "
        "and with the wrong stroke width, unlike anything in MNIST."
    )
    first, second = st.columns([1, 3])
    first.image(naive, caption="naive 28x28", width=160, clamp=True)
    first.metric(
        "Naive prediction",
        naive_digit,
        f"{naive_probabilities[naive_digit]:.1%} sure",
        delta_color="off",
        delta_arrow="off",
    )
    second.plotly_chart(probability_bars(naive_probabilities, "Naive resize"), key="draw_naive_probabilities")


def keep_row(model_input: np.ndarray, raw: np.ndarray, predicted: int) -> None:
    """Keeps the digit as one of the visitor's own, labelled with the prediction unless corrected."""
    columns = st.columns([1, 2], vertical_alignment="bottom")
    # The key follows the prediction, so the label starts at each new prediction.
    label = columns[0].selectbox("It is a", range(10), index=predicted, key=f"draw_keep_label_{predicted}")
    if columns[1].button("Keep as one of my digits", key="draw_keep", help="The My digits page lists them."):
        store = digit_store()
        carry_out(
            lambda: store.add(model_input, int(label), raw),
            lambda _: f"Kept as {with_article(label)}: {store.count()} of your digits.",
            "dataset folder",
            failed="It could not be kept",
            rerun=False,
        )


def understood(
    image: np.ndarray, version: ModelVersion, predictor: Predictor
) -> tuple[PreprocessResult | None, np.ndarray | None]:
    """The preprocessing and the ten probabilities of `image`, computed once per input and version:
    a rerun for anything else (the stroke width, the comparison toggle) reuses them."""
    key = (version.cache_key, image.shape, hashlib.blake2b(image.tobytes(), digest_size=16).digest())
    last = st.session_state.get("draw_understood")
    if last is None or last[0] != key:
        result = preprocess_digit(image)
        probabilities = None if result is None else predictor.probabilities_of_image(result.model_input)
        last = st.session_state["draw_understood"] = (key, result, probabilities)
    return last[1], last[2]


@st.fragment
@guarded()
def workspace(source: DrawSource, version: ModelVersion, predictor: Predictor) -> None:
    """The input and everything computed from it: a stroke reruns only this part of the page."""
    left, right = st.columns([1, 1.3], gap="large")
    with left:
        image, label, origin = choose_input(source)
    result, probabilities, problem = None, None, None
    try:
        result, probabilities = understood(image, version, predictor) if image is not None else (None, None)
    except TooLittleInk as error:
        crop = "Too little ink for a digit here: crop the image closer to the digit."
        problem = str(error) if source is DrawSource.DRAW else crop
    except ValueError as error:
        problem = f"This image cannot be read as a digit: {error}"
    with right:
        if result is None:
            # One message: what is wrong, or what to do first.
            if problem:
                st.warning(problem)
            elif source is DrawSource.DRAW:
                st.info("Draw a digit on the black canvas to see what the network thinks it is.")
            elif image is not None:
                st.info("No digit found in this image: it looks empty. Try one with a darker or lighter digit.")
            show_prediction(None, None)
        else:
            set_current_digit(result.model_input, origin, label)
            check = check_digit(version, predictor.model, result.model_input, predictor.summaries)
            show_digit_check(check, int(np.argmax(probabilities)))
            show_prediction(probabilities, label, in_words=not check.unlike_digits)
            if source is not DrawSource.TEST_IMAGE:
                keep_row(result.model_input, image, int(np.argmax(probabilities)))
    # Shown, blank, before the first digit too: the page keeps its layout, and the browser
    # has loaded the code of every element before the first stroke.
    show_preprocessing(result)
    compare = st.toggle("Compare with the naive whole-image resize", key="draw_naive", disabled=result is None)
    if compare and result is not None:
        show_naive_resize(image, predictor)


st.title("Draw a digit")
version, predictor = chosen_model(__file__)
st.session_state[RESTORED] = st.session_state.get(LAST_DRAWING, (None, None))[0]

# Other pages can choose the input (a test image sent from the Confusion matrix page).
st.session_state.setdefault("draw_source", DrawSource.DRAW)
source = (
    st.segmented_control("Input", list(DrawSource), format_func=lambda choice: choice.value, key="draw_source")
    or DrawSource.DRAW
)
workspace(source, version, predictor)
