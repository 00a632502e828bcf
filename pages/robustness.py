"""Robustness: how far the current digit can be rotated, shifted, scaled, thickened, noised or
hidden before the prediction changes, and the smallest adversarial perturbation that changes it."""

import numpy as np
import streamlit as st

from model.analysis.confidence import with_article
from model.analysis.robustness import METHODS, TRANSFORMS, adversarial, robustness_sweep
from model.store.files import array_digest
from pages.ui.common import how_sure_in_words
from pages.ui.figures.colours import DIGIT_COLOURS
from pages.ui.figures.maps import robustness_figure
from pages.ui.figures.predictions import probability_bars
from pages.ui.models import FallingBack, chosen_model
from pages.ui.state import digit_to_show

# Amounts as the captions say them.
UNITS = {"rotation": "°", "shift": " px", "scale": "x", "thickness": " px", "noise": " noise", "occlusion": " hidden"}
TITLES = {
    "rotation": "Rotated",
    "shift": "Shifted sideways",
    "scale": "Scaled",
    "thickness": "Thickened or thinned",
    "noise": "Noised",
    "occlusion": "Hidden from the top",
}


@st.cache_data(max_entries=16, show_spinner=False)
def sweep(cache_key: str, image_key: str, _model, _image: np.ndarray) -> dict:
    """The six curves for one digit and model version, computed once."""
    return {
        kind: {"amounts": c.amounts, "images": c.images, "probabilities": c.probabilities, "flips": c.flips}
        for kind, c in robustness_sweep(_model, _image).items()
    }


@st.cache_data(max_entries=64, show_spinner=False)
def attack(cache_key: str, image_key: str, method: str, target: int | None, _model, _image: np.ndarray) -> dict:
    found = adversarial(_model, _image, method, target)
    return {
        "epsilon": found.epsilon,
        "image": found.image,
        "perturbation": found.perturbation,
        "probabilities": found.probabilities,
    }


def _first_flips(flips: list[float], kind: str) -> str:
    """The nearest change of prediction on each side of the untouched digit, for a chart's title."""
    neutral = 1.0 if kind == "scale" else 0.0
    below = [flip for flip in flips if flip < neutral]
    above = [flip for flip in flips if flip > neutral]
    nearest = ([max(below)] if below else []) + ([min(above)] if above else [])
    if not nearest:
        return "no change"
    return "changes at " + " and ".join(f"{flip:g}{UNITS[kind]}" for flip in nearest)


def sweep_section(cache_key: str, predictor: FallingBack, image: np.ndarray, predicted: int) -> None:
    st.subheader("How far can it be pushed?")
    curves = sweep(cache_key, array_digest(np.asarray(image, np.float32)), predictor.model, image)
    for curve in curves.values():
        predictor.finite(curve["probabilities"])
    columns = st.columns(3)
    for position, (kind, curve) in enumerate(curves.items()):
        unit = TRANSFORMS[kind][0]
        flips = curve["flips"]
        title = f"{TITLES[kind]}: {_first_flips(flips, kind)}"
        chosen = st.session_state.get(f"robust_amount_{kind}")
        columns[position % 3].plotly_chart(
            robustness_figure(curve["amounts"], curve["probabilities"], flips, title, unit, chosen),
            key=f"robust_curve_{kind}",
            config={"displayModeBar": False},
        )
    # The digits' colours, once for all six charts (static text, no visitor input).
    legend = " ".join(f"<span style='color:{DIGIT_COLOURS[digit]}'>&#9632; {digit}</span>" for digit in range(10))
    st.markdown(legend, unsafe_allow_html=True)
    st.caption(
        "Each line is one digit's probability as the drawing is changed step by step; the thick lines are the "
        "digits that are predicted somewhere along it. A dashed line marks where the prediction changes; a red "
        "one, the amount shown below once it is above 0."
    )
    pick = st.columns([1, 2, 1, 2])
    kind = pick[0].selectbox(
        "Look at", list(TRANSFORMS), format_func=lambda name: TITLES[name], key="robust_kind", persist_state="session"
    )
    curve = curves[kind]
    amounts = [float(amount) for amount in curve["amounts"]]
    neutral = 1.0 if kind == "scale" else 0.0
    amount = pick[1].select_slider(
        f"Amount ({TRANSFORMS[kind][0]})",
        amounts,
        value=min(amounts, key=lambda value: abs(value - neutral)),
        format_func=lambda value: f"{value:g}",
        key=f"robust_amount_{kind}",
    )
    index = amounts.index(amount)
    probabilities = curve["probabilities"][index]
    now = int(np.argmax(probabilities))
    pick[2].image(curve["images"][index], width=120, clamp=True, caption=f"{TITLES[kind]}: {amount:g}{UNITS[kind]}")
    with pick[3]:
        change = (
            f"still {with_article(now)}"
            if now == predicted
            else f"now {with_article(now)}, not {with_article(predicted)}"
        )
        st.markdown(f"**{change}** ({probabilities[now]:.0%})")
        st.plotly_chart(probability_bars(probabilities), key="robust_bars", config={"displayModeBar": False})


