"""Runs and fine-tunes on a Ray cluster when `RAY_ADDRESS` is set (issue 33, item 2): a Ray head
and a second node on this machine, as deploy.local starts them; real processes, a real registry."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local import ray_cluster
from model.store.my_digits import FolderStore
from model.store.registry import default_version, list_versions
from tests.training.test_jobs import SLOW, SMALL, wait_for, wait_for_batches
from training.config import MIN_DIGITS, FineTuneConfig
from training.jobs import JobRunner
from training.on_ray import actor_name

pytestmark = [pytest.mark.slow, pytest.mark.processes]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ray_cluster(tmp_path_factory.mktemp("ray"), {}, nodes=2) as address:
        yield address


@pytest.fixture()
def runner(cluster, isolated_registry, mnist_file, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", cluster)
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    job_runner = JobRunner()
    yield job_runner
    if job_runner.is_running():
        job_runner.cancel(wait=5)


def parent_command(pid: int) -> str:
    """The command line of process `pid`'s parent."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    parent = int(fields["PPid"])
    return Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def actor_exists(name: str) -> bool:
    """Whether the cluster still has the named actor (`training.on_ray kill` says 1 when it has none).
    Only called once the job ended, so it kills nothing that runs."""
    done = subprocess.run([sys.executable, "-m", "training.on_ray", "kill", name], capture_output=True, timeout=120)
    return done.returncode == 0


def test_a_run_on_ray_belongs_to_the_cluster_and_becomes_a_version(runner):
    status = runner.start(SMALL)
    # A Ray worker trains it (its parent is a raylet), not a process of the server's.
    assert status.ray_actor == actor_name(status.job)
    assert status.pid != os.getpid() and "raylet" in parent_command(status.pid)
    status = wait_for(runner, ("finished", "failed", "crashed"))
    assert status.state == "finished", status
    assert status.version in {version.id for version in list_versions()}
    # Its actor ended with the job, and gave its CPU back.
    assert not actor_exists(status.ray_actor)


def test_a_run_on_ray_is_cancelled_and_one_that_does_not_stop_is_killed(runner, isolated_registry):
    before = {version.id for version in list_versions()}
    runner.start(SLOW)
    wait_for_batches(runner)
    assert runner.cancel()
    assert runner.status().state == "cancelled"
    # Stopped, it reads no cancel flag: after the wait, Ray kills its actor.
    runner.start(SLOW)
    status = wait_for_batches(runner)
    os.kill(status.pid, signal.SIGSTOP)
    try:
        assert runner.cancel(wait=3)
        status = runner.status()
        assert status.state == "cancelled" and "stopped" in status.message
        assert not runner.lock_held() and not actor_exists(status.ray_actor)
    finally:
        # Gone already unless the kill failed.
        if Path(f"/proc/{status.pid}").exists():
            os.kill(status.pid, signal.SIGKILL)
    assert {version.id for version in list_versions()} == before


def test_a_fine_tune_runs_on_ray_too(runner, tmp_path, mnist):
    (x_train, y_train), _ = mnist
    store = FolderStore(tmp_path / "mine")
    for index in range(MIN_DIGITS):
        store.add(x_train[index].astype("float32") / 255, int(y_train[index]))
    status = runner.start_fine_tune(default_version(), tmp_path / "mine", FineTuneConfig(epochs=1))
    assert status.kind == "finetune" and status.ray_actor == actor_name(status.job)
    assert "raylet" in parent_command(status.pid)
    wait_for_batches(runner)
    assert runner.cancel() and runner.status().state == "cancelled"


def test_no_cluster_at_the_address_fails_with_the_reason(isolated_registry, mnist_file, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    runner = JobRunner()
    with pytest.raises(RuntimeError, match="Ray cluster at 127.0.0.1:9"):
        runner.start(SMALL, mnist_path=mnist_file, timeout=10)
    status = runner.status()
    assert status.state == "failed" and "Ray cluster at 127.0.0.1:9" in status.message
    assert not runner.is_running()
