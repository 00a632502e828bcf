"""The background job runner, on a small subset: real spawned processes, a real registry folder."""

import os
import time

import numpy as np
import pytest

from model.store.registry import DEFAULT_ID, active_version, list_versions, set_active
from model.store.schemas import JobStatus
from model.store.snapshots import read_snapshots
from training.config import CUSTOM, TrainConfig
from training.jobs import JobBusy, JobRunner

pytestmark = pytest.mark.slow

SMALL = TrainConfig(
    width=0.25, epochs=2, batch_size=64, train_size=600, validation_split=0.2, rotation=0.0, shift=0.0, zoom=0.0
)
SLOW = SMALL.replace(epochs=200, train_size=60000, validation_split=0.0)


def wait_for(runner: JobRunner, states: tuple[str, ...], timeout: float = 240.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runner.status()
        if status and status.state in states:
            return status
        time.sleep(0.2)
    pytest.fail(f"job did not reach {states}: {runner.status()}")


def wait_for_batches(runner: JobRunner, timeout: float = 240.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runner.status()
        if status and status.batch > 0:
            return status
        time.sleep(0.2)
    pytest.fail(f"no progress: {runner.status()}")


@pytest.fixture()
def runner(isolated_registry, mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    job_runner = JobRunner()
    yield job_runner
    if job_runner.is_running():
        job_runner.cancel(wait=5)


def test_a_run_reports_progress_and_becomes_a_version(runner):
    drawing = np.zeros((28, 28), np.float32)
    drawing[5:23, 13:15] = 1.0
    runner.start(SMALL, drawing=drawing)
    status = wait_for(runner, ("finished", "failed", "crashed"))
    assert status.state == "finished", status
    assert [row["epoch"] for row in status.history] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(status.history[0])
    versions = {version.id: version for version in list_versions()}
    version = versions[status.version]
    assert version.metadata.config == SMALL.to_dict() and version.metadata.preset == status.preset == CUSTOM
    assert version.metadata.test_accuracy == status.test_accuracy
    # Its training snapshots beside it, from the untrained network to the finished one.
    snapshots = read_snapshots(version.path)
    assert snapshots["steps"][0] == 0 and snapshots["steps"][-1] == 2 * 8  # 480 images in batches of 64
    # The visitor's drawing was watched after one digit of each class, live and in the snapshots.
    assert list(snapshots["probe_labels"]) == [*range(10), -1]
    np.testing.assert_allclose(snapshots["probes"][-1], drawing, atol=1e-3)
    live = runner.live(status)
    assert live is not None and int(live["steps"]) in snapshots["steps"]
    # A new version is not active until the user activates it.
    assert active_version().id == DEFAULT_ID
    assert not runner.is_running()


def test_a_second_start_is_refused_and_cancel_stops_the_run(runner):
    runner.start(SLOW)
    running = wait_for_batches(runner)
    # While it trains, its snapshots go out live: the untrained network's first.
    assert runner.live(running) is not None and int(runner.live(running)["total_steps"]) > 0
    with pytest.raises(JobBusy):
        runner.start(SMALL)
    started = time.monotonic()
    assert runner.cancel(wait=10)
    status = wait_for(runner, ("cancelled", "failed", "crashed", "finished"), timeout=30)
    assert status.state == "cancelled"
    assert time.monotonic() - started < 10
    assert [version.id for version in list_versions()] == [DEFAULT_ID]
    assert not runner.lock_held()


def test_a_killed_run_leaves_registry_and_active_model_intact(runner, isolated_registry):
    runner.start(SMALL.replace(epochs=1, train_size=100, validation_split=0.0))
    finished = wait_for(runner, ("finished",))
    set_active(finished.version)
    before = sorted(path.name for path in isolated_registry.iterdir())

    status = runner.start(SLOW)
    wait_for_batches(runner)
    os.kill(runner.status().pid, 9)
    status = wait_for(runner, ("crashed",), timeout=30)
    assert "no model was written" in status.message
    assert sorted(path.name for path in isolated_registry.iterdir()) == before
    assert active_version().id == finished.version
    # The lock died with the process: a new run may start.
    assert not runner.is_running()


def test_bad_arguments_are_refused_before_anything_starts(runner):
    with pytest.raises(ValueError):
        runner.start({"epochs": 3})
    with pytest.raises(ValueError):
        runner.start(SMALL, threads=0)
    assert runner.status() is None
