"""A training job's own process, as `training.jobs.JobRunner` starts it:
`python -m training.job_process ARGUMENTS_JSON`.

It takes the registry's training lock for its whole life, runs the training (a run, a
fine-tune or a sweep), reports progress to the job folder's status file and publishes a
finished run as a new version. It runs in the background (nice 10 and SCHED_IDLE), so the
app's own work comes first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from model import settings
from model.runtime.apart import background_priority
from model.store.mnist import load_mnist_and_sha256
from model.store.my_digits import FolderStore, as_arrays
from model.store.registry import ModelVersion, new_version_id, publish_version
from model.store.schemas import JobStatus
from model.store.storage import load_model, read_metadata
from training.config import FineTuneConfig, TrainConfig, preset_name
from training.job_folder import JobFolder
from training.sweep import run_sweep
from training.sweep_plan import Sweep, trial_rows

# Batch progress is written at most this often.
STATUS_INTERVAL = 0.5


class Cancelled(Exception):
    """Raised inside the training loop when a cancel was asked for."""


class _Reporter:
    """Turns the training's progress events into status writes (batches at most every STATUS_INTERVAL)."""

    def __init__(self, jobs: JobFolder, status: JobStatus):
        self.jobs, self.status = jobs, status
        self.last_write = 0.0
        jobs.write(status)

    def __call__(self, event) -> None:
        if self.jobs.cancel_asked():
            raise Cancelled()
        self.status = self.status.replace(
            epoch=event.epoch,
            epochs=event.epochs,
            batch=event.batch,
            batches=event.batches,
            elapsed=event.elapsed,
            message="",
        )
        if event.kind == "epoch":
            self.status = self.status.replace(history=[*self.status.history, {"epoch": event.epoch, **event.logs}])
        elif time.monotonic() - self.last_write < STATUS_INTERVAL:
            return
        self.last_write = time.monotonic()
        self.jobs.write(self.status)

    def end(self, state: str, message: str, **changes) -> None:
        self.status = self.status.replace(state=state, message=message, **changes)
        self.jobs.write(self.status)


@contextlib.contextmanager
def _holding_lock(registry: str) -> Iterator[JobFolder | None]:
    """The registry's training lock, held for the whole block (None when another job holds it:
    the status file is that job's), in the background."""
    settings.quiet_tensorflow()
    background_priority()
    jobs = JobFolder(registry)
    with jobs.training_lock() as taken:
        yield jobs if taken else None


def _cap_threads(threads: int) -> None:
    """TensorFlow, imported once the lock is held and reported (it takes seconds to load), with
    its thread pools capped before anything else touches it."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _live_writer(jobs: JobFolder, job_id: str):
    """The recorder's `on_frame` for a job: each live frame to the job folder, for the Retrain page.
    A frame that cannot be written is skipped: the live view is not worth a run."""

    def write(frame) -> None:
        with contextlib.suppress(OSError, ValueError):
            jobs.write_live(job_id, frame)

    return write


def _drawing(values: list | None):
    """The visitor's drawing sent with a job (784 numbers in [0, 1]) as an image, else None."""
    import numpy as np

    if values is None:
        return None
    image = np.asarray(values, np.float32)
    if image.size != 28 * 28 or not np.isfinite(image).all():
        return None
    return np.clip(image, 0.0, 1.0).reshape(28, 28)


def _train_and_publish(jobs: JobFolder, reporter: _Reporter, work, label: str, done) -> None:
    """Runs `work()` -> (model, metadata, snapshots), then publishes the model as a new version; reports the
    outcome (`done(version, metadata)` says a finished one) and writes no model when it fails."""
    try:
        model, metadata, snapshots = work()
        if jobs.cancel_asked():
            raise Cancelled()
        reporter.end("saving", "Saving the new version...")
        version = publish_version(model, metadata, new_version_id(metadata.preset), jobs.registry, snapshots)
        reporter.end(
            "finished",
            done(version, metadata),
            version=version.id,
            test_accuracy=metadata.test_accuracy,
            finished=time.time(),
        )
    except Cancelled:
        reporter.end("cancelled", "Cancelled; no model was written.", finished=time.time())
    except BaseException as error:  # Anything else: report it, write no model.
        jobs.log_failure(traceback.format_exc())
        reporter.end("failed", f"{label} failed: {type(error).__name__}: {error}", finished=time.time())


def run_job(
    registry: str,
    job_id: str,
    config_values: dict,
    threads: int,
    mnist_path: str | None,
    drawing: list | None = None,
    ray_actor: str | None = None,
) -> None:
    """A training run: holds the lock, trains, reports progress, publishes a version. `ray_actor`
    names the Ray actor it runs in (`training.on_ray`), None in a process of its own."""
    with _holding_lock(registry) as jobs:
        if jobs is None:
            return
        config = TrainConfig.from_dict(config_values)
        reporter = _Reporter(
            jobs,
            JobStatus(
                state="running",
                job=job_id,
                preset=preset_name(config),
                config=config_values,
                started=time.time(),
                pid=os.getpid(),
                ray_actor=ray_actor,
                # No message: the page's progress line says what a run does before its first batch.
                epochs=config.epochs,
            ),
        )

        def work():
            _cap_threads(threads)
            from training.callbacks import ProgressCallback
            from training.snapshots import recorder_for
            from training.train import train

            data, data_sha256 = load_mnist_and_sha256(mnist_path)
            recorder = recorder_for(data[1], _drawing(drawing), _live_writer(jobs, job_id))
            model, metadata = train(config, data, [ProgressCallback(reporter), recorder])
            return model, metadata.replace(data_sha256=data_sha256), recorder.arrays()

        _train_and_publish(jobs, reporter, work, "Training", lambda version, _: f"Saved as version {version.id}.")


