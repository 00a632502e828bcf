"""Drawings that are not digits, made the way a visitor draws on the canvas (white ink on a
280x280 black square): letters, shapes and scribbles. What `model.analysis.novelty` should flag.

`python -m benchmarks.not_digits` measures the check on the shipped model: its false alarms
on the 10,000 MNIST test digits and the share of these drawings it flags, by kind.
"""

from __future__ import annotations

import math
import string
import time
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.drawn_digits import render_drawn
from benchmarks.timing import call_times
from model.analysis import novelty
from model.runtime.preprocess import preprocess_digit

SIDE = 280
# Kinds of drawing, each with its own maker below.
KINDS = ("letter", "shape", "scribble")


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (SIDE, SIDE), 0)
    return image, ImageDraw.Draw(image)


def _pen(rng: np.random.Generator) -> int:
    # The Draw page's stroke widths, around its default of 22.
    return int(rng.integers(14, 30))


def letter(character: str, rng: np.random.Generator) -> np.ndarray:
    """One letter in Pillow's own font (no system font needed), at a random size and slant."""
    image, draw = _canvas()
    font = ImageFont.load_default(size=int(rng.integers(150, 220)))
    left, top, right, bottom = draw.textbbox((0, 0), character, font=font, stroke_width=3)
    x = (SIDE - (right - left)) / 2 - left + rng.uniform(-20, 20)
    y = (SIDE - (bottom - top)) / 2 - top + rng.uniform(-20, 20)
    draw.text((x, y), character, fill=255, font=font, stroke_width=int(rng.integers(2, 6)), stroke_fill=255)
    return np.asarray(image.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR))


def _polygon(corners: int, radius: float, rng: np.random.Generator, star: bool = False) -> list[tuple[float, float]]:
    turn = rng.uniform(0, 2 * math.pi)
    points = []
    for i in range(corners * (2 if star else 1)):
        length = radius * (0.45 if star and i % 2 else 1.0)
        angle = turn + 2 * math.pi * i / (corners * (2 if star else 1))
        points.append((SIDE / 2 + length * math.cos(angle), SIDE / 2 + length * math.sin(angle)))
    return [*points, points[0]]


SHAPES = ("square", "filled square", "triangle", "star", "hexagon", "grid", "smiley", "arrow", "spiral", "zigzag")


