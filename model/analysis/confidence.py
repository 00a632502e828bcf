"""How sure a prediction is: its entropy and one plain sentence (with "a 7" but "an 8")."""

from __future__ import annotations

import numpy as np

# Two top probabilities closer than this: the model is unsure between them.
UNSURE_GAP = 0.25
# The entropy of ten equally likely digits, in bits.
MAX_ENTROPY = float(np.log2(10))


def entropy_bits(probabilities: np.ndarray) -> float:
    """The entropy of a prediction in bits: 0 when certain, log2(10) = 3.32 when all ten are equally likely."""
    p = np.clip(np.asarray(probabilities, np.float64), 0.0, 1.0)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def with_article(digit: int) -> str:
    """ "a 7", but "an 8"."""
    return f"{'an' if int(digit) == 8 else 'a'} {int(digit)}"


def confidence_in_words(probabilities: np.ndarray) -> str:
    """One plain sentence about how sure a prediction is ("Unsure between 4 and 9 (48% and 41%).")."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape != (10,) or not np.all(np.isfinite(probabilities)):
        raise ValueError(f"Expected 10 finite probabilities, got shape {probabilities.shape}.")
    second, first = (int(i) for i in np.argsort(probabilities, kind="stable")[-2:])
    top, runner_up = probabilities[first], probabilities[second]
    if top - runner_up < UNSURE_GAP:
        return f"Unsure between {first} and {second} ({top:.0%} and {runner_up:.0%})."
    if top >= 0.95:
        return f"Sure it is {with_article(first)}."
    return f"Fairly sure it is {with_article(first)}; {second} comes next at {runner_up:.0%}."