def run_fine_tune_job(
    registry: str, job_id: str, finetune: dict, threads: int, mnist_path: str | None, ray_actor: str | None = None
) -> None:
    """A fine-tune: holds the lock, fine-tunes, reports progress, publishes a version whose
    metadata records the data it saw and the accuracies before and after (`ray_actor` as for `run_job`)."""
    with _holding_lock(registry) as jobs:
        if jobs is None:
            return
        config = FineTuneConfig(**finetune["settings"])
        source = finetune["version_id"]
        reporter = _Reporter(
            jobs,
            JobStatus(
                state="running",
                job=job_id,
                kind="finetune",
                preset="fine-tune",
                started=time.time(),
                pid=os.getpid(),
                ray_actor=ray_actor,
                epochs=config.epochs,
                message=f"Loading {source}, your digits, MNIST and TensorFlow...",
            ),
        )

        def work():
            _cap_threads(threads)
            from training.callbacks import ProgressCallback
            from training.finetune import fine_tune
            from training.snapshots import recorder_for

            model_file = Path(finetune["model_file"])
            model = load_model(model_file)
            try:
                source_metadata = read_metadata(model_file.parent)
            except (OSError, ValueError):
                source_metadata = None
            images, labels = as_arrays(FolderStore(finetune["digits_folder"]).examples())
            data, data_sha256 = load_mnist_and_sha256(mnist_path)
            recorder = recorder_for(data[1], _drawing(finetune.get("drawing")), _live_writer(jobs, job_id))
            callbacks = [ProgressCallback(reporter), recorder]
            model, metadata = fine_tune(model, images, labels, data, config, source_metadata, source, callbacks)
            return model, metadata.replace(data_sha256=data_sha256), recorder.arrays()

        def done(version: ModelVersion, metadata) -> str:
            record = metadata.fine_tune
            return (
                f"Saved as version {version.id}. Your {record['own_held_aside']} held-aside digits: "
                f"{record['own_accuracy_before']:.1%} before, {record['own_accuracy_after']:.1%} after; "
                f"MNIST test: {record['mnist_accuracy_before']:.2%} before, "
                f"{record['mnist_accuracy_after']:.2%} after."
            )

        _train_and_publish(jobs, reporter, work, "Fine-tuning", done)


def run_sweep_job(registry: str, job_id: str, sweep_values: dict, threads: int, mnist_path: str | None) -> None:
    """A sweep: holds the lock, runs the sweep's trials through Ray Tune (`threads` at once),
    reports each trial's progress. It publishes nothing: `JobRunner.keep_trial` does."""
    with _holding_lock(registry) as jobs:
        if jobs is not None:
            _sweep(jobs, job_id, sweep_values, threads, mnist_path)


def _sweep(jobs: JobFolder, job_id: str, sweep_values: dict, threads: int, mnist_path: str | None) -> None:
    sweep = Sweep.from_dict(sweep_values)
    status = JobStatus(
        state="running",
        job=job_id,
        kind="sweep",
        preset=preset_name(sweep.base),
        config=sweep.base.to_dict(),
        started=time.time(),
        pid=os.getpid(),
        epochs=sweep.base.epochs,
        sweep=sweep.to_dict()["settings"],
        trials=trial_rows(sweep),
        message="Starting Ray...",
    )
    jobs.write(status)
    shutil.rmtree(jobs.sweep_folder, ignore_errors=True)
    last_write = 0.0

    def report(rows: list[dict]) -> None:
        nonlocal status, last_write
        status = status.replace(trials=rows, message="", elapsed=time.time() - status.started)
        if time.monotonic() - last_write >= STATUS_INTERVAL:
            last_write = time.monotonic()
            jobs.write(status)

    try:
        rows = run_sweep(
            sweep, jobs.sweep_folder, mnist_path, concurrent=threads, on_update=report, should_stop=jobs.cancel_asked
        )
        counts = {name: sum(row["state"] == name for row in rows) for name in ("finished", "stopped early", "failed")}
        message = f"{counts['finished']} of {len(rows)} trials finished"
        if counts["stopped early"]:
            message += f"; ASHA stopped {counts['stopped early']} early"
        if counts["failed"]:
            message += f"; {counts['failed']} failed"
        state = "cancelled" if jobs.cancel_asked() else "finished"
        message = ("Cancelled: " if state == "cancelled" else "") + message + "."
        status = status.replace(trials=rows, state=state, message=message, finished=time.time())
    except BaseException as error:  # Anything else: report it.
        jobs.log_failure(traceback.format_exc())
        status = status.replace(
            state="failed", message=f"The sweep failed: {type(error).__name__}: {error}", finished=time.time()
        )
    finally:
        jobs.write(status.replace(elapsed=time.time() - status.started))


def run_any(arguments: dict) -> None:
    """The job `arguments` describe, as `training.jobs.JobRunner` writes them: a sweep, a fine-tune or a run."""
    if "sweep_values" in arguments:
        run_sweep_job(**arguments)
    elif "finetune" in arguments:
        run_fine_tune_job(**arguments)
    else:
        run_job(**arguments)


if __name__ == "__main__":
    # Through the module proper, not __main__: Ray pickles the sweep's callbacks, and would take
    # this module's classes (and the job folder's locks) by value from __main__.
    from training import job_process

    job_process.run_any(json.loads(sys.argv[1]))
