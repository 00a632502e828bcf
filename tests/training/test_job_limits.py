"""What a training job checks before it spawns anything (fast: no process is started)."""

import pytest

from model.architecture import build_model
from model.store.registry import RegistryFull, publish_version
from model.store.schemas import RunMetadata
from training.config import TrainConfig
from training.jobs import JobRunner, training_threads


def test_a_full_registry_refuses_a_run_before_it_starts(isolated_registry, monkeypatch):
    monkeypatch.setenv("DIGITS_MAX_VERSIONS", "1")
    publish_version(build_model("default", width=0.25), RunMetadata(), "only")
    runner = JobRunner()
    with pytest.raises(RegistryFull, match="delete one first"):
        runner.start(TrainConfig(epochs=1))
    assert runner.status() is None


def test_training_threads_come_from_the_operator_setting(monkeypatch):
    import os

    monkeypatch.delenv("DIGITS_TRAIN_THREADS", raising=False)
    assert training_threads() == os.cpu_count()
    monkeypatch.setenv("DIGITS_TRAIN_THREADS", "2")
    assert training_threads() == 2
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv("DIGITS_TRAIN_THREADS", bad)
        with pytest.raises(ValueError, match="DIGITS_TRAIN_THREADS"):
            training_threads()
