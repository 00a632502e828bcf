"""Lifting the pen to seeing the updated prediction, in a real browser (headless Chromium).

    python -m benchmarks.draw_latency [--strokes 30]

Starts the app, opens the Draw page, draws a seven stroke by stroke on streamlit-drawable-canvas
and times each stroke from the mouse button's release until the page shows the new prediction:
for the first stroke until the prediction appears, for later ones until the network's input
image (drawn in the same script run, after the prediction) has changed.

Each later stroke is split in three, all in the page's own clock (`performance.now()`):
- the component's wait: from the release until the page sends the drawing over Streamlit's
  websocket (streamlit-drawable-canvas waits 200 ms after the pen lifts: its `Bc = 200`);
- the server: from that message until the run's last message (script_finished) reaches the
  page: the server's time, and whatever keeps the page from reading its messages at once
  (on 2 cores the browser and the server share them; `benchmarks.load` with one visitor
  times the server alone);
- the page: from there until the new image shows.
"""

from __future__ import annotations

import argparse
import base64
import json
import time

import numpy as np
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.server import BROWSER_ARGS, CHROMIUM, streamlit_server

# Fabric.js draws on two canvases; the upper one takes the pointer.
CANVAS = "canvas.upper-canvas"
# The image the network sees: the last of the four "What the network sees" images.
MODEL_INPUT_IMAGE = "[data-testid='stImage'] img"
# The prediction's value: a dash until the first drawing.
PREDICTED = """() => [...document.querySelectorAll("[data-testid='stMetric']")]
    .some((metric) => metric.innerText.startsWith("Prediction") && /[0-9]/.test(
        metric.querySelector("[data-testid='stMetricValue']").innerText))"""
# Before the page's own scripts: the page's time of every pen-up and of every websocket message
# each way, with its size, and the bytes of the small ones (a run's script_finished is one).
RECORDER = """
window.__penUps = [];
window.__frames = [];
addEventListener("pointerup", () => window.__penUps.push(performance.now()), true);
const small = (data) => data.byteLength < 512 ? btoa(String.fromCharCode(...new Uint8Array(data))) : null;
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
        super(...args);
        this.addEventListener("message", (event) => {
            const data = event.data;
            if (data instanceof ArrayBuffer) {
                window.__frames.push(["in", performance.now(), data.byteLength, small(data)]);
            }
        });
    }
    send(data) {
        window.__frames.push(["out", performance.now(), data.byteLength ?? data.length ?? data.size, null]);
        super.send(data);
    }
};
"""
# The model input's image source, read in the page.
SOURCE = f"""() => {{
    const images = document.querySelectorAll("{MODEL_INPUT_IMAGE}");
    return images.length >= 4 ? images[images.length - 1].getAttribute("src") : null;
}}"""
# True once the source differs from `before`; notes the time it was seen.
CHANGED = f"""(before) => {{
    if (({SOURCE})() === before) return false;
    window.__shown = performance.now();
    return true;
}}"""


def stroke(page, box: dict, points: list[tuple[float, float]], steps: int = 4) -> float:
    """Draws one stroke with the mouse (points in canvas pixels); returns the release's time (perf_counter)."""
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
    page.mouse.up()
    return time.perf_counter()


def split(page) -> tuple[float, float, float]:
    """(component's wait, server, page) in ms for the last stroke, from the page's record, which
    starts anew: from the pen-up to the drawing's message (the first large one the page sends),
    from there to its run's script_finished arriving, and from there to the new image shown."""
    pen_up, shown, frames = page.evaluate("() => [window.__penUps.at(-1), window.__shown, window.__frames.splice(0)]")
    sent = next((at for way, at, size, _ in frames if way == "out" and at >= pen_up and size > 1000), None)
    finished = None
    for way, at, _, data in frames:
        if way == "in" and sent is not None and at > sent and data is not None:
            message = ForwardMsg.FromString(base64.b64decode(data))
            if message.HasField("script_finished") and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                finished = at
                break
    if sent is None or finished is None:
        raise RuntimeError("the drawing's message or the end of its run was not seen")
    return sent - pen_up, finished - sent, shown - finished


def open_draw_page(browser, url: str, record: bool = False):
    """A new visitor on the Draw page (with `record`, its pen-ups and messages recorded); returns
    the page and the canvas's box."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    if record:
        page.add_init_script(RECORDER)
    page.goto(f"{url}/draw", timeout=120_000)
    canvas = page.locator(CANVAS)
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
            warm, box = open_draw_page(browser, url)
            stroke(warm, box, [(60, 55), (215, 58)])
            warm.wait_for_function(PREDICTED, polling="raf", timeout=120_000)
            warm.context.close()
            time.sleep(8.0)
            page, box = open_draw_page(browser, url, record=True)
            # A visitor looks at the page a moment before drawing.
            time.sleep(3.0)
            # The top bar of a seven first; the prediction appears.
            released = stroke(page, box, [(60, 55), (110, 52), (160, 55), (215, 58)])
            page.wait_for_function(PREDICTED, polling="raf", timeout=timeout * 1000)
            first = (time.perf_counter() - released) * 1000
            page.wait_for_function(f'document.querySelectorAll("{MODEL_INPUT_IMAGE}").length >= 4')
            time.sleep(0.3)
            page.evaluate("() => window.__frames.splice(0)")
            rng = np.random.default_rng(0)
            rows = []
            for index in range(strokes):
                before = page.evaluate(SOURCE)
                # Short strokes along the seven's diagonal and around it, each changing the drawing.
                x, y = 200 - index * 4 + rng.uniform(-6, 6), 70 + index * 6
                stroke(page, box, [(x, y), (x - 12, y + 14), (x - 20, y + 26)])
                page.wait_for_function(CHANGED, arg=before, polling="raf", timeout=timeout * 1000)
                time.sleep(0.3)
                wait, server, shown = split(page)
                rows.append((wait + server + shown, wait, server, shown))
        finally:
            browser.close()
    total, wait, server, shown = np.array(rows).T
    return {
        "draw_first_stroke_ms": first,
        "draw_roundtrip_p50_ms": float(np.percentile(total, 50)),
        "draw_roundtrip_p95_ms": float(np.percentile(total, 95)),
        "draw_roundtrip_strokes": len(rows),
        "draw_component_wait_ms": float(np.percentile(wait, 50)),
        "draw_component_wait_p95_ms": float(np.percentile(wait, 95)),
        "draw_server_p50_ms": float(np.percentile(server, 50)),
        "draw_server_p95_ms": float(np.percentile(server, 95)),
        "draw_page_p50_ms": float(np.percentile(shown, 50)),
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
