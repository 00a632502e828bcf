"""Confusion matrix: where the model fails on the 10,000 test images, and the digits it fails on."""

import numpy as np
import streamlit as st

from model.analysis.confidence import with_article
from pages.ui.common import gallery, new_click
from pages.ui.data import evaluation_on_test_set, mnist_test_set
from pages.ui.figures.predictions import confusion_figure
from pages.ui.models import chosen_model

st.title("Confusion matrix")
version, predictor = chosen_model(__file__)
test_set = mnist_test_set()
if test_set is None:
    st.stop()
x_test, y_test = test_set
result = evaluation_on_test_set(version.cache_key, predictor, x_test, y_test)

columns = st.columns(3)
columns[0].metric("Test accuracy", f"{result.accuracy:.2%}")
columns[1].metric("Errors", f"{result.errors:,} of {len(y_test):,}")
worst = int(np.argmin(result.recall))
columns[2].metric(
    "Hardest digit",
    str(worst),
    f"{result.recall[worst]:.1%} of its test images recognised",
    delta_color="off",
    delta_arrow="off",
)

normalised = st.toggle("Row-normalised percentages", key="confusion_normalised", persist_state="session")
st.caption(
    "Rows are the true digits, columns what the model said. The diagonal (grey) holds the correct "
    "answers; every red cell is a kind of mistake. Click a cell to see its digits."
)
event = st.plotly_chart(
    confusion_figure(result.confusion, normalised),
    key="confusion_chart",
    on_select="rerun",
    selection_mode="points",
    config={"displayModeBar": False},
)

# A click on the matrix sets the pickers; the pickers work from the keyboard too.
click = new_click(event, "confusion_last_click")
if click:
    st.session_state.confusion_true, st.session_state.confusion_predicted = int(click["y"]), int(click["x"])
if "confusion_true" not in st.session_state:
    # Open on the most frequent mistake (or the 0/0 cell when there is none).
    worst_pair = (result.most_confused(1) or [(0, 0, 0)])[0]
    st.session_state.confusion_true, st.session_state.confusion_predicted = worst_pair[:2]

left, right = st.columns([1, 1])
with left:
    st.subheader("Per-class metrics")
    st.dataframe(
        {
            "digit": list(range(10)),
            "precision": result.precision,
            "recall": result.recall,
            "F1": result.f1,
            "support": result.support,
        },
        hide_index=True,
        column_config={name: st.column_config.NumberColumn(format="%.4f") for name in ("precision", "recall", "F1")},
    )
    st.caption(
        "Precision: of the digits the model called d, how many were d. Recall: of the true d's, "
        "how many it found. F1 balances the two; support is how many test digits are d."
    )
with right:
    st.subheader("Most confused pairs")
    pairs = result.most_confused(10)
    st.dataframe(
        {"true": [p[0] for p in pairs], "predicted": [p[1] for p in pairs], "count": [p[2] for p in pairs]},
        hide_index=True,
    )
    st.caption("The mistakes the model makes most often.")

st.subheader("The digits behind a cell")
pickers = st.columns([1, 1, 2])
true = pickers[0].selectbox("True digit", list(range(10)), key="confusion_true", persist_state="session")
predicted = pickers[1].selectbox("Predicted digit", list(range(10)), key="confusion_predicted", persist_state="session")
indices = result.cell(true, predicted)
if len(indices) == 0:
    st.info(f"No test image of {with_article(true)} was predicted as {predicted}.")
    st.stop()
shown = (
    pickers[2].slider("How many to show", 1, min(len(indices), 60), min(len(indices), 12), key="confusion_count")
    if len(indices) > 1
    else 1
)
kind = ("correct answer" if true == predicted else "mistake") + ("s" if len(indices) > 1 else "")
st.caption(
    f"{len(indices):,} {kind}: true {true}, predicted {predicted}. Least confident first, each with "
    "the model's top three guesses."
)

gallery(indices[:shown], x_test, y_test, result.probabilities, "confusion")
if st.button("Show these on the digit map", key="confusion_on_map", help="The Digit map page marks them"):
    st.session_state.map_cell = (int(true), int(predicted))
    st.switch_page("pages/digit_map.py")
