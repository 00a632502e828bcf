"""Widgets and words the pages share: a change a visitor asked for (`carry_out`), the gallery of
test digits and clicks on figures, the layer table, how sure a prediction is in a sentence, and
text shown safely. The model a visitor looks at is in models.py, MNIST and shared computations in
data.py, the visitor's digits in state.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from model.analysis.confidence import MAX_ENTROPY, confidence_in_words, entropy_bits
from model.architecture import layer_table
from model.upload import MAX_BYTES as MAX_MODEL_BYTES
from pages.ui.state import send_to_pages


def how_sure_in_words(probabilities: np.ndarray) -> str:
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


def as_code_span(text: str) -> str:
    """Text a visitor chose (a file's name) for Markdown: a code span, so that nothing in it is
    rendered as formatting, a link, an emoji or a formula."""
    return "`" + " ".join(text.replace("`", "'").split()) + "`"


def carry_out(
    action: Callable[[], Any],
    done: str | Callable[[Any], str],
    writes_to: str,
    refused: tuple[type[Exception], ...] = (ValueError,),
    failed: str = "That did not work",
    rerun: bool = True,
) -> bool:
    """Runs a change a visitor asked for (`action()`), then toasts `done` (or `done(result)`) and
    reruns the app. When the change is refused (one of `refused`: its message says why) or the place
    it `writes_to` (such as "registry") cannot be written, says so after `failed` and returns False."""
    try:
        result = action()
    except refused as error:
        st.error(f"{failed}: {error}")
        return False
    except OSError as error:  # Its message would show server paths.
        st.error(f"{failed}: the {writes_to} cannot be written ({error.strerror}).")
        return False
    st.toast(done(result) if callable(done) else done)
    if rerun:
        st.rerun(scope="app")
    return True


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
