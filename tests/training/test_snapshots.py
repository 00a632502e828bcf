"""The snapshots of a training run (training/snapshots.py), on tiny runs."""

import keras
import numpy as np
import pytest
from keras import layers

from model.architecture import build_model
from model.runtime.preprocess import from_uint8
from model.store.snapshots import read_snapshots, write_snapshots
from training.config import TrainConfig
from training.job_folder import JobFolder
from training.snapshots import (
    MAP_VALUES,
    POINTS,
    SnapshotRecorder,
    probe_indices,
    recorder_for,
    snapshot_steps,
)
from training.train import train

# 300 training images in batches of 16, for 2 epochs: 38 steps.
SMALL = TrainConfig(width=0.25, epochs=2, batch_size=16, learning_rate=0.003, train_size=300, validation_split=0.0)


@pytest.mark.parametrize("total", [1, 3, 38, 469, 4690, 46900])
def test_snapshots_start_untrained_end_at_the_last_step_and_are_denser_at_the_start(total):
    steps = snapshot_steps(total)
    assert steps[0] == 0 and steps[-1] == total
    assert np.all(np.diff(steps) > 0) and len(steps) <= POINTS
    if total >= 4 * POINTS:
        assert len(steps) >= POINTS - 2
        # Half the snapshots fall in the first 30% of the run.
        assert steps[len(steps) // 2] <= 0.3 * total
    with pytest.raises(ValueError):
        snapshot_steps(0)


def recorded(model: keras.Model, probes: np.ndarray, images: np.ndarray, labels: np.ndarray, times: int, **options):
    """A recorder that took `times` snapshots of an untrained `model` (`options`: the recorder's)."""
    recorder = SnapshotRecorder(probes, images, labels, total_steps=times, **options)
    recorder.set_model(model)
    recorder.on_train_begin()
    for batch in range(times):
        recorder.on_train_batch_end(batch)
    return recorder


@pytest.fixture(scope="module")
def small_run(small_mnist):
    _, (x_test, y_test) = small_mnist
    probes = from_uint8(x_test[probe_indices(y_test)])
    # The run's steps come from Keras.
    recorder = SnapshotRecorder(probes, x_test, y_test)
    model, _ = train(SMALL, small_mnist, [recorder])
    return recorder, recorder.arrays(), model


@pytest.mark.slow
def test_a_run_records_filters_probes_and_the_subset_learning(small_run, small_mnist):
    recorder, arrays, model = small_run
    _, (x_test, y_test) = small_mnist
    frames = len(snapshot_steps(38))
    assert list(arrays["steps"]) == list(snapshot_steps(38))
    # The first convolution's filters, from their random start to what the run ends with.
    assert arrays["filters"].shape[:2] == (frames, model.get_layer("conv1").filters)
    assert not np.allclose(arrays["filters"][0], arrays["filters"][-1])
    np.testing.assert_allclose(
        arrays["filters"][-1], np.transpose(model.get_layer("conv1").get_weights()[0][:, :, 0, :], (2, 0, 1)), atol=1e-2
    )
    # One probe digit per class; their probabilities at the end are the finished model's.
    assert arrays["probes"].shape == (10, 28, 28)
    assert arrays["probe_probabilities"].shape == (frames, 10, 10)
    np.testing.assert_allclose(arrays["probe_probabilities"].astype(np.float32).sum(axis=2), 1.0, atol=1e-2)
    # Batch normalisation on the snapshot's digits, where the finished model's was recalibrated on
    # its training digits: the same answers, within a little.
    finished = model(recorder.probes[..., None], training=False).numpy()
    last = arrays["probe_probabilities"][-1].astype(np.float32)
    assert np.abs(last - finished).mean() < 0.05, np.abs(last - finished).mean()
    # One layer's maps, cut to at most MAP_VALUES values a digit.
    maps = arrays["probe_maps"]
    assert str(arrays["mapped_layer"]) == "pool1" and maps.shape[:2] == (frames, 10)
    assert np.prod(maps.shape[2:]) <= MAP_VALUES
    # The subset: every digit counted once in each confusion matrix, its diagonal the accuracy.
    assert np.all(arrays["confusion"].sum(axis=(1, 2)) == len(y_test))
    diagonal = np.trace(arrays["confusion"], axis1=1, axis2=2) / len(y_test)
    np.testing.assert_allclose(arrays["subset_accuracy"], diagonal, atol=1e-6)
    assert arrays["subset_accuracy"][-1] > arrays["subset_accuracy"][0] + 0.2
    # Each digit's answer in each frame, which the confusion matrices count.
    assert arrays["subset_predictions"].shape == (frames, len(y_test))
    np.testing.assert_allclose((arrays["subset_predictions"] == y_test).mean(axis=1), arrays["subset_accuracy"])
    predicted = model(from_uint8(x_test)[..., None], training=False).numpy().argmax(axis=1)
    assert abs(arrays["subset_accuracy"][-1] - np.mean(predicted == y_test)) <= 0.05
    # The digit map: every frame on the finished model's two principal directions.
    positions = arrays["positions"]
    assert positions.shape == (frames, len(y_test), 2) and np.isfinite(positions).all()
    np.testing.assert_allclose(positions[-1].mean(axis=0), 0.0, atol=1e-2)
    assert positions[-1, :, 0].var() >= positions[-1, :, 1].var()


@pytest.mark.slow
def test_the_shipped_network_s_snapshots_fit_in_five_megabytes(mnist, tmp_path):
    _, (x_test, y_test) = mnist
    probes = from_uint8(x_test[probe_indices(y_test)][:11])
    model = build_model("default")
    recorder = recorded(model, probes, x_test[:1000], y_test[:1000], times=POINTS)
    path = write_snapshots(recorder.arrays(), tmp_path)
    assert path.name == "snapshots.npz" and path.stat().st_size <= 5 * 1024 * 1024
    assert read_snapshots(tmp_path)["positions"].shape[:2] == (len(snapshot_steps(POINTS)), 1000)
    assert [file.name for file in tmp_path.iterdir()] == ["snapshots.npz"]


def test_snapshots_past_their_cap_are_neither_written_nor_read(tmp_path):
    noise = np.random.default_rng(0).random((6 * 2**20 // 4,), np.float32)
    with pytest.raises(ValueError, match="more than 5 MB"):
        write_snapshots({"noise": noise}, tmp_path)
    assert list(tmp_path.iterdir()) == [] and read_snapshots(tmp_path) is None
    (tmp_path / "snapshots.npz").write_bytes(bytes(6 * 2**20))
    with pytest.raises(ValueError, match="larger than 5 MB"):
        read_snapshots(tmp_path)
    (tmp_path / "snapshots.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="cannot be read"):
        read_snapshots(tmp_path)


def test_a_network_without_convolutions_records_no_filters_or_maps(small_mnist):
    _, (x_test, y_test) = small_mnist
    inputs = keras.Input((28, 28, 1))
    hidden = layers.Dense(16, activation="relu")(layers.Flatten()(inputs))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(hidden))
    arrays = recorded(model, from_uint8(x_test[:3]), x_test, y_test, times=5).arrays()
    assert arrays["filters"].shape[1] == 0 and "probe_maps" not in arrays
    assert str(arrays["mapped_layer"]) == "" and arrays["positions"].shape == (6, len(y_test), 2)


def test_a_recorder_that_saw_no_run_has_no_snapshots(small_mnist):
    _, (x_test, y_test) = small_mnist
    assert SnapshotRecorder(from_uint8(x_test[:2]), x_test, y_test).arrays() is None


def test_live_frames_go_out_during_the_run_at_most_as_often_as_asked_and_are_not_computed_again(small_mnist, tmp_path):
    _, (x_test, y_test) = small_mnist
    jobs = JobFolder(tmp_path)
    sent = []

    def on_frame(frame):
        sent.append(frame)
        jobs.write_live("job-1", frame)

    model = build_model("fast", width=0.25)
    drawing = from_uint8(x_test[5])
    recorder = recorder_for((x_test, y_test), drawing, on_frame)
    recorder.live_every = 0.0
    recorder.set_model(model)
    recorder.planned = set(snapshot_steps(6).tolist())
    recorder.on_train_begin()
    for batch in range(6):
        recorder.on_train_batch_end(batch)
    # Every snapshot went out (live_every 0), with the probes: one digit a class, then the drawing.
    assert [int(frame["steps"]) for frame in sent] == list(snapshot_steps(6))
    assert list(sent[0]["probe_labels"]) == [*range(10), -1] and sent[0]["probes"].shape == (11, 28, 28)
    assert int(sent[-1]["total_steps"]) == 6 and sent[-1]["filters"].shape[0] == model.get_layer("conv1").filters
    live = jobs.live("job-1")
    assert int(live["steps"]) == 6 and jobs.live("another-job") is None
    np.testing.assert_array_equal(live["probe_probabilities"], sent[-1]["probe_probabilities"])
    # The frames after the run are the live ones, not computed again.
    computed = []
    recorder._frame = lambda *arguments: computed.append(arguments)
    arrays = recorder.arrays()
    assert computed == [] and list(arrays["probe_labels"]) == [*range(10), -1]
    np.testing.assert_array_equal(arrays["probe_probabilities"][-1], sent[-1]["probe_probabilities"])
    # At most every LIVE_EVERY seconds: a run of six quick steps sends its first frame only.
    sent.clear()
    recorded(model, recorder.probes, x_test, y_test, times=6, on_frame=sent.append)
    assert [int(frame["steps"]) for frame in sent] == [0]


def test_a_live_file_that_cannot_be_read_shows_nothing(tmp_path):
    jobs = JobFolder(tmp_path)
    jobs.path.mkdir()
    assert jobs.live("job-1") is None
    jobs.live_file.write_bytes(b"not an archive")
    assert jobs.live("job-1") is None
