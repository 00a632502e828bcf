import keras
import numpy as np
import pytest

from model.architecture import build_model
from model.store.mnist import load_mnist
from model.store.storage import read_metadata
from training.checkpoint import STATE_FILE, read_state
from training.cli import CHECKPOINT_DIR, main
from training.config import TrainConfig, preset
from training.optimizer import make_optimizer
from training.train import train

pytestmark = pytest.mark.slow

# Three epochs of 4 batches: a run to interrupt after its second epoch.
CONFIG = TrainConfig(width=0.25, epochs=3, batch_size=50, train_size=200, rotation=5.0, shift=0.0, zoom=0.0)
STEPS = 4


class StopAfterEpoch(keras.callbacks.Callback):
    """Interrupts training like Ctrl-C at the end of an epoch (after the checkpoint is written)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture()
def interrupted(small_mnist, tmp_path):
    """A checkpoint folder holding CONFIG's run, interrupted after epoch 2."""
    folder = tmp_path / "checkpoint"
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, small_mnist, [StopAfterEpoch(2)], checkpoint=folder)
    return folder


def test_an_interrupted_run_keeps_its_last_finished_epoch(interrupted):
    state = read_state(interrupted, CONFIG)
    assert state.epoch == 2 and [row["epoch"] for row in state.history] == [1, 2]
    assert sorted(path.name for path in interrupted.iterdir()) == ["epoch-2.weights.h5", STATE_FILE]
    assert state.seconds >= state.history[0]["seconds"] > 0


def test_a_resumed_run_goes_on_with_its_weights_optimizer_and_history(interrupted, small_mnist):
    saved = read_state(interrupted, CONFIG)
    epochs = []
    model, metadata = train(CONFIG, small_mnist, [StopAfterEpoch(99), _epoch_recorder(epochs)], checkpoint=interrupted)
    assert epochs == [3]
    # The optimizer's step counter came back with the weights: the schedule went on from step 8.
    assert int(model.optimizer.iterations) == CONFIG.epochs * STEPS
    assert [row["epoch"] for row in metadata.history] == [1, 2, 3]
    assert metadata.history[:2] == saved.history
    assert metadata.training_seconds > saved.seconds


def test_resuming_starts_from_the_saved_weights(interrupted, small_mnist):
    saved = build_model(CONFIG.architecture, CONFIG.width, CONFIG.dropout)
    saved.compile(optimizer=make_optimizer(CONFIG, STEPS), loss="sparse_categorical_crossentropy")
    saved.optimizer.build(saved.trainable_variables)
    saved.load_weights(read_state(interrupted, CONFIG).weights_file)
    first_weights = []

    class Capture(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            first_weights.append(np.asarray(self.model.get_layer("conv1").kernel).copy())

    train(CONFIG, small_mnist, [Capture()], checkpoint=interrupted)
    np.testing.assert_array_equal(first_weights[0], np.asarray(saved.get_layer("conv1").kernel))


def test_a_checkpoint_with_other_settings_is_refused(interrupted, small_mnist):
    with pytest.raises(ValueError, match="other settings.*learning_rate"):
        train(CONFIG.replace(learning_rate=0.01), small_mnist, checkpoint=interrupted)


def test_a_crash_while_saving_an_epoch_keeps_the_one_before(small_mnist, tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    real_save = keras.Model.save_weights
    calls = []

    def crash_on_second_save(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as handle:
                handle.write(b"half a file")
            raise KeyboardInterrupt
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", crash_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, small_mnist, checkpoint=folder)
    state = read_state(folder, CONFIG)
    assert state.epoch == 1
    assert sorted(path.name for path in folder.iterdir()) == ["epoch-1.weights.h5", STATE_FILE]


def test_command_line_resumes_only_when_asked(mnist_file, tmp_path, capsys):
    out = tmp_path / "run"
    arguments = [
        "--preset",
        "quick",
        "--epochs",
        "2",
        "--train-size",
        "200",
        "--width",
        "0.25",
        "--mnist",
        str(mnist_file),
        "--out",
        str(out),
    ]
    folder = out / CHECKPOINT_DIR
    config = preset("quick").replace(epochs=2, train_size=200, width=0.25)
    with pytest.raises(KeyboardInterrupt):
        train(config, load_mnist(mnist_file), [StopAfterEpoch(1)], checkpoint=folder)

    assert main(arguments) == 2
    assert "--resume" in capsys.readouterr().err and (folder / STATE_FILE).exists()
    assert main([*arguments, "--resume"]) == 0
    assert [row["epoch"] for row in read_metadata(out).history] == [1, 2]
    assert not folder.exists()


def _epoch_recorder(epochs: list):
    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append(epoch + 1)

    return Epochs()


def test_a_run_interrupted_after_its_last_epoch_only_evaluates(small_mnist, tmp_path):
    folder = tmp_path / "checkpoint"
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, small_mnist, [StopAfterEpoch(3)], checkpoint=folder)
    epochs = []
    model, metadata = train(CONFIG, small_mnist, [_epoch_recorder(epochs)], checkpoint=folder)
    assert epochs == [] and int(model.optimizer.iterations) == CONFIG.epochs * STEPS
    assert [row["epoch"] for row in metadata.history] == [1, 2, 3]
    assert 0.0 <= metadata.test_accuracy <= 1.0
