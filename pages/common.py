"""Helpers shared by the pages: the active model, cached for all sessions."""

from __future__ import annotations

import streamlit as st

from model.inference import Predictor
from model.preprocess import from_uint8
from model.registry import ModelUnavailable, ModelVersion, active_version
from model.storage import load_model


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _predictor(cache_key: str, model_file: str) -> Predictor:
    # Keyed by the version's cache key, so a new active version loads afresh.
    return Predictor(load_model(model_file))


def _leave_legacy_pages_mode() -> None:
    """Sends a page through the router in app.py when Streamlit ran it without it.

    On a fresh server, Streamlit runs the first request for a page in its legacy `pages/`
    folder mode, which skips app.py (the navigation and page config) until some session
    has called `st.navigation`. Switching that mode off and rerunning serves the same page
    through app.py. This happens once per session at most: a rerun drops a button's click,
    and AppTest starts every run in that mode.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False) and not st.session_state.get("app_router_checked"):
        st.session_state.app_router_checked = True
        PagesManager.uses_pages_directory = False
        st.rerun()


def predictor_for(version: ModelVersion) -> Predictor:
    """The shared predictor of a model version, loaded once for all sessions."""
    return _predictor(version.cache_key, str(version.model_file))


def active_model() -> tuple[ModelVersion, Predictor]:
    """The active version and its shared predictor; stops the page with a message if there is none."""
    _leave_legacy_pages_mode()
    try:
        version = active_version()
        return version, predictor_for(version)
    except (ModelUnavailable, OSError, ValueError) as error:
        st.error(f"No model can be loaded: {error}")
        st.stop()


@st.cache_resource(show_spinner="Loading MNIST...")
def _mnist(path: str | None):
    from training.data import load_mnist

    return load_mnist(path)


def _mnist_or_message():
    from training.data import DataError, mnist_path

    local = mnist_path()
    try:
        return _mnist(str(local) if local else None)
    except DataError as error:
        st.warning(f"MNIST is not available: {error}\n\n"
                   "Set `MNIST_PATH` to a local copy of `mnist.npz` and restart the app.")
        return None


def mnist_test_set():
    """The MNIST test images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[1] if data is not None else None


def mnist_train_set():
    """The MNIST training images and labels (read-only, shared), or None after showing how to get them."""
    data = _mnist_or_message()
    return data[0] if data is not None else None


CURRENT_DIGIT = "current_digit"


def set_current_digit(image, source: str, label: int | None = None) -> None:
    """Makes a (28, 28) model input the digit every page shows."""
    st.session_state[CURRENT_DIGIT] = {"image": image, "source": source, "label": label}


def current_digit() -> dict | None:
    """{"image": (28, 28) float32, "source": str, "label": int | None}, or None."""
    return st.session_state.get(CURRENT_DIGIT)


@st.cache_data(max_entries=4, show_spinner="Evaluating on the 10,000 test images...")
def evaluation_on_test_set(cache_key: str, _predictor: Predictor, _x_test, _y_test):
    """The active model's evaluation on the test set, computed once per model version (the cache key)."""
    from model.evaluation import evaluate

    return evaluate(_predictor, _x_test, _y_test)


def send_to_pages(image_uint8, index: int, label: int) -> None:
    """Makes MNIST test image `index` the current digit, and the Draw page's input."""
    set_current_digit(from_uint8(image_uint8), f"MNIST test image #{index}", label)
    st.session_state.draw_source = "MNIST test image"
    st.session_state.draw_test_index = index