def adversarial_section(cache_key: str, predictor: FallingBack, image: np.ndarray, predicted: int) -> None:
    st.subheader("The smallest change that fools it")
    choose = st.columns([1, 1, 3])
    method = choose[0].radio("Method", METHODS, horizontal=True, key="robust_method", persist_state="session")
    options = [None, *[digit for digit in range(10) if digit != predicted]]
    target = choose[1].selectbox(
        "Make it",
        options,
        format_func=lambda digit: "any other digit" if digit is None else with_article(digit),
        key="robust_target",
    )
    if target == predicted:  # A stale choice from another digit.
        target = None
    choose[2].caption(
        "FGSM moves every pixel by the same amount, epsilon, along the sign of the gradient that most raises "
        "the loss of the prediction (or lowers that of the target). PGD takes ten smaller steps, staying within "
        "epsilon of the digit. Each tries sizes up to 0.4 (of the 0-1 ink range) and shows the smallest that works."
    )
    found = attack(cache_key, array_digest(np.asarray(image, np.float32)), method, target, predictor.model, image)
    probabilities = predictor.finite(found["probabilities"])
    now = int(np.argmax(probabilities))
    if found["epsilon"] is None:
        wanted = "another digit" if target is None else with_article(target)
        st.info(
            f"{method} found no change of at most 0.4 per pixel that makes it {wanted}; it stays {with_article(now)}."
        )
    else:
        st.markdown(
            f"**{method} turns {with_article(predicted)} into {with_article(now)}** ({probabilities[now]:.0%}) "
            f"with each pixel moved by at most **{found['epsilon']:.2f}**."
        )
    shown = st.columns([1, 1, 1, 3])
    shown[0].image(image, width=120, clamp=True, caption="the digit")
    shown[1].image(found["image"], width=120, clamp=True, caption="perturbed")
    limit = float(np.abs(found["perturbation"]).max()) or 1.0
    shown[2].image(
        0.5 + found["perturbation"] / (2 * limit), width=120, clamp=True, caption="the change, amplified (grey = none)"
    )
    with shown[3]:
        st.plotly_chart(probability_bars(probabilities), key="robust_attack_bars", config={"displayModeBar": False})


st.title("Robustness")
version, predictor = chosen_model(__file__)
digit = digit_to_show("robust_test_index", "how fragile its prediction is")
image = digit.image
probabilities = predictor.probabilities_of_image(image)
predicted = int(np.argmax(probabilities))
top = st.columns([1, 4])
top[0].image(image, caption=digit.source, width=120, clamp=True)
top[1].markdown(f"**Predicted {predicted}** with {probabilities[predicted]:.1%} confidence.")
top[1].caption(how_sure_in_words(probabilities) + " Draw another digit on the Draw page to change it.")
sweep_section(version.cache_key, predictor, image, predicted)
adversarial_section(version.cache_key, predictor, image, predicted)
