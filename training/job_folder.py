"""A registry's job folder (`<registry>/.job`): the one place that knows its files.

The status file says what the last job did; the training lock is held by a job's process for
its whole life (the kernel releases it if the process dies); the start lock makes "is a job
running? then start one" one step across every server sharing the registry; the cancel flag
asks a job to stop; the live file holds the running job's latest snapshot. The server's
`JobRunner` and the job's own process both go through this object, so nothing else writes
the status file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.store.files import read_json, write_json
from model.store.schemas import JobStatus
from model.store.snapshots import read_snapshots, write_snapshots

JOB_FOLDER = ".job"
LIVE_FILE = "live.npz"
# A job still "starting" after this many seconds without its process holding the lock has crashed.
START_TIMEOUT = 120.0

# One start at a time within this process too (flock locks are per open file, not per thread).
_start_lock = threading.Lock()


class JobFolder:
    """Paths, status, locks and the cancel flag of one registry's training jobs."""

    def __init__(self, registry: str | os.PathLike):
        self.registry = Path(registry)
        self.path = self.registry / JOB_FOLDER
        self.status_file = self.path / "status.json"
        self.lock_file = self.path / "lock"
        self.start_lock_file = self.path / "start.lock"
        self.cancel_file = self.path / "cancel"
        # A failed job's traceback.
        self.log_file = self.path / "job.log"
        # What the job's process prints (TensorFlow's messages, a crash before it could report).
        self.output_file = self.path / "output.log"
        # The last sweep's trials' models, until the next sweep starts.
        self.sweep_folder = self.path / "sweep"
        # The running job's latest snapshot (`training.snapshots.live_frame`), for the live view.
        self.live_file = self.path / LIVE_FILE

    # The status file.

    def read(self) -> JobStatus | None:
        """The status as written, or None when there is none (or it cannot be read)."""
        try:
            return JobStatus.from_dict(read_json(self.status_file))
        except (OSError, ValueError):
            return None

    def write(self, status: JobStatus) -> None:
        """Replaces the status (atomically: a reader sees the old file or the new one)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(status.to_dict(), self.status_file)

    def update_if_active(self, job_id: str, **changes) -> None:
        """Changes job `job_id`'s status if it is still the active job."""
        status = self.read()
        if status is not None and status.job == job_id and status.is_active:
            self.write(status.replace(**changes))

    def status(self) -> JobStatus | None:
        """The status as a reader should see it: a job that says it is active but whose process
        no longer holds the lock (killed, out of memory, machine restarted) is "crashed"."""
        status = self.read()
        if status is not None and status.is_active and not self.lock_held() and not _in_first_seconds(status):
            status = status.replace(
                state="crashed", message="The training process stopped without finishing; no model was written."
            )
        return status

    def log_failure(self, text: str) -> None:
        self.log_file.write_text(text)

    # The live view of a run.

    def write_live(self, job_id: str, frame: dict[str, np.ndarray]) -> None:
        """Replaces the live frame (atomically), marked with the job's id."""
        write_snapshots({**frame, "job": np.array(job_id)}, self.path, LIVE_FILE)

    def live(self, job_id: str) -> dict[str, np.ndarray] | None:
        """Job `job_id`'s latest live frame; None before its first, or when it cannot be read."""
        try:
            frame = read_snapshots(self.path, LIVE_FILE)
        except ValueError:
            return None
        if frame is None or str(frame.pop("job", "")) != job_id:
            return None
        return frame

    # Locks.

    def lock_held(self) -> bool:
        """Whether a job's process holds the training lock now."""
        if not self.lock_file.exists():
            return False
        with open(self.lock_file, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Holds the start lock: one start (or keep) at a time across every process sharing the registry."""
        self.path.mkdir(parents=True, exist_ok=True)
        with _start_lock, open(self.start_lock_file, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def training_lock(self) -> Iterator[bool]:
        """In a job's process: takes the training lock for the whole block and yields True, or
        yields False when another job holds it. The cancel flag is cleared when the block ends."""
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_file, "a+")  # noqa: SIM115 - held until the block ends.
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            yield False
            return
        try:
            yield True
        finally:
            self.cancel_file.unlink(missing_ok=True)
            handle.close()

    # The cancel flag.

    def ask_to_cancel(self) -> None:
        self.cancel_file.touch()

    def cancel_asked(self) -> bool:
        return self.cancel_file.exists()

    def clear_cancel(self) -> None:
        self.cancel_file.unlink(missing_ok=True)


def _in_first_seconds(status: JobStatus) -> bool:
    """A job in its first seconds, before its process holds the lock."""
    return status.state == "starting" and time.time() - status.started < START_TIMEOUT
