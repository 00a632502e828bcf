import pytest

from model.store.schemas import JobStatus
from training.progress import progress


def status(**fields) -> JobStatus:
    return JobStatus(state="running", job="abc", **fields)


def test_progress_counts_finished_epochs_and_the_batches_of_the_current_one():
    shown = progress(status(epoch=3, epochs=4, batch=50, batches=100, elapsed=250.0))
    # Two epochs and a half of four.
    assert shown.done == pytest.approx(2.5 / 4)
    # 250 s for 62.5%: 150 s to go.
    assert shown.seconds_left == pytest.approx(150.0)
    assert shown.text == "epoch 3 of 4, batch 50 of 100, 250 s, about 150 s left"


def test_no_estimate_before_there_is_enough_to_go_on():
    shown = progress(status(epoch=1, epochs=100, batch=1, batches=100, elapsed=2.0))
    assert shown.done == pytest.approx(0.0001) and shown.seconds_left is None
    assert "left" not in shown.text


def test_a_starting_job_shows_nothing_done_and_unknown_batches():
    shown = progress(JobStatus(state="starting", job="abc", epochs=5))
    assert (shown.done, shown.seconds_left) == (0.0, None)
    # Issue 30, item 4: "batch 0 of ?, 0 s" looked hung; it says what the process is doing.
    assert shown.text == "starting: loading TensorFlow, MNIST and the network (5 epochs to go)"


def test_progress_never_leaves_zero_to_one():
    assert progress(status(epoch=9, epochs=4, batch=10, batches=10, elapsed=1.0)).done == 1.0
