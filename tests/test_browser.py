"""One real-browser test of the drawing path: `streamlit run app.py`, headless Chromium, a mouse."""

from __future__ import annotations

import math
import os

import pytest

from benchmarks.draw_latency import CANVAS, stroke
from benchmarks.server import BROWSER_ARGS, CHROMIUM, ServerError, streamlit_server
from model.architecture import build_model
from model.store.registry import publish_version
from model.store.schemas import RunMetadata
from tests.pages.test_app_how_it_learned import publish_replayed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture()
def server(tmp_path):
    """Our own Streamlit server on a free localhost port, stopped by its PID afterwards."""
    try:
        with streamlit_server({"MODEL_REGISTRY": str(tmp_path / "registry")}, log=tmp_path / "streamlit.log") as url:
            yield url
    except ServerError as error:
        pytest.fail(str(error))


def ellipse(centre_x: float, centre_y: float, radius_x: float, radius_y: float, points: int = 28) -> list:
    return [
        (
            centre_x + radius_x * math.sin(2 * math.pi * i / points),
            centre_y - radius_y * math.cos(2 * math.pi * i / points),
        )
        for i in range(points + 1)
    ]


def placed(strokes: list, scale: float, left: float, top: float) -> list:
    """The strokes of a digit drawn smaller, at (left, top) of the canvas."""
    return [[(x * scale + left, y * scale + top) for x, y in points] for points in strokes]


# Digits as strokes on the 280x280 canvas: lists of points, one list a stroke.
SEVEN = [[(70, 60), (210, 60), (180, 130), (150, 190), (125, 245)]]
TWO = [[(80, 90), (100, 55), (140, 45), (180, 60), (190, 100), (170, 140), (80, 235), (210, 235)]]
THREE = [[(80, 60), (130, 40), (180, 60), (180, 100), (130, 135), (185, 160), (190, 210), (140, 245), (80, 225)]]
DIGITS = [
    ("1", [[(145, 35), (140, 245)]]),
    ("7", SEVEN),
    ("0", [ellipse(140, 140, 62, 100)]),
    ("4", [[(105, 40), (80, 165), (210, 165)], [(180, 70), (180, 250)]]),
    # Small and off-centre: in the top-left and bottom-right corners.
    ("2", placed(TWO, 0.4, 10, 10)),
    ("3", placed(THREE, 0.4, 160, 150)),
]


# How far the page is scrolled: Streamlit scrolls its main area, not the window.
SCROLLED = (
    "() => [...document.querySelectorAll('*')].reduce((total, element) => total + element.scrollTop, window.scrollY)"
)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        # CI installs Chromium (.ci/run): there, a missing browser is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("Chromium is not installed: apt-get install -y chromium")


def open_draw_page(page, url: str):
    """Opens the Draw page and waits until it has finished running; returns the canvas's box."""
    page.goto(f"{url}/draw", timeout=120_000)
    # The first request to a fresh server goes straight to a page: app.py's router still serves it
    # (pages/ui/routing.py): its page title, set in app.py only, and still the Draw page.
    page.wait_for_function("document.title === 'Inside a digit CNN'", timeout=120_000)
    page.get_by_role("heading", name="Draw a digit").wait_for(timeout=120_000)
    assert page.url.endswith("/draw")
    canvas = page.locator(CANVAS)
    canvas.wait_for(timeout=120_000)
    # Once the page has finished running (the router's second run included), the canvas stays.
    running = page.get_by_test_id("stStatusWidget")
    for _ in range(2):
        running.wait_for(state="hidden", timeout=120_000)
        page.wait_for_timeout(1000)
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def prediction(page):
    label = page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True)
    # While a fragment reruns, its old elements can stay a moment beside the new ones: the first is the one shown.
    return page.get_by_test_id("stMetric").filter(has=label).get_by_test_id("stMetricValue").first


def use_toolbar(page, button: str) -> None:
    """Clicks a button of the canvas's toolbar, which shows while the pointer is over the canvas."""
    page.locator(CANVAS).hover()
    page.get_by_role("button", name=button, exact=True).click()


