"""One real-browser test of the drawing path: `streamlit run app.py`, headless Chromium, a mouse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    """Our own Streamlit server on a free localhost port, stopped by its PID afterwards."""
    port = free_port()
    env = {**os.environ, "MODEL_REGISTRY": str(tmp_path / "registry"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed after the server stops.
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_drawing_a_seven_with_the_mouse_predicts_seven(server):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server}/draw", timeout=120_000)
            # The first request to a fresh server goes straight to a page: the router still runs.
            page.locator('[data-testid="stSidebarNav"]', has_text="Feature maps").wait_for(timeout=120_000)
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
        finally:
            browser.close()
