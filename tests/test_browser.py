"""One real-browser test of the drawing path: `streamlit run app.py`, headless Chromium, a mouse."""

from __future__ import annotations

import os

import pytest

from benchmarks.server import BROWSER_ARGS, CHROMIUM, ServerError, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture()
def server(tmp_path):
    """Our own Streamlit server on a free localhost port, stopped by its PID afterwards."""
    try:
        with streamlit_server({"MODEL_REGISTRY": str(tmp_path / "registry")}, log=tmp_path / "streamlit.log") as url:
            yield url
    except ServerError as error:
        pytest.fail(str(error))


def test_drawing_a_seven_with_the_mouse_predicts_seven(server):
    if not CHROMIUM.exists():
        # CI installs Chromium (.ci/run): there, a missing browser is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("Chromium is not installed: apt-get install -y chromium")
    from playwright import sync_api as playwright

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requested = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{server}/draw", timeout=120_000)
            # The first request to a fresh server goes straight to a page: app.py's router still serves it
            # (pages/routing.py): its page title, set in app.py only, and still the Draw page.
            page.wait_for_function("document.title === 'Inside a digit CNN'", timeout=120_000)
            page.get_by_role("heading", name="Draw a digit").wait_for(timeout=120_000)
            assert page.url.endswith("/draw")
            canvas = page.locator("canvas.upper-canvas")
            canvas.wait_for(timeout=120_000)
            box = canvas.bounding_box()
            # A seven: the top bar, then the long diagonal, in one stroke.
            points = [(70, 60), (210, 60), (180, 130), (150, 190), (125, 245)]
            page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
            page.mouse.up()
            prediction = page.locator('[data-testid="stMetric"]', has_text="Prediction")
            prediction.locator('[data-testid="stMetricValue"]').wait_for(timeout=60_000)
            value = prediction.locator('[data-testid="stMetricValue"]').inner_text(timeout=60_000)
            assert value.strip() == "7"
            # Nothing the app serves makes the browser contact another host (fonts, icons, favicon).
            elsewhere = [url for url in requested if not url.startswith((server, "data:", "blob:"))]
            assert requested and not elsewhere
        finally:
            browser.close()