def test_digits_drawn_with_the_mouse_are_predicted_and_the_toolbar_undoes_redoes_and_clears(server):
    require_chromium()
    from playwright import sync_api as playwright

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requested = []
            page.on("request", lambda request: requested.append(request.url))
            box = open_draw_page(page, server)
            shown = prediction(page)
            for digit, strokes in DIGITS:
                for points in strokes:
                    stroke(page, box, points, steps=8)
                playwright.expect(shown, f"the drawn {digit}").to_have_text(digit, timeout=60_000)
                use_toolbar(page, "Reset canvas & history")
                playwright.expect(shown).to_have_text("–", timeout=60_000)
            # A seven's diagonal alone is a one; its top bar makes it a seven; undo and redo follow.
            stroke(page, box, [(205, 60), (175, 130), (150, 190), (130, 245)], steps=8)
            playwright.expect(shown).to_have_text("1", timeout=60_000)
            stroke(page, box, [(70, 60), (205, 60)], steps=8)
            playwright.expect(shown).to_have_text("7", timeout=60_000)
            use_toolbar(page, "Undo")
            playwright.expect(shown).to_have_text("1", timeout=60_000)
            use_toolbar(page, "Redo")
            playwright.expect(shown).to_have_text("7", timeout=60_000)
            # Nothing the app serves makes the browser contact another host (fonts, icons, favicon).
            elsewhere = [url for url in requested if not url.startswith((server, "data:", "blob:"))]
            assert requested and not elsewhere
        finally:
            browser.close()


def test_a_drawing_is_still_on_the_canvas_after_another_page_takes_more_strokes_and_can_be_emptied(server):
    require_chromium()
    from playwright import sync_api as playwright

    # The red of every pixel of the layer Fabric.js draws the strokes on (in the component's shadow root).
    ink = (
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return s; }"
    )
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            box = open_draw_page(page, server)
            # A seven's diagonal alone is a one.
            stroke(page, box, [(205, 60), (175, 130), (150, 190), (130, 245)], steps=8)
            playwright.expect(prediction(page)).to_have_text("1", timeout=60_000)
            drawn = page.locator("canvas.dc-canvas.lower-canvas").evaluate(ink)
            page.get_by_test_id("stSidebarNav").get_by_text("Feature maps", exact=True).click()
            page.get_by_role("heading", name="Feature maps").wait_for(timeout=120_000)
            page.get_by_test_id("stSidebarNav").get_by_text("Draw", exact=True).click()
            page.get_by_role("heading", name="Draw a digit").wait_for(timeout=120_000)
            page.locator(CANVAS).wait_for(timeout=120_000)
            playwright.expect(prediction(page)).to_have_text("1", timeout=60_000)
            assert page.locator("canvas.dc-canvas.lower-canvas").evaluate(ink) > 0.9 * drawn > 0
            # The kept strokes are part of the drawing: its top bar makes it a seven.
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=120_000)
            page.locator(CANVAS).scroll_into_view_if_needed()
            box = page.locator(CANVAS).bounding_box()
            stroke(page, box, [(70, 60), (205, 60)], steps=8)
            playwright.expect(prediction(page)).to_have_text("7", timeout=60_000)
            # The bin goes back to the drawing from before; "Start a new drawing" empties the canvas.
            page.get_by_role("button", name="Start a new drawing").click()
            playwright.expect(prediction(page)).to_have_text("–", timeout=60_000)
            playwright.expect(page.get_by_role("button", name="Start a new drawing")).to_have_count(0, timeout=60_000)
            assert page.locator("canvas.dc-canvas.lower-canvas").evaluate(ink) == 0
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=120_000)
            box = page.locator(CANVAS).bounding_box()
            stroke(page, box, [(205, 60), (175, 130), (150, 190), (130, 245)], steps=8)
            playwright.expect(prediction(page)).to_have_text("1", timeout=60_000)
        finally:
            browser.close()


