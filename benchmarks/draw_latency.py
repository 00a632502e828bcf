"""Lifting the pen to seeing the updated prediction, in a real browser (headless Chromium).

    python -m benchmarks.draw_latency [--strokes 30]

Starts the app, opens the Draw page, draws a seven stroke by stroke and times each stroke
from the mouse button's release until the page shows the new prediction: for the first
stroke until the prediction appears, for later ones until the network's input image (drawn
in the same script run, after the prediction) has changed. Prints the times, and returns
them for `python -m benchmarks`.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.server import BROWSER_ARGS, CHROMIUM, streamlit_server

# The image the network sees: the last of the four "What the network sees" images.
MODEL_INPUT_IMAGE = "[data-testid='stImage'] img"
# The prediction's value: a dash until the first drawing.
PREDICTED = """() => [...document.querySelectorAll("[data-testid='stMetric']")]
    .some((metric) => metric.innerText.startsWith("Prediction") && /[0-9]/.test(
        metric.querySelector("[data-testid='stMetricValue']").innerText))"""


def _stroke(page, box: dict, points: list[tuple[float, float]]) -> float:
    """Draws one stroke; returns the time of the button's release (performance.now() in the page, ms)."""
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()
    return time.perf_counter()


# The model input's image source, read in the page.
SOURCE = f"""() => {{
    const images = document.querySelectorAll("{MODEL_INPUT_IMAGE}");
    return images.length >= 4 ? images[images.length - 1].getAttribute("src") : null;
}}"""


def _open(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{url}/draw", timeout=120_000)
    canvas = page.locator(".digit-canvas canvas")
    canvas.wait_for(timeout=120_000)
    return page, canvas.bounding_box()


def measure(url: str, strokes: int, timeout: float = 30.0) -> dict:
    """Times a visitor's first stroke and `strokes` more on the Draw page at `url`; milliseconds.

    The server is warmed first, as before a class: someone opens the page and draws once
    (TensorFlow, the model and the forward worker load); the visitor timed is a new session.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            warm, box = _open(browser, url)
            _stroke(warm, box, [(60, 55), (215, 58)])
            warm.wait_for_function(PREDICTED, polling="raf", timeout=120_000)
            warm.context.close()
            time.sleep(8.0)
            page, box = _open(browser, url)
            # A visitor looks at the page a moment before drawing.
            time.sleep(3.0)
            # The top bar of a seven first; the prediction appears.
            released = _stroke(page, box, [(60, 55), (110, 52), (160, 55), (215, 58)])
            page.wait_for_function(PREDICTED, polling="raf", timeout=timeout * 1000)
            first = (time.perf_counter() - released) * 1000
            page.wait_for_function(f'document.querySelectorAll("{MODEL_INPUT_IMAGE}").length >= 4')
            rng = np.random.default_rng(0)
            times = []
            for index in range(strokes):
                before = page.evaluate(SOURCE)
                # Short strokes along the seven's diagonal and around it, each changing the drawing.
                x, y = 200 - index * 4 + rng.uniform(-6, 6), 70 + index * 6
                released = _stroke(page, box, [(x, y), (x - 12, y + 14), (x - 20, y + 26)])
                page.wait_for_function(
                    f"(before) => ({SOURCE})() !== before", arg=before, polling="raf", timeout=timeout * 1000
                )
                times.append((time.perf_counter() - released) * 1000)
                time.sleep(0.3)
        finally:
            browser.close()
    return {
        "draw_first_stroke_ms": first,
        "draw_roundtrip_p50_ms": float(np.percentile(times, 50)),
        "draw_roundtrip_p95_ms": float(np.percentile(times, 95)),
        "draw_roundtrip_strokes": len(times),
    }


def run(strokes: int = 30) -> dict | None:
    """Starts the app and measures; None when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        return None
    try:
        import playwright  # noqa: F401 - optional: the development requirements bring it.
    except ImportError:
        return None
    with streamlit_server() as url:
        return measure(url, strokes)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.draw_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=30, help="strokes after the first to time")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.strokes), indent=2))


if __name__ == "__main__":
    main()
