"""Lesson: a guided walk through the network on the visitor's own digit, in eight steps, each
told from the model's own layers; the steps a model has no layers for are skipped, saying why."""

import numpy as np
import streamlit as st

from pages.ui.lesson_later_steps import deeper_layers, flatten_and_dense, softmax, where_it_fails
from pages.ui.lesson_steps import (
    Lesson,
    LessonStep,
    activation,
    facts_of,
    no_activation,
    no_convolution,
    no_deeper_layers,
    no_pooling,
    one_convolution,
    pooling,
    what_it_sees,
)
from pages.ui.models import chosen_model
from pages.ui.state import digit_to_show

STEPS = [
    LessonStep("What the network sees", what_it_sees),
    LessonStep("One convolution", one_convolution, no_convolution),
    LessonStep("ReLU", activation, no_activation),
    LessonStep("Pooling", pooling, no_pooling),
    LessonStep("Deeper layers", deeper_layers, no_deeper_layers),
    LessonStep("Flatten and dense", flatten_and_dense),
    LessonStep("Softmax: how sure it is", softmax),
    LessonStep("Where it fails", where_it_fails),
]
# The step shown: kept in the session, so it survives a visit to another page.
STEP = "lesson_step"
PICKER = "lesson_picker"


def _go(step: int) -> None:
    st.session_state[STEP] = step


def _picked() -> None:
    st.session_state[STEP] = st.session_state[PICKER]


def navigation(reasons: list[str]) -> int:
    """Back, Next and a step picker; returns the step to show. Back and Next skip the steps that do not apply."""
    applies = [index for index, reason in enumerate(reasons) if not reason]
    step = st.session_state.get(STEP, 0)
    step = step if isinstance(step, int) and 0 <= step < len(STEPS) else 0
    st.session_state[STEP] = st.session_state[PICKER] = step
    earlier = [index for index in applies if index < step]
    later = [index for index in applies if index > step]
    columns = st.columns([1, 4, 1], vertical_alignment="bottom")
    columns[0].button("Back", key="lesson_back", disabled=not earlier, on_click=_go, args=(earlier[-1:] or [step]))
    columns[1].selectbox(
        "Step",
        range(len(STEPS)),
        key=PICKER,
        on_change=_picked,
        format_func=lambda index: f"{index + 1}. {STEPS[index].title}" + (" (skipped)" if reasons[index] else ""),
    )
    columns[2].button("Next", key="lesson_next", disabled=not later, on_click=_go, args=(later[:1] or [step]))
    done = sum(index <= step for index in applies)
    st.progress(done / max(len(applies), 1), text=f"Step {step + 1} of {len(STEPS)}: {STEPS[step].title}")
    for index, reason in enumerate(reasons):
        if reason:
            st.caption(f"Step {index + 1}, {STEPS[index].title}, does not apply: {reason}")
    return step


st.title("Lesson")
version, predictor = chosen_model(__file__)
digit = digit_to_show("lesson_test_index", "a lesson on it")
if np.shape(digit.image) != (28, 28) or not np.any(digit.image > 0):
    st.info("Your digit is empty: draw one on the Draw page, then come back for the lesson.")
    st.stop()
facts = facts_of(version.cache_key, predictor.model)
lesson = Lesson(version, predictor, digit, facts, predictor.probabilities_of_image(digit.image))
top = st.columns([1, 6])
top[0].image(digit.image, caption=digit.source, width=96, clamp=True)
with top[1]:
    reasons = [entry.missing(facts) for entry in STEPS]
    step = navigation(reasons)
st.subheader(f"{step + 1}. {STEPS[step].title}")
reason = reasons[step]
if reason:
    st.info(f"{STEPS[step].title} does not apply to this model: {reason}")
else:
    STEPS[step].show(lesson)
