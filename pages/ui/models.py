"""The model version a visitor looks at, chosen in the sidebar, and its predictor: loaded once per
version for every session, probed on digits, and falling back to the shipped model when broken."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from typing import NoReturn

import numpy as np
import streamlit as st

from model.runtime.forward_worker import Routed, shared_worker
from model.runtime.inference import AnswersNotFinite, Predictor, finite
from model.runtime.preprocess import from_uint8
from model.store.files import locking_problem
from model.store.mnist import DataError, mnist_path
from model.store.my_digits import dataset_dir
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
from pages.ui.access import may_manage, operator_sidebar
from pages.ui.data import _mnist
from pages.ui.routing import ensure_routed

# How many MNIST test digits a version (other than the shipped one) must answer finitely when it loads.
PROBE_DIGITS = 32


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _predictor(cache_key: str, model_file: str, probe: bool) -> Routed:
    # Keyed by the version's cache key, so a new version loads afresh.
    predictor = Routed(Predictor(load_model(model_file), model_file=model_file), shared_worker())
    # Traced (and loaded in the forward worker) now, not on a visitor's first stroke.
    predictor.probabilities_of_image(np.zeros((28, 28), np.float32))
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
    full collection walks some 360,000 long-lived objects, twice per rerun. `gc.freeze` moves
    the objects alive now into a permanent generation that collections skip; reference
    counting still frees them.
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

    def probabilities_of_image(self, image: np.ndarray) -> np.ndarray:
        return self._checked(self.predictor.probabilities_of_image, image)

    def probabilities_apart(self, images: np.ndarray, progress: Callable[[float], None] | None = None) -> np.ndarray:
        return self._checked(self.predictor.probabilities_apart, images, progress)

    def summaries(self, images: np.ndarray) -> list[np.ndarray]:
        """The digit check's forward pass (`Routed.summaries`: in the forward worker when it answers)."""
        return self.predictor.summaries(images)

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


@st.cache_resource(show_spinner=False)
def _shared_folders_problem(registry: str, digits: str) -> str:
    # Once per server: the registry and the kept digits need locks and atomic renames (the digits'
    # folder is checked once it exists: in public mode a visitor's digits stay in their session).
    return locking_problem(registry) or (locking_problem(digits) if os.path.isdir(digits) else "")


# The version this session looks at, and the sidebar widget that chooses it.
CHOSEN = "app_chosen_version"


VERSION = "app_version"


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
    problem = _shared_folders_problem(str(registry_dir()), str(dataset_dir()))
    if problem:
        st.error(f"The app cannot start: {problem}")
        st.stop()
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