def test_a_seven_drawn_with_a_finger_on_a_phone_is_predicted_and_the_page_stays_still(server, tmp_path):
    require_chromium()
    from playwright import sync_api as playwright

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            box = open_draw_page(page, server)
            touch = context.new_cdp_session(page)

            def swipe(points: list[tuple[float, float]]) -> int:
                """One finger along `points` (page coordinates); returns how far the page scrolled."""
                before = page.evaluate(SCROLLED)
                kinds = ["touchStart"] + ["touchMove"] * (len(points) - 1)
                for kind, (x, y) in zip(kinds, points):
                    touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
                    page.wait_for_timeout(16)
                touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
                page.wait_for_timeout(500)
                return page.evaluate(SCROLLED) - before

            def on_canvas(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
                dense = []
                for (x0, y0), (x1, y1) in zip(points, points[1:]):
                    dense += [(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8) for t in range(8)]
                return [(box["x"] + x, box["y"] + y) for x, y in [*dense, points[-1]]]

            # The same upward swipe beside the canvas scrolls the page: the test can see a scroll.
            beside = [(box["x"] + box["width"] / 2, box["y"] + box["height"] + 120 - 10 * step) for step in range(12)]
            assert swipe(beside) > 0
            box = page.locator(CANVAS).bounding_box()
            assert swipe(on_canvas(SEVEN[0])) == 0
            playwright.expect(prediction(page)).to_have_text("7", timeout=60_000)
            page.screenshot(path=str(tmp_path / "phone.png"))
        finally:
            browser.close()


def test_two_visitors_choose_their_own_versions_and_only_the_operator_manages(tmp_path):
    """Two real browser sessions against one server in public mode."""
    require_chromium()
    from playwright import sync_api as playwright

    registry = tmp_path / "registry"
    metadata = RunMetadata(test_accuracy=0.1234, created="2026-11-25T00:00:00")
    publish_version(build_model("default", width=0.25), metadata, "tiny-version", registry=registry)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('operator_password = "s3cret"\n')
    environment = {"MODEL_REGISTRY": str(registry), "DIGITS_PUBLIC": "1"}
    with (
        streamlit_server(environment, log=tmp_path / "streamlit.log", options=["--secrets.files", str(secrets)]) as url,
        playwright.sync_playwright() as driver,
    ):
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            student, teacher = (browser.new_context().new_page() for _ in range(2))
            for page in (student, teacher):
                page.goto(url, timeout=120_000)
            assert accuracy(student) == accuracy(teacher) == "99.71%"

            # The student picks the other version: only the student's pages change.
            student.get_by_role("combobox", name="Model version").click()
            student.get_by_role("option", name="tiny-version").click()
            student.get_by_text("12.34%").wait_for(timeout=60_000)
            teacher.reload()
            assert accuracy(teacher) == "99.71%"
            student.get_by_role("link", name="Confusion matrix").click()
            student.get_by_role("heading", name="Confusion matrix").wait_for(timeout=60_000)
            student.get_by_role("link", name="Home").click()
            assert accuracy(student) == "12.34%"

            # Neither may train until the teacher unlocks with the password; the student stays locked.
            # A visitor's training settings are folded under one line (issue 30, item 8).
            for page in (student, teacher):
                page.get_by_role("link", name="Retrain").click()
                open_folded_settings(page)
                assert page.get_by_role("button", name="Start training").is_disabled()
            teacher.get_by_test_id("stExpander").get_by_text("Operator", exact=True).click()
            teacher.get_by_label("Password", exact=True).fill("s3cret")
            teacher.get_by_label("Password", exact=True).press("Enter")
            teacher.get_by_role("button", name="Unlock").click()
            teacher.get_by_role("button", name="Lock").wait_for(timeout=60_000)
            playwright.expect(teacher.get_by_role("button", name="Start training")).to_be_enabled(timeout=60_000)
            student.reload()
            open_folded_settings(student)
            assert student.get_by_role("button", name="Start training").is_disabled()
        finally:
            browser.close()


def open_folded_settings(page) -> None:
    """Opens a public visitor's "Training settings (operator)" in the Retrain sidebar."""
    page.get_by_text("Training settings (operator)", exact=True).click(timeout=60_000)
    page.get_by_role("button", name="Start training").wait_for(timeout=60_000)


def accuracy(page) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text="Test accuracy")
    return metric.locator('[data-testid="stMetricValue"]').inner_text(timeout=120_000).strip()


def test_a_click_on_a_probe_digit_in_the_replay_opens_it_on_feature_maps(tmp_path, small_mnist):
    """How it learned: a click anywhere on a probe digit's row of the answers (AppTest cannot click a chart)."""
    require_chromium()
    from playwright import sync_api as playwright

    registry = tmp_path / "registry"
    publish_replayed(*small_mnist[1], registry=registry)
    (registry / "active.json").write_text('{"id": "replayed"}')
    with (
        streamlit_server({"MODEL_REGISTRY": str(registry)}, log=tmp_path / "streamlit.log") as url,
        playwright.sync_playwright() as driver,
    ):
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, timeout=120_000)
            page.get_by_role("link", name="How it learned").click()
            chart = page.get_by_test_id("stPlotlyChart").filter(has_text="the network's answer")
            chart.wait_for(timeout=120_000)
            chart.scroll_into_view_if_needed()
            # The middle of the plot area, at the height of the row named "a 3".
            area = chart.locator(".nsewdrag").first.bounding_box()
            row = chart.locator(".ytick text", has_text="a 3").bounding_box()
            page.mouse.click(area["x"] + area["width"] / 2, row["y"] + row["height"] / 2)
            page.get_by_role("heading", name="Feature maps").wait_for(timeout=120_000)
            page.get_by_text("probe digit a 3 from replayed's training").first.wait_for(timeout=60_000)
        finally:
            browser.close()
