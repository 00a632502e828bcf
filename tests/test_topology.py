"""Replicas behind nginx, as deploy/local.py starts them: sticky sessions, one shared registry,
training on Ray that outlives the replica which started it, a replica lost. Real processes and
a real browser (issue 33); CI installs nginx as it does Chromium."""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import time
import urllib.request

import pytest

from benchmarks.server import BROWSER_ARGS, CHROMIUM
from deploy.local import local_topology
from tests.test_browser import require_chromium
from training.jobs import JobRunner

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.processes]


def require_nginx() -> None:
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        (pytest.fail if os.environ.get("CI") else pytest.skip)("nginx is not installed: apt-get install -y nginx")


def replica_of(opener, url: str) -> str:
    """The replica that answered a request made with `opener`'s cookies (nginx names it)."""
    with opener.open(f"{url}/_stcore/health", timeout=30) as response:
        return response.headers["X-Digits-Replica"]


def visitor():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


@pytest.fixture()
def topology(tmp_path, mnist_file):
    require_nginx()
    require_chromium()
    environment = {"MNIST_PATH": str(mnist_file)}
    with local_topology(tmp_path / "registry", replicas=3, environment=environment, ray_nodes=2) as started:
        yield started
    # Every process it started is gone.
    assert all(replica.process.poll() is not None for replica in started.replicas)
    assert started.proxy.poll() is not None


def test_sessions_stick_to_a_replica_share_a_registry_and_survive_a_lost_one(topology):
    from playwright import sync_api as playwright

    url = topology.url
    # Each visitor's requests all reach one replica; visitors are spread over the replicas.
    visitors = [visitor() for _ in range(12)]
    homes = [replica_of(one, url) for one in visitors]
    for one, home in zip(visitors, homes):
        assert {replica_of(one, url) for _ in range(5)} == {home}
    assert len(set(homes)) >= 2

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            first, second = (browser.new_context().new_page() for _ in range(2))
            # A training started from the page on replica 1 runs on Ray and shows its progress on replica 2.
            first.goto(f"{topology.replicas[0].url}/retrain", timeout=120_000)
            first.get_by_role("button", name="Start training").click(timeout=120_000)
            second.goto(f"{topology.replicas[1].url}/retrain", timeout=120_000)
            second.get_by_text("Training", exact=True).first.wait_for(timeout=120_000)
            second.get_by_text("epoch 1 of").first.wait_for(timeout=180_000)
            runner = JobRunner(topology.registry)
            assert runner.status().ray_actor
            # Replica 1 dies: the run goes on, and replica 2 cancels it.
            first.close()
            topology.replicas[0].process.kill()
            topology.replicas[0].process.wait()
            batch = runner.status().batch
            deadline = time.monotonic() + 60
            while runner.status().batch == batch and time.monotonic() < deadline:
                time.sleep(0.5)
            assert runner.status().state == "running" and runner.status().batch != batch
            second.get_by_role("button", name="Cancel").click()
            second.get_by_text("Cancelled").first.wait_for(timeout=120_000)

            # Through the proxy, a visitor whose replica is killed gets another after a reload.
            page = browser.new_context().new_page()
            page.goto(url, timeout=120_000)
            page.get_by_text("The model you are looking at").wait_for(timeout=120_000)
            cookie = next(c for c in page.context.cookies() if c["name"] == "digits_route")
            served = page.request.get(f"{url}/_stcore/health").headers["x-digits-replica"]
            victim = next(replica for replica in topology.replicas[1:] if served.endswith(f":{replica.port}"))
            victim.process.kill()
            victim.process.wait()
            page.reload()
            page.get_by_text("The model you are looking at").wait_for(timeout=120_000)
            now = page.request.get(f"{url}/_stcore/health").headers["x-digits-replica"]
            assert now != served and cookie["value"]
        finally:
            browser.close()
