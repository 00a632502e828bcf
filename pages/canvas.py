"""The Draw page's canvas: a small Streamlit component of our own (`canvas.js`, components.v2).

streamlit-drawable-canvas, used before, waits 200 ms after the pen lifts before it sends
the drawing (a fixed debounce in its JavaScript), more than the whole stroke-to-prediction
budget; this canvas sends the drawing as soon as the pen lifts, as a PNG of about 10 KB.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import numpy as np
import streamlit as st

from model.preprocess import read_image

SIZE = 280
CSS = """
.digit-canvas canvas {
    width: 280px; height: 280px; background: #000; border-radius: 0.5rem;
    touch-action: none; cursor: crosshair; display: block;
}
.digit-canvas .tools { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
.digit-canvas button {
    font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; cursor: pointer;
    border: 1px solid var(--st-border-color, #d5dae5); background: var(--st-background-color, #fff);
    color: var(--st-text-color, #31333f);
}
"""
_PREFIX = "data:image/png;base64,"
_component = st.components.v2.component(
    "digits.canvas", js=(Path(__file__).with_name("canvas.js")).read_text(encoding="utf-8"), css=CSS
)


def draw_canvas(stroke_width: int, key: str) -> np.ndarray | None:
    """The canvas; returns the drawing as an RGBA uint8 array (ink is opacity), or None while it is empty.

    Raises ValueError when what the browser sent is not a PNG drawing.
    """
    result = _component(key=key, data={"strokeWidth": int(stroke_width)}, on_drawing_change=lambda: None)
    return decode_drawing(result.drawing)


def decode_drawing(value: object) -> np.ndarray | None:
    """A canvas value (a PNG data URL, or None) as an RGBA uint8 array, or None; ValueError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        raise ValueError("The canvas sent something other than a PNG drawing.")
    try:
        data = base64.b64decode(value[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("The canvas sent a damaged drawing.") from error
    return read_image(data)
