"""One real-browser test of the drawing path: `streamlit run app.py`, headless Chromium, a mouse."""

from __future__ import annotations

import os

import pytest

from benchmarks.server import BROWSER_ARGS, CHROMIUM, ServerError, streamlit_server
from model.architecture import build_model
from model.registry import publish_version
from model.schemas import RunMetadata

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
            canvas = page.locator(".digit-canvas canvas")
            canvas.wait_for(timeout=120_000)
            # Once the page has finished running (the router's second run included), the canvas stays.
            running = page.get_by_test_id("stStatusWidget")
            for _ in range(2):
                running.wait_for(state="hidden", timeout=120_000)
                page.wait_for_timeout(1000)
            box = canvas.bounding_box()
            # A seven: the top bar, then the long diagonal, in one stroke.
            points = [(70, 60), (210, 60), (180, 130), (150, 190), (125, 245)]
            page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
            page.mouse.up()
            label = page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True)
            prediction = page.get_by_test_id("stMetric").filter(has=label).get_by_test_id("stMetricValue")
            # A dash until the drawing arrives, then the digit. (While a fragment reruns, its old
            # elements can stay a moment beside the new ones: the first is the one shown.)
            playwright.expect(prediction.first).to_have_text("7", timeout=60_000)
            # Nothing the app serves makes the browser contact another host (fonts, icons, favicon).
            elsewhere = [url for url in requested if not url.startswith((server, "data:", "blob:"))]
            assert requested and not elsewhere
        finally:
            browser.close()


def test_two_visitors_choose_their_own_versions_and_only_the_operator_manages(tmp_path):
    """Two real browser sessions against one server in public mode."""
    if not CHROMIUM.exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("Chromium is not installed: apt-get install -y chromium")
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
            for page in (student, teacher):
                page.get_by_role("link", name="Retrain").click()
                page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
                assert page.get_by_role("button", name="Start training").is_disabled()
            teacher.get_by_test_id("stExpander").get_by_text("Operator", exact=True).click()
            teacher.get_by_label("Password", exact=True).fill("s3cret")
            teacher.get_by_label("Password", exact=True).press("Enter")
            teacher.get_by_role("button", name="Unlock").click()
            teacher.get_by_role("button", name="Lock").wait_for(timeout=60_000)
            playwright.expect(teacher.get_by_role("button", name="Start training")).to_be_enabled(timeout=60_000)
            student.reload()
            student.get_by_role("button", name="Start training").wait_for(timeout=60_000)
            assert student.get_by_role("button", name="Start training").is_disabled()
        finally:
            browser.close()


def accuracy(page) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text="Test accuracy")
    return metric.locator('[data-testid="stMetricValue"]').inner_text(timeout=120_000).strip()
