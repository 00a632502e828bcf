"""Background training jobs: one at a time per registry, in a separate (spawned) process.

The job writes its progress to a status file that any page can poll. A lock file, held by
the training process for its whole life (the kernel releases it if the process dies),
keeps a second job from starting. Finished runs become versions in the registry; a
cancelled, failed or killed run leaves the registry as it was.

    runner = JobRunner()
    runner.start(TrainConfig(epochs=3))
    runner.status()   # {"state": "running", "epoch": 1, ...}
    runner.cancel()
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import threading
import time
import traceback
from pathlib import Path

from model.registry import new_version_id, publish_version, registry_dir
from model.storage import read_json, write_json
from training.config import TrainConfig

JOB_FOLDER = ".job"
STATUS_FILE = "status.json"
LOCK_FILE = "lock"
CANCEL_FILE = "cancel"
LOG_FILE = "job.log"
# States of a job; "crashed" is what a reader sees when the process died without saying so.
ACTIVE = ("starting", "running", "saving")
FINISHED = ("finished", "cancelled", "failed", "crashed")
# Batch progress is written at most this often.
STATUS_INTERVAL = 0.5

_start_lock = threading.Lock()


class JobBusy(RuntimeError):
    """A training job is running already."""


class Cancelled(Exception):
    """Raised inside the training loop when a cancel was asked for."""


class JobRunner:
    def __init__(self, registry: str | os.PathLike | None = None):
        self.registry = Path(registry) if registry is not None else registry_dir()
        self.folder = self.registry / JOB_FOLDER

    # Reading.

    def lock_held(self) -> bool:
        """Whether a training process holds the lock now."""
        path = self.folder / LOCK_FILE
        if not path.exists():
            return False
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def status(self) -> dict | None:
        """The last job's status, or None if there never was one.

        A job that says it is active but whose process no longer holds the lock (killed,
        out of memory, machine restarted) is reported as "crashed".
        """
        try:
            status = read_json(self.folder / STATUS_FILE)
        except (OSError, ValueError):
            return None
        if status.get("state") in ACTIVE and not self.lock_held() and not _starting(status):
            status = {**status, "state": "crashed",
                      "message": "The training process stopped without finishing; no model was written."}
        return status

    def is_running(self) -> bool:
        status = self.status()
        return status is not None and status.get("state") in ACTIVE

    # Acting.

    def start(self, config: TrainConfig, label: str = "custom", threads: int = 1,
              mnist_path: str | os.PathLike | None = None, timeout: float = 120.0) -> dict:
        """Starts training `config` in a new process; raises JobBusy if a job is running.

        `threads` caps TensorFlow's thread pools, so the app stays responsive. Returns the
        first status once the process holds the lock.
        """
        if not isinstance(config, TrainConfig):
            raise ValueError("config must be a TrainConfig.")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError("threads must be a positive integer.")
        with _start_lock:
            if self.is_running():
                raise JobBusy("A training run is in progress already; wait for it or cancel it.")
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / CANCEL_FILE).unlink(missing_ok=True)
            job_id = f"{int(time.time() * 1000):x}"
            write_json({"state": "starting", "job": job_id, "label": label, "config": config.to_dict(),
                        "started": time.time(), "history": []}, self.folder / STATUS_FILE)
            context = multiprocessing.get_context("spawn")
            locked = context.Event()
            source = str(mnist_path) if mnist_path is not None else os.environ.get("MNIST_PATH")
            process = context.Process(
                target=run_job, name=f"training-{job_id}", daemon=False,
                args=(str(self.registry), job_id, label, config.to_dict(), threads, source, locked),
            )
            process.start()
            deadline = time.monotonic() + timeout
            while not locked.wait(0.1):
                if not process.is_alive() or time.monotonic() > deadline:
                    if process.is_alive():
                        process.kill()
                    status = self.status() or {}
                    if status.get("state") not in FINISHED:
                        self._write({**status, "state": "failed",
                                     "message": "The training process did not start."})
                    raise RuntimeError("The training process did not start.")
            # Reap the process when it ends, so it never lingers as a zombie.
            threading.Thread(target=process.join, daemon=True).start()
            return self.status()

    def cancel(self, wait: float = 10.0) -> bool:
        """Asks the running job to stop; kills it if it has not stopped after `wait` seconds.

        Returns True if a job was running.
        """
        status = self.status()
        if status is None or status.get("state") not in ACTIVE:
            return False
        (self.folder / CANCEL_FILE).touch()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and self.lock_held():
            time.sleep(0.1)
        if self.lock_held() and status.get("pid"):
            with contextlib.suppress(OSError):
                os.kill(int(status["pid"]), 9)
            while self.lock_held() and time.monotonic() < deadline + 5:
                time.sleep(0.1)
            self._write({**(self.status() or status), "state": "cancelled",
                         "message": "Cancelled (the process was stopped); no model was written."})
        return True

    def _write(self, status: dict) -> None:
        write_json(status, self.folder / STATUS_FILE)


def _starting(status: dict) -> bool:
    """A job in its first seconds, before its process holds the lock."""
    return status.get("state") == "starting" and time.time() - float(status.get("started", 0)) < 120


def run_job(registry: str, job_id: str, label: str, config_values: dict, threads: int,
            mnist_path: str | None, locked=None) -> None:
    """The training process: holds the lock, trains, reports progress, publishes a version."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with contextlib.suppress(OSError):
        os.nice(10)
    runner = JobRunner(registry)
    folder = runner.folder
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 - held until this process exits.
    fcntl.flock(lock, fcntl.LOCK_EX)
    config = TrainConfig.from_dict(config_values)
    status = {"state": "running", "job": job_id, "label": label, "pid": os.getpid(), "config": config_values,
              "started": time.time(), "epoch": 0, "epochs": config.epochs, "batch": 0, "batches": None,
              "elapsed": 0.0, "history": [], "message": "Loading MNIST and TensorFlow..."}
    runner._write(status)
    if locked is not None:
        locked.set()
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        from training.data import data_source_sha256, load_mnist
        from training.train import make_progress_callback, train

        data = load_mnist(mnist_path)
        last_write = [0.0]

        def on_progress(event: dict) -> None:
            if (folder / CANCEL_FILE).exists():
                raise Cancelled()
            now = time.monotonic()
            status.update(epoch=event["epoch"], epochs=event["epochs"], batch=event["batch"],
                          batches=event["batches"], elapsed=event["elapsed"], message="")
            if event["kind"] == "epoch":
                status["history"] = [*status["history"], {"epoch": event["epoch"], **event["logs"]}]
            elif now - last_write[0] < STATUS_INTERVAL:
                return
            last_write[0] = now
            runner._write(status)

        model, metadata = train(config, data, [make_progress_callback(on_progress)])
        if (folder / CANCEL_FILE).exists():
            raise Cancelled()
        runner._write({**status, "state": "saving", "message": "Saving the new version..."})
        metadata.update(preset=label, data_sha256=data_source_sha256(mnist_path))
        version = publish_version(model, metadata, new_version_id(label))
        runner._write({**status, "state": "finished", "version": version.id,
                       "test_accuracy": metadata["test_accuracy"], "finished": time.time(),
                       "message": f"Saved as version {version.id}."})
    except Cancelled:
        runner._write({**status, "state": "cancelled", "finished": time.time(),
                       "message": "Cancelled; no model was written."})
    except BaseException as error:  # Anything else: report it, write no model.
        (folder / LOG_FILE).write_text(traceback.format_exc())
        runner._write({**status, "state": "failed", "finished": time.time(),
                       "message": f"Training failed: {type(error).__name__}: {error}"})
    finally:
        (folder / CANCEL_FILE).unlink(missing_ok=True)
        lock.close()

