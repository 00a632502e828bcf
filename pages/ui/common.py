"""Helpers shared by the pages: the active model (cached for all sessions), MNIST, the current digit, clicks."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
import streamlit as st

from model import settings
from model.analysis.evaluation import Evaluation, evaluation_from_probabilities
from model.architecture import layer_table
from model.runtime.forward_worker import Routed, shared_worker
from model.runtime.inference import MAX_ENTROPY, AnswersNotFinite, Predictor, confidence_in_words, entropy_bits, finite
from model.runtime.preprocess import from_uint8
from model.store.mnist import DOWNLOAD, DataError, Split, load_mnist, mnist_path
from model.store.my_digits import FolderStore, MemoryStore, dataset_dir
from model.store.registry import (
    DEFAULT_ID,
    ModelUnavailable,
    ModelVersion,
    active_id,
    clean_leftovers,
    list_versions,
    registry_dir,
)
from model.store.storage import ModelBroken, known_problem, load_model, remember_broken
from model.upload import MAX_BYTES as MAX_MODEL_BYTES
from pages.ui.access import may_manage, operator_sidebar, public_mode
from pages.ui.routing import ensure_routed

# How many MNIST test digits a version (other than the shipped one) must answer finitely when it loads.
PROBE_DIGITS = 32


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _predictor(cache_key: str, model_file: str, probe: bool) -> Routed:
    # Keyed by the version's cache key, so a new version loads afresh.
    predictor = Routed(Predictor(load_model(model_file), model_file=model_file), shared_worker())
    # Traced (and loaded in the forward worker) now, not on a visitor's first stroke.
    predictor.probabilities_one(np.zeros((28, 28), np.float32))
    if probe:
        _probe_on_digits(predictor)
    freeze_long_lived_objects()
    return predictor


def _probe_on_digits(predictor: Predictor) -> None:
    """Raises ModelBroken when the model answers infinity or NaN for real digits (when MNIST is here)."""
    local = mnist_path()
    if local is None:
        return
    try:
        _, (x_test, _) = _mnist(str(local))
    except DataError:
        return
    try:
        predictor.probabilities(from_uint8(x_test[:PROBE_DIGITS]))
    except AnswersNotFinite:
        raise ModelBroken("it answers with numbers that are not finite for MNIST test digits.") from None


def freeze_long_lived_objects() -> None:
    """Takes what exists now (TensorFlow, Keras, the loaded models) out of the garbage collector's scans.

    After every script run Streamlit collects garbage, and Keras's `clear_session` (which
    Streamlit calls when Keras is loaded) collects again: with TensorFlow in the process each
    full collection walks some 360,000 long-lived objects, about 170 ms here, twice per
    rerun. `gc.freeze` moves the objects alive now into a permanent generation that
    collections skip; reference counting still frees them.
    """
    gc.collect()
    gc.freeze()


def predictor_for(version: ModelVersion) -> Predictor:
    """The shared predictor of a model version, loaded once for all sessions.

    Raises ModelBroken, with the reason, for a version that cannot be used; the failure is
    remembered for the file as it is, so that later reruns do not load it again.
    """
    problem = version_problem(version)
    if problem:
        raise ModelBroken(problem)
    try:
        return _predictor(version.cache_key, str(version.model_file), not version.is_default)
    except ModelBroken as error:
        remember_broken(version.model_file, str(error))
        raise


class FallingBack:
    """A version's shared `Predictor` as a page uses it: when the model answers NaN or infinity for
    a digit (`AnswersNotFinite`), the version is remembered as broken and the app reruns, so the
    page shows the shipped model with the reason, as for a broken file. Everything else is the
    predictor's own."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.model = predictor.model
        self.model_file = predictor.model_file

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self._checked(self.predictor.probabilities, images)

    def probabilities_one(self, image: np.ndarray) -> np.ndarray:
        return self._checked(self.predictor.probabilities_one, image)

    def probabilities_apart(self, images: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        return self._checked(self.predictor.probabilities_apart, images, progress)

    def finite(self, probabilities: np.ndarray) -> np.ndarray:
        """Probabilities a page computed with the model itself (not through the predictor), checked
        the same way: returned when finite, else the version falls back."""
        return self._checked(finite, probabilities, self.model_file)

    def _checked(self, compute, *args) -> np.ndarray:
        try:
            return compute(*args)
        except AnswersNotFinite as error:
            self._fall_back(error)

    def _fall_back(self, error: AnswersNotFinite) -> NoReturn:
        if self.model_file is None:
            raise error
        remember_broken(self.model_file, str(error))
        logging.getLogger(__name__).warning("A model version answered NaN or infinity; it is shown as broken.")
        st.rerun()


def version_problem(version: ModelVersion) -> str:
    """Why a version cannot be used: its files' problem, or why Keras could not load or run it; "" when it can."""
    return version.problem or known_problem(version.model_file)


@st.cache_resource(show_spinner=False)
def _cleaned(registry: str) -> list[str]:
    # Once per server and registry: what a killed process left half written or half deleted.
    return clean_leftovers(registry)


# The version this session looks at, and the sidebar widget that chooses it.
CHOSEN = "app_chosen_version"
VERSION = "app_version"
# Heavy on-demand work (evaluating a version on the 10,000 test images) runs this many at a
# time server-wide, so that a class opening a new version at once queues instead of piling up.
HEAVY_WORK = threading.BoundedSemaphore(settings.heavy_jobs())


def uncertainty(probabilities: np.ndarray) -> str:
    """How sure the model is, in words, with the prediction's entropy."""
    return (
        f"{confidence_in_words(probabilities)} Entropy {entropy_bits(probabilities):.2f} bits "
        f"(0 when certain, {MAX_ENTROPY:.2f} when all ten digits are equally likely)."
    )


def layer_table_view(model) -> None:
    """The model's layers as a table (Home and Feature maps), parameter counts with thousands separators."""
    st.dataframe(
        layer_table(model),
        hide_index=True,
        column_config={"parameters": st.column_config.NumberColumn(format="localized")},
    )


def upload_limit_mb() -> int:
    """The largest upload, in megabytes: the server's `server.maxUploadSize` (one setting for every
    upload; deploy/config.toml), and never more than a model file may be."""
    return min(int(st.get_option("server.maxUploadSize")), MAX_MODEL_BYTES // 2**20)


def literal(text: str) -> str:
    """Text a visitor chose (a file's name) for Markdown: a code span, so that nothing in it is
    rendered as formatting, a link, an emoji or a formula."""
    return "`" + " ".join(text.replace("`", "'").split()) + "`"


def carry_out(
    action: Callable[[], Any],
    done: str | Callable[[Any], str],
    folder: str,
    refused: tuple[type[Exception], ...] = (ValueError,),
    failed: str = "That did not work",
    rerun: bool = True,
) -> bool:
    """Runs a change a visitor asked for (`action()`), then toasts `done` (or `done(result)`) and
    reruns the app. When the change is refused (one of `refused`: its message says why) or `folder`
    cannot be written, says so after `failed` and returns False."""
    try:
        result = action()
    except refused as error:
        st.error(f"{failed}: {error}")
        return False
    except OSError as error:  # Its message would show server paths.
        st.error(f"{failed}: the {folder} cannot be written ({error.strerror}).")
        return False
    st.toast(done(result) if callable(done) else done)
    if rerun:
        st.rerun(scope="app")
    return True


def version_name(version_id: str) -> str:
    """How the pages name a version: its id, or "shipped model" for the default in model/default/."""
    return "shipped model" if version_id == DEFAULT_ID else version_id


def _keep_choice() -> None:
    st.session_state[CHOSEN] = st.session_state[VERSION]


def chosen_model(page_file: str) -> tuple[ModelVersion, FallingBack]:
    """A page's first call, with its `__file__`: the version this visitor looks at, and its shared predictor.

    Each session chooses its version in the sidebar (its own choice only); a new session
    starts with the default version (`active.json`). A version that cannot be used is
    replaced by the shipped model, with a warning that says why; the page stops with a
    message only when the shipped model cannot be loaded either.
    """
    ensure_routed(page_file)
    try:
        _cleaned(str(registry_dir()))
        versions = {version.id: version for version in list_versions()}
    except (ModelUnavailable, OSError) as error:
        st.error(f"No model can be loaded: {error}")
        st.stop()
    configured = active_id()
    default = configured if configured in versions else DEFAULT_ID
    # The choice lives under its own key: Streamlit drops a widget's value when the page changes.
    chosen = st.session_state.get(CHOSEN)
    if chosen not in versions:
        if chosen is not None:
            st.toast(f"Version {chosen} is gone; showing the default, {version_name(default)}.")
        chosen = st.session_state[CHOSEN] = default
    st.session_state[VERSION] = chosen
    version = versions[
        st.sidebar.selectbox(
            "Model version",
            list(versions),
            key=VERSION,
            on_change=_keep_choice,
            format_func=lambda i: ("default · " if i == default else "") + version_name(i),
            help="The model every page shows you. Your choice is yours alone; others keep theirs.",
        )
    ]
    operator_sidebar()
    try:
        return version, FallingBack(predictor_for(version))
    except ModelBroken as error:
        problem = str(error)
    shipped = versions[DEFAULT_ID]
    fix = " You can delete it on the Retrain page." if may_manage() else ""
    st.warning(f"Version {version.id} cannot be used: {problem} You are shown the shipped model instead.{fix}")
    try:
        return shipped, FallingBack(predictor_for(shipped))
    except ModelBroken as error:
        st.error(f"No model can be loaded: the shipped model is broken too ({error}). Restore model/default with git.")
        st.stop()


@st.cache_resource(show_spinner="Loading MNIST...")
def _mnist(path: str | None) -> tuple[Split, Split]:
    return load_mnist(path)


def _mnist_or_message() -> tuple[Split, Split] | None:
    local = mnist_path()
    try:
        return _mnist(str(local) if local else None)
    except DataError as error:
        st.warning(
            f"MNIST is not available: {error}\n\nThis page needs the MNIST digits. Download {DOWNLOAD} on a "
            "machine with the network, then start the app with `MNIST_PATH=/path/to/mnist.npz streamlit run app.py`."
        )
        return None


def mnist_test_set() -> Split | None:
    """The MNIST test images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[1] if data is not None else None


def mnist_train_set() -> Split | None:
    """The MNIST training images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[0] if data is not None else None


CURRENT_DIGIT = "current_digit"


def set_current_digit(image: np.ndarray, source: str, label: int | None = None) -> None:
    """Makes a (28, 28) model input the digit every page shows."""
    st.session_state[CURRENT_DIGIT] = {"image": image, "source": source, "label": label}


def current_digit() -> dict | None:
    """{"image": (28, 28) float32, "source": str, "label": int | None}, or None."""
    return st.session_state.get(CURRENT_DIGIT)


def digit_to_show(index_key: str, purpose: str) -> dict:
    """The current digit, else a random test digit kept for this session under `index_key`; the
    page stops with a message when there is neither (`purpose`: what the page shows for it)."""
    digit = current_digit()
    if digit is not None:
        return digit
    test_set = mnist_test_set()
    if test_set is None:
        st.info(f"Draw a digit on the Draw page first: this page shows {purpose}.")
        st.stop()
    x_test, y_test = test_set
    index = st.session_state.setdefault(index_key, int(np.random.default_rng().integers(len(x_test))))
    return {"image": from_uint8(x_test[index]), "source": f"MNIST test image #{index}", "label": int(y_test[index])}


@st.cache_data(max_entries=4, show_spinner=False)
def evaluation_on_test_set(
    cache_key: str, _predictor: Predictor, _x_test: np.ndarray, _y_test: np.ndarray
) -> Evaluation:
    """A model version's evaluation on the test set, computed once per version (the cache key), in a
    child process at a lower priority (`Predictor.probabilities_apart`), with a progress bar."""
    with HEAVY_WORK, work_bar(f"Evaluating this version on the {len(_x_test):,} test images") as report:
        return evaluation_from_probabilities(_y_test, _predictor.probabilities_apart(from_uint8(_x_test), report))


@contextlib.contextmanager
def work_bar(what: str, doing: Callable[[float], str] = "{:.0%}".format):
    """A progress bar for a first computation of `what` (kept afterwards, so once per version); yields the
    function that moves it, whose fraction `doing` puts in words, and removes the bar at the end."""
    bar = st.progress(0.0, text=f"{what} (once per version)...")

    def report(fraction: float) -> None:
        bar.progress(fraction, text=f"{what} (once per version): {doing(fraction)}")

    try:
        yield report
    finally:
        bar.empty()


def send_to_pages(image_uint8: np.ndarray, index: int, label: int) -> None:
    """Makes MNIST test image `index` the current digit, and the Draw page's input."""
    set_current_digit(from_uint8(image_uint8), f"MNIST test image #{index}", label)
    st.session_state.draw_source = "MNIST test image"
    st.session_state.draw_test_index = index


def gallery(
    indices: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, probabilities: np.ndarray, prefix: str
) -> None:
    """Test digits in rows of six, each with the model's top three guesses and buttons that open it on
    the Draw and Feature maps pages. `prefix`: the page's prefix for the buttons' keys."""
    per_row = 6
    for start in range(0, len(indices), per_row):
        for column, index in zip(st.columns(per_row), indices[start : start + per_row]):
            top3 = np.argsort(probabilities[index])[::-1][:3]
            column.image(x_test[index], width=96, caption=f"#{index}")
            column.caption(" · ".join(f"**{d}** {probabilities[index][d]:.0%}" for d in top3))
            send = column.columns(2)
            if send[0].button("Draw", key=f"{prefix}_draw_{index}", help="Open it on the Draw page"):
                send_to_pages(x_test[index], int(index), int(y_test[index]))
                st.switch_page("pages/draw.py")
            if send[1].button("Maps", key=f"{prefix}_maps_{index}", help="Open it on the Feature maps page"):
                send_to_pages(x_test[index], int(index), int(y_test[index]))
                st.switch_page("pages/feature_maps.py")


def new_click(event: Any, key: str, context: Any = None) -> dict | None:
    """The point clicked on a chart (`st.plotly_chart(..., on_select="rerun")`), once per click.

    A chart's selection stays in its state over later reruns; this returns the clicked
    point only on the rerun the click caused (remembered under `key`, with `context` such
    as the layer shown), so that widgets the click set remain free to change afterwards.
    """
    points = event.selection.points if event and event.selection else []
    if not points:
        return None
    point = points[0]
    click = (context, point.get("x"), point.get("y"))
    if click == st.session_state.get(key):
        return None
    st.session_state[key] = click
    return point


# A public-mode visitor's own digits, in their session.
MY_DIGITS_SESSION = "mydigits_store"


def digit_store() -> FolderStore | MemoryStore:
    """Where this visitor's own digits are kept: the dataset folder (`MY_DIGITS`, else beside the
    registry), or, for a visitor in public mode, their session only (download them to keep them)."""
    if public_mode() and not may_manage():
        return st.session_state.setdefault(MY_DIGITS_SESSION, MemoryStore())
    return FolderStore(dataset_dir())