def shape(name: str, rng: np.random.Generator) -> np.ndarray:
    """One of SHAPES, drawn with a pen of the canvas's widths."""
    image, draw = _canvas()
    width, radius = _pen(rng), rng.uniform(80, 120)
    if name in ("square", "filled square"):
        corners = _polygon(4, radius, rng)
        if name == "filled square":
            draw.polygon(corners, fill=255)
        else:
            draw.line(corners, fill=255, width=width, joint="curve")
    elif name in ("triangle", "hexagon"):
        draw.line(_polygon(3 if name == "triangle" else 6, radius, rng), fill=255, width=width, joint="curve")
    elif name == "star":
        draw.line(_polygon(5, radius, rng, star=True), fill=255, width=width, joint="curve")
    elif name == "grid":
        for offset in (-radius / 3, radius / 3):
            draw.line([(40, SIDE / 2 + offset), (SIDE - 40, SIDE / 2 + offset)], fill=255, width=width)
            draw.line([(SIDE / 2 + offset, 40), (SIDE / 2 + offset, SIDE - 40)], fill=255, width=width)
    elif name == "smiley":
        box = [SIDE / 2 - radius, SIDE / 2 - radius, SIDE / 2 + radius, SIDE / 2 + radius]
        draw.ellipse(box, outline=255, width=width)
        for eye in (-radius / 2.5, radius / 2.5):
            centre = (SIDE / 2 + eye, SIDE / 2 - radius / 3)
            draw.ellipse([centre[0] - width, centre[1] - width, centre[0] + width, centre[1] + width], fill=255)
        draw.arc(
            [SIDE / 2 - radius / 2, SIDE / 2 - radius / 4, SIDE / 2 + radius / 2, SIDE / 2 + radius / 1.6],
            20,
            160,
            fill=255,
            width=width,
        )
    elif name == "arrow":
        draw.line([(40, SIDE / 2), (SIDE - 50, SIDE / 2)], fill=255, width=width)
        draw.line(
            [(SIDE - 110, SIDE / 2 - 60), (SIDE - 50, SIDE / 2), (SIDE - 110, SIDE / 2 + 60)],
            fill=255,
            width=width,
            joint="curve",
        )
    elif name == "spiral":
        turns = rng.uniform(2.0, 3.0)
        steps = np.linspace(0, turns * 2 * math.pi, 120)
        radii = radius * steps / steps[-1]
        draw.line(
            list(zip(SIDE / 2 + radii * np.cos(steps), SIDE / 2 + radii * np.sin(steps))),
            fill=255,
            width=width,
            joint="curve",
        )
    elif name == "zigzag":
        xs = np.linspace(40, SIDE - 40, int(rng.integers(5, 9)))
        ys = [SIDE / 2 + (60 if i % 2 else -60) for i in range(len(xs))]
        draw.line(list(zip(xs, ys)), fill=255, width=width, joint="curve")
    else:
        raise ValueError(f"Unknown shape {name!r}; choose one of {SHAPES}.")
    return np.asarray(image.rotate(rng.uniform(-30, 30), resample=Image.BILINEAR))


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A pen wandering across the canvas: a smooth random path through 6 to 14 points."""
    image, draw = _canvas()
    anchors = rng.uniform(30, SIDE - 30, size=(int(rng.integers(6, 15)), 2))
    # A smooth path through the points (Catmull-Rom), as a hand would draw it.
    padded = np.concatenate([anchors[:1], anchors, anchors[-1:]])
    path = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1 : i + 3]
        for t in np.linspace(0, 1, 12, endpoint=False):
            a, b, c = -p0 + p2, 2 * p0 - 5 * p1 + 4 * p2 - p3, -p0 + 3 * p1 - 3 * p2 + p3
            path.append(p1 + 0.5 * (a * t + b * t**2 + c * t**3))
    draw.line([tuple(point) for point in path], fill=255, width=_pen(rng), joint="curve")
    return np.asarray(image)


def not_digits(count_per_kind: int, seed: int = 0) -> Iterator[tuple[str, str, np.ndarray]]:
    """(kind, name, 280x280 uint8 drawing): `count_per_kind` letters (A-Z and a-z in turn),
    shapes (SHAPES in turn) and scribbles."""
    rng = np.random.default_rng(seed)
    letters = string.ascii_uppercase + string.ascii_lowercase
    for i in range(count_per_kind):
        yield "letter", letters[i % len(letters)], letter(letters[i % len(letters)], rng)
    for i in range(count_per_kind):
        yield "shape", SHAPES[i % len(SHAPES)], shape(SHAPES[i % len(SHAPES)], rng)
    for _ in range(count_per_kind):
        yield "scribble", "scribble", scribble(rng)


def run(model, data, count_per_kind: int = 200, drawn: int = 2000) -> dict:
    """The check as the app fits it (`model.analysis.novelty.SAMPLE` training digits): its false alarms on
    the test digits and on test digits re-drawn as on the canvas, the share of `not_digits` it
    flags by kind, the time to fit it and to check one input."""
    (x_train, y_train), (x_test, _) = data
    start = time.perf_counter()
    reference = novelty.fit_reference(model, x_train[: novelty.SAMPLE], y_train[: novelty.SAMPLE])
    fit_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    redrawn = [preprocess_digit(render_drawn(digit, rng)) for digit in x_test[:drawn]]
    others = [(kind, name, preprocess_digit(drawing)) for kind, name, drawing in not_digits(count_per_kind)]
    others = [(kind, name, result.model_input) for kind, name, result in others if result is not None]
    flagged = novelty.novelty(model, reference, np.stack([image for _, _, image in others])) > 1
    kinds = np.array([kind for kind, _, _ in others])
    one = others[0][2][None]
    times = call_times(lambda: novelty.novelty(model, reference, one), 50)
    letters = [(name, hit) for (kind, name, _), hit in zip(others, flagged) if kind == "letter"]
    # Letters flagged in fewer than half of their drawings.
    missed = sorted({name for name, _ in letters if np.mean([hit for other, hit in letters if other == name]) < 0.5})
    return {
        "not_a_digit_false_alarm_test_pct": round(
            100 * float(np.mean(novelty.novelty(model, reference, x_test) > 1)), 2
        ),
        "not_a_digit_false_alarm_drawn_pct": round(
            100
            * float(np.mean(novelty.novelty(model, reference, np.stack([r.model_input for r in redrawn if r])) > 1)),
            2,
        ),
        "not_a_digit_flagged_pct": round(100 * float(flagged.mean()), 1),
        **{f"not_a_digit_flagged_{kind}_pct": round(100 * float(flagged[kinds == kind].mean()), 1) for kind in KINDS},
        "not_a_digit_letters_missed": "".join(missed),
        "not_a_digit_fit_s": round(fit_seconds, 1),
        "not_a_digit_check_p50_ms": round(float(np.median(times)), 2),
    }


def table(results: dict) -> list[str]:
    """Markdown rows of `run`'s figures."""
    if "not_a_digit_flagged_pct" not in results:
        return []
    return [
        f"| false alarms: MNIST test digits / the same digits re-drawn on a canvas | "
        f"{results['not_a_digit_false_alarm_test_pct']:.2f}% / {results['not_a_digit_false_alarm_drawn_pct']:.2f}% |",
        f"| non-digits flagged: all / letters / shapes / scribbles | {results['not_a_digit_flagged_pct']:.1f}% / "
        f"{results['not_a_digit_flagged_letter_pct']:.1f}% / {results['not_a_digit_flagged_shape_pct']:.1f}% / "
        f"{results['not_a_digit_flagged_scribble_pct']:.1f}% |",
        f"| letters flagged in fewer than half of their drawings | {results['not_a_digit_letters_missed']} |",
        f"| fitting the check, once per version / checking one digit, p50 | {results['not_a_digit_fit_s']:.1f} s / "
        f"{results['not_a_digit_check_p50_ms']:.1f} ms |",
    ]


def main() -> None:
    from model.store.mnist import load_mnist
    from model.store.registry import default_version
    from model.store.storage import load_model

    results = run(load_model(default_version().model_file), load_mnist())
    print("\n".join(["| measure | value |", "| --- | --- |", *table(results)]))


if __name__ == "__main__":
    main()
