"""Fine-tuning on MNIST plus your own digits: the split, the settings, and a real fine-tune of
the shipped model on a few hundred synthetic "own" digits, as a background job."""

import numpy as np
import pytest

from model.analysis.robustness import transformed
from model.runtime.preprocess import from_uint8
from model.store.my_digits import FolderStore
from model.store.registry import default_version, list_versions
from tests.training.test_jobs import wait_for
from training.config import MIN_DIGITS, FineTuneConfig
from training.finetune import split_own
from training.jobs import JobRunner


def test_a_fifth_is_held_aside_and_too_few_digits_are_refused():
    train, aside = split_own(np.arange(100) % 10, 0.2, seed=0)
    assert len(aside) == 20 and len(train) == 80 and not set(train) & set(aside)
    assert set(split_own(np.arange(100) % 10, 0.2, seed=0)[1]) == set(aside)
    train, aside = split_own(np.zeros(MIN_DIGITS), 0.01, seed=0)
    assert len(aside) == 1 and len(train) == MIN_DIGITS - 1
    with pytest.raises(ValueError, match=f"at least {MIN_DIGITS}"):
        split_own(np.zeros(MIN_DIGITS - 1), 0.2, seed=0)
    for changes in ({"epochs": 0}, {"learning_rate": 0.5}, {"held_out": 1.0}, {"own_share": 0.0}):
        with pytest.raises(ValueError):
            FineTuneConfig(**changes)


def slanted_and_thick(image) -> np.ndarray:
    """One consistent distortion, as a person's own handwriting might have: slanted and thick."""
    slanted = transformed(from_uint8(image), "rotation", np.array([-30.0]))[0]
    return transformed(slanted, "thickness", np.array([1.0]))[0]


@pytest.mark.slow
def test_fine_tuning_on_own_digits_helps_on_them_and_keeps_mnist(isolated_registry, mnist, mnist_file, tmp_path):
    (x_train, y_train), _ = mnist
    store = FolderStore(tmp_path / "mine")
    # 300 training digits, slanted and thick: the shipped model gets fewer of them right.
    for index in range(300):
        store.add(slanted_and_thick(x_train[index]), int(y_train[index]))
    with pytest.raises(ValueError, match="at least"):
        JobRunner().start_fine_tune(default_version(), tmp_path / "empty", mnist_path=mnist_file)
    runner = JobRunner()
    runner.start_fine_tune(default_version(), tmp_path / "mine", FineTuneConfig(epochs=1), mnist_path=mnist_file)
    status = wait_for(runner, ("finished", "failed", "crashed", "cancelled"), timeout=600)
    assert status.state == "finished" and status.kind == "finetune", status.message
    version = next(version for version in list_versions() if version.id == status.version)
    record = version.metadata.fine_tune
    assert record["from_version"] == "default" and record["own_digits"] == 300 and record["own_held_aside"] == 60
    # Better on the held-aside digits, and MNIST's test accuracy within 0.1 point of before.
    assert record["own_accuracy_after"] >= record["own_accuracy_before"] + 0.05
    assert record["mnist_accuracy_after"] >= record["mnist_accuracy_before"] - 0.001
    assert version.metadata.test_accuracy == record["mnist_accuracy_after"]
    assert "held-aside digits" in status.message
