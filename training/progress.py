"""How far a training job has got, and how long it has left, from its `JobStatus`."""

from __future__ import annotations

from dataclasses import dataclass

from model.store.schemas import JobStatus

# Below this fraction done, the time left is too uncertain to show.
ETA_AFTER = 0.02


@dataclass(frozen=True)
class Progress:
    # Fraction of all batches of all epochs done, 0-1.
    done: float
    # Estimated seconds left, or None while too little is done to tell.
    seconds_left: float | None
    # "epoch 2 of 12, batch 30 of 352, 41 s, about 200 s left"
    text: str


def progress(status: JobStatus) -> Progress:
    """The progress of a job: finished epochs plus the finished share of the current one, over all epochs."""
    epochs = status.epochs or 1
    batches = status.batches or 0
    done = (max(status.epoch - 1, 0) + (status.batch / batches if batches else 0.0)) / epochs
    done = min(max(done, 0.0), 1.0)
    seconds_left = status.elapsed / done * (1 - done) if done > ETA_AFTER else None
    left = f", about {seconds_left:.0f} s left" if seconds_left is not None else ""
    if not batches and not status.history:
        plural = "s" if epochs != 1 else ""
        text = f"starting: loading TensorFlow, MNIST and the network ({epochs} epoch{plural} to go)"
        return Progress(done, None, text)
    text = (
        f"epoch {max(status.epoch, 1)} of {epochs}, batch {status.batch} of {batches or '?'}, "
        f"{status.elapsed:.0f} s{left}"
    )
    return Progress(done, seconds_left, text)
