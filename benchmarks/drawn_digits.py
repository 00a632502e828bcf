"""How well drawn digits are recognised: MNIST test digits re-rendered the way people draw.

Each digit is drawn large on a 280x280 canvas, off-centre, with thicker or thinner solid
strokes, light on dark or dark on light, then classified through `preprocess_digit` and,
for comparison, through the original app's naive whole-canvas resize.

    python -m benchmarks.drawn_digits [--count 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageFilter

from model.runtime.inference import Predictor
from model.runtime.preprocess import naive_resize, preprocess_digit
from model.store.mnist import load_mnist
from model.store.registry import active_version
from model.store.storage import load_model

CANVAS = 280


def render_drawn(digit: np.ndarray, rng: np.random.Generator, canvas: int = CANVAS) -> np.ndarray:
    """One 28x28 MNIST digit as a person might draw it: an RGBA canvas or a dark-on-light scan."""
    rows, columns = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = digit[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    # Scale the digit so its longer side is 90-250 px, with solid pen strokes.
    scale = rng.uniform(90, 250) / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    pen = Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS).point(lambda v: 255 if v > 110 else 0)
    # Thicker or thinner strokes than MNIST's, by growing or shrinking the ink.
    change = int(rng.integers(-2, 5)) * 2
    if change > 0:
        pen = pen.filter(ImageFilter.MaxFilter(change + 1))
    elif change < 0:
        pen = pen.filter(ImageFilter.MinFilter(-change + 1))
    ink = np.asarray(pen)
    if ink.shape[0] > canvas or ink.shape[1] > canvas:
        ink = np.asarray(pen.resize((min(canvas, ink.shape[1]), min(canvas, ink.shape[0]))))
    # Anywhere on the canvas, whole.
    top = int(rng.integers(0, canvas - ink.shape[0] + 1))
    left = int(rng.integers(0, canvas - ink.shape[1] + 1))
    image = np.zeros((canvas, canvas), np.uint8)
    image[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    if rng.random() < 0.5:
        # The canvas: white strokes on a transparent layer.
        return np.dstack([image, image, image, image])
    # A scan: dark ink on white paper.
    return 255 - image


def drawn_accuracy(predictor: Predictor, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Accuracy through `preprocess_digit` and through the naive resize, on re-drawn digits."""
    rng = np.random.default_rng(seed)
    drawn = [render_drawn(digit, rng) for digit in x]
    prepared, naive, empty = [], [], 0
    for image in drawn:
        result = preprocess_digit(image)
        empty += result is None
        prepared.append(result.model_input if result is not None else np.zeros((28, 28), np.float32))
        squeezed = naive_resize(image)
        naive.append(squeezed if squeezed is not None else np.zeros((28, 28), np.float32))
    predicted = predictor.probabilities(np.stack(prepared)).argmax(axis=1)
    predicted_naive = predictor.probabilities(np.stack(naive)).argmax(axis=1)
    return {
        "count": len(x),
        "preprocessed_accuracy": float(np.mean(predicted == y)),
        "naive_accuracy": float(np.mean(predicted_naive == y)),
        "found_empty": int(empty),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drawn_digits")
    parser.add_argument("--count", type=int, default=2000, help="test digits to re-draw")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    _, (x_test, y_test) = load_mnist()
    predictor = Predictor(load_model(active_version().model_file))
    result = drawn_accuracy(predictor, x_test[: args.count], y_test[: args.count], args.seed)
    print(
        f"{result['count']} re-drawn test digits: {result['preprocessed_accuracy']:.2%} through the "
        f"preprocessing, {result['naive_accuracy']:.2%} with the naive resize"
    )


if __name__ == "__main__":
    main()
