"""A visitor's digits in their session: the current digit every page shows, and the digits they keep."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import streamlit as st

from model.runtime.preprocess import from_uint8
from model.store.my_digits import FolderStore, MemoryStore, dataset_dir
from pages.ui.access import may_manage, public_mode
from pages.ui.data import mnist_test_set

CURRENT_DIGIT = "current_digit"


@dataclass(frozen=True)
class Digit:
    """The digit every page shows: a (28, 28) model input, where it came from, its label when known."""

    image: np.ndarray
    source: str
    label: int | None = None


class DrawSource(enum.Enum):
    """Where the Draw page's input comes from (the page's "Input" choice, `draw_source`)."""

    DRAW = "Draw"
    UPLOAD = "Upload an image"
    TEST_IMAGE = "MNIST test image"


def set_current_digit(image: np.ndarray, source: str, label: int | None = None) -> None:
    """Makes a (28, 28) model input the digit every page shows."""
    st.session_state[CURRENT_DIGIT] = Digit(image, source, label)


def current_digit() -> Digit | None:
    return st.session_state.get(CURRENT_DIGIT)


def digit_to_show(index_key: str, purpose: str) -> Digit:
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
    return Digit(from_uint8(x_test[index]), f"MNIST test image #{index}", int(y_test[index]))


def send_to_pages(image_uint8: np.ndarray, index: int, label: int) -> None:
    """Makes MNIST test image `index` the current digit, and the Draw page's input."""
    set_current_digit(from_uint8(image_uint8), f"MNIST test image #{index}", label)
    st.session_state.draw_source = DrawSource.TEST_IMAGE
    st.session_state.draw_test_index = index


# A public-mode visitor's own digits, in their session.
MY_DIGITS_SESSION = "mydigits_store"


def digit_store() -> FolderStore | MemoryStore:
    """Where this visitor's own digits are kept: the dataset folder (`MY_DIGITS`, else beside the
    registry), or, for a visitor in public mode, their session only (download them to keep them)."""
    if public_mode() and not may_manage():
        return st.session_state.setdefault(MY_DIGITS_SESSION, MemoryStore())
    return FolderStore(dataset_dir())
