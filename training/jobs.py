"""Background training jobs: one at a time per registry, in a separate, detached process.

The job writes its progress to a status file that any page can poll. A lock file, held by
the training process for its whole life (the kernel releases it if the process dies),
keeps a second job from starting, whichever server (sharing the registry) asks; a start
lock makes the check and the start one step across processes. The training process runs
in a session of its own: stopping or restarting the server leaves it training, and the
next server shows it. Finished runs become versions in the registry; a cancelled, failed
or killed run leaves the registry as it was.

    runner = JobRunner()
    runner.start(TrainConfig(epochs=3))
    runner.status()   # JobStatus(state="running", epoch=1, ...)
    runner.cancel()
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from model import settings
from model.runtime.apart import background_priority
from model.store.files import read_json, write_json
from model.store.mnist import load_mnist_and_sha256
from model.store.my_digits import FolderStore, as_arrays
from model.store.registry import (
    ModelVersion,
    check_room,
    new_version_id,
    publish_version,
    registry_dir,
)
from model.store.schemas import JobStatus
from model.store.storage import MODEL_FILE, load_model, read_metadata
from training.config import MIN_DIGITS, FineTuneConfig, TrainConfig, preset_name
from training.sweep import Sweep, run_sweep, trial_folder, trial_rows

JOB_FOLDER = ".job"
STATUS_FILE = "status.json"
LOCK_FILE = "lock"
START_LOCK_FILE = "start.lock"
CANCEL_FILE = "cancel"
LOG_FILE = "job.log"
# The last sweep's trials' models, until the next sweep starts.
SWEEP_FOLDER = "sweep"
# What the training process prints (TensorFlow's messages, a crash before it could report).
OUTPUT_FILE = "output.log"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A job still "starting" after this many seconds without its process holding the lock has crashed.
START_TIMEOUT = 120.0
# Batch progress is written at most this often.
STATUS_INTERVAL = 0.5

_start_lock = threading.Lock()


def training_threads() -> int:
    """TensorFlow threads for a training job: `DIGITS_TRAIN_THREADS`, else every core. The job runs
    in the background (nice 10 and SCHED_IDLE), so the app's own work comes first."""
    return settings.train_threads()


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

    def status(self) -> JobStatus | None:
        """The last job's status, or None if there never was one (or its file cannot be read).

        A job that says it is active but whose process no longer holds the lock (killed,
        out of memory, machine restarted) is reported as "crashed".
        """
        try:
            status = JobStatus.from_dict(read_json(self.folder / STATUS_FILE))
        except (OSError, ValueError):
            return None
        if status.is_active and not self.lock_held() and not _starting(status):
            status = status.replace(
                state="crashed", message="The training process stopped without finishing; no model was written."
            )
        return status

    def is_running(self) -> bool:
        status = self.status()
        return status is not None and status.is_active

    # Acting.

    def start(
        self,
        config: TrainConfig,
        threads: int | None = None,
        mnist_path: str | os.PathLike | None = None,
        timeout: float = START_TIMEOUT,
    ) -> JobStatus:
        """Starts training `config` in a new, detached process; raises JobBusy if a job is running
        (started by this server or another sharing the registry), and RegistryFull when the
        registry has no room for the version it would make.

        `threads` caps TensorFlow's thread pools, so the app stays responsive (default:
        `DIGITS_TRAIN_THREADS`, else every core). Returns the first status once the process holds the lock.
        """
        if not isinstance(config, TrainConfig):
            raise ValueError("config must be a TrainConfig.")
        status = JobStatus(
            state="starting", job="", preset=preset_name(config), config=config.to_dict(), epochs=config.epochs
        )
        return self._launch(status, {"config_values": config.to_dict()}, threads, mnist_path, timeout)

    def start_sweep(
        self,
        sweep: Sweep,
        threads: int | None = None,
        mnist_path: str | os.PathLike | None = None,
        timeout: float = START_TIMEOUT,
    ) -> JobStatus:
        """Starts a sweep (`training.sweep`) in a new, detached process, as `start` does a run: one
        trial per core at a time (`threads`, default as for `start`), each in a Ray worker of its own.
        The previous sweep's trials, and any model of theirs not kept, are removed."""
        if not isinstance(sweep, Sweep):
            raise ValueError("sweep must be a Sweep.")
        status = JobStatus(
            state="starting",
            job="",
            kind="sweep",
            preset=preset_name(sweep.base),
            config=sweep.base.to_dict(),
            epochs=sweep.base.epochs,
            sweep=sweep.to_dict()["settings"],
            trials=trial_rows(sweep),
        )
        return self._launch(status, {"sweep_values": sweep.to_dict()}, threads, mnist_path, timeout)

    def start_fine_tune(
        self,
        version: ModelVersion,
        digits_folder: str | os.PathLike,
        config: FineTuneConfig | None = None,
        threads: int | None = None,
        mnist_path: str | os.PathLike | None = None,
        timeout: float = START_TIMEOUT,
    ) -> JobStatus:
        """Starts fine-tuning `version` on MNIST plus the digits in `digits_folder`
        (`training.finetune`) in a new, detached process, as `start` does a run. ValueError when
        the version has a problem or there are too few digits."""
        config = config or FineTuneConfig()
        if version.problem:
            raise ValueError(f"Version {version.id} cannot be loaded: {version.problem}")
        count = len(FolderStore(digits_folder).examples())
        if count < MIN_DIGITS:
            raise ValueError(f"Fine-tuning needs at least {MIN_DIGITS} of your digits; there are {count}.")
        status = JobStatus(
            state="starting",
            job="",
            kind="finetune",
            preset="fine-tune",
            config=version.metadata.config,
            epochs=config.epochs,
            message=f"Fine-tuning {version.id} on MNIST and {count} of your digits.",
        )
        arguments = {
            "finetune": {
                "version_id": version.id,
                "model_file": str(version.model_file.resolve()),
                "digits_folder": str(Path(digits_folder).resolve()),
                "settings": config.to_dict(),
            }
        }
        return self._launch(status, arguments, threads, mnist_path, timeout)

    def _launch(self, status: JobStatus, arguments: dict, threads: int | None, mnist_path, timeout: float) -> JobStatus:
        threads = training_threads() if threads is None else threads
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError("threads must be a positive integer.")
        with _start_lock, self._starting():
            if self.lock_held() or self.is_running():
                raise JobBusy("A training run or sweep is in progress already; wait for it or cancel it.")
            check_room(self.registry)
            (self.folder / CANCEL_FILE).unlink(missing_ok=True)
            job_id = f"{int(time.time() * 1000):x}"
            self._write(status.replace(job=job_id, started=time.time()))
            chosen = settings.mnist_file()
            source = str(mnist_path) if mnist_path is not None else str(chosen) if chosen else None
            arguments = {
                "registry": str(self.registry.resolve()),
                "job_id": job_id,
                **arguments,
                "threads": threads,
                # Absolute: the process starts in the project folder, not the server's.
                "mnist_path": str(Path(source).expanduser().resolve()) if source else None,
            }
            with open(self.folder / OUTPUT_FILE, "w") as output:
                # A session of its own: a server's Ctrl+C or SIGTERM does not reach it, and the
                # server's exit does not wait for it.
                process = subprocess.Popen(
                    [sys.executable, "-m", "training.jobs", json.dumps(arguments)],
                    cwd=PROJECT_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while not self._holds_lock(job_id):
                if process.poll() is not None or time.monotonic() > deadline:
                    if process.poll() is None:
                        process.kill()
                    self._write_if_mine(job_id, state="failed", message="The training process did not start.")
                    raise RuntimeError("The training process did not start.")
                time.sleep(0.05)
            # Reap the process when it ends (while this server runs), so it never lingers as a zombie.
            threading.Thread(target=process.wait, daemon=True).start()
            return self.status()

    def keep_trial(self, trial: int) -> ModelVersion:
        """Publishes a finished trial of the last sweep as a new version; ValueError if there is no
        such trial or its model is gone, RegistryFull past the caps."""
        with _start_lock, self._starting():
            status = self.status()
            if status is None or status.kind != "sweep" or status.is_active:
                raise ValueError("There is no finished sweep to keep a trial of.")
            rows = {row.get("trial"): row for row in status.trials}
            row = rows.get(trial)
            if row is None or row.get("state") != "finished":
                raise ValueError(f"Trial {trial} did not finish, so it has no model to keep.")
            if row.get("version"):
                raise ValueError(f"Trial {trial} is kept already, as version {row['version']}.")
            folder = trial_folder(self.folder / SWEEP_FOLDER, trial)
            model = load_model(folder / MODEL_FILE)
            metadata = read_metadata(folder)
            version = publish_version(model, metadata, new_version_id("sweep"), self.registry)
            trials = [{**item, "version": version.id} if item is row else item for item in status.trials]
            self._write(status.replace(trials=trials))
            return version

    @contextlib.contextmanager
    def _starting(self) -> Iterator[None]:
        """Holds the start lock: one start at a time across every process sharing the registry."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / START_LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _holds_lock(self, job_id: str) -> bool:
        """Whether job `job_id`'s process has taken the lock (it says so in the status)."""
        try:
            status = JobStatus.from_dict(read_json(self.folder / STATUS_FILE))
        except (OSError, ValueError):
            return False
        return status.job == job_id and status.state != "starting"

    def _write_if_mine(self, job_id: str, **changes) -> None:
        try:
            status = JobStatus.from_dict(read_json(self.folder / STATUS_FILE))
        except (OSError, ValueError):
            return
        if status.job == job_id and status.is_active:
            self._write(status.replace(**changes))

    def cancel(self, wait: float = 10.0) -> bool:
        """Asks the running job to stop; kills it if it has not stopped after `wait` seconds.

        Returns True if a job was running.
        """
        status = self.status()
        if status is None or not status.is_active:
            return False
        (self.folder / CANCEL_FILE).touch()
        # A sweep stops its Ray trials first, which takes longer than a run's next batch.
        deadline = time.monotonic() + (wait * 3 if status.kind == "sweep" else wait)
        while time.monotonic() < deadline and self.lock_held():
            time.sleep(0.1)
        if self.lock_held() and status.pid:
            with contextlib.suppress(OSError):
                os.kill(status.pid, 9)
            while self.lock_held() and time.monotonic() < deadline + 5:
                time.sleep(0.1)
            self._write(
                (self.status() or status).replace(
                    state="cancelled", message="Cancelled (the process was stopped); no model was written."
                )
            )
        return True

    def _write(self, status: JobStatus) -> None:
        write_json(status.to_dict(), self.folder / STATUS_FILE)


def _starting(status: JobStatus) -> bool:
    """A job in its first seconds, before its process holds the lock."""
    return status.state == "starting" and time.time() - status.started < START_TIMEOUT


class _Reporter:
    """Turns the training's progress events into status writes (batches at most every STATUS_INTERVAL)."""

    def __init__(self, runner: JobRunner, status: JobStatus):
        self.runner, self.status = runner, status
        self.last_write = 0.0

    def __call__(self, event) -> None:
        if (self.runner.folder / CANCEL_FILE).exists():
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
        self.runner._write(self.status)

    def end(self, state: str, message: str, **changes) -> None:
        self.status = self.status.replace(state=state, message=message, **changes)
        self.runner._write(self.status)


@contextlib.contextmanager
def _job_lock(registry: str) -> Iterator[JobRunner | None]:
    """In a job's process: the registry's training lock, held for the whole block (None when
    another job holds it: the status file is that job's). Runs in the background (nice 10 and
    SCHED_IDLE: `model.runtime.apart.background_priority`)."""
    settings.quiet_tensorflow()
    background_priority()
    runner = JobRunner(registry)
    runner.folder.mkdir(parents=True, exist_ok=True)
    lock = open(runner.folder / LOCK_FILE, "a+")  # noqa: SIM115 - held until the block ends.
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        yield None
        return
    try:
        yield runner
    finally:
        (runner.folder / CANCEL_FILE).unlink(missing_ok=True)
        lock.close()


def _cap_threads(threads: int) -> None:
    """TensorFlow, imported once the lock is held and reported (it takes seconds to load), with
    its thread pools capped before anything else touches it."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _train_and_publish(runner: JobRunner, reporter: _Reporter, work, label: str, done) -> None:
    """Runs `work()` -> (model, metadata), then publishes the model as a new version; reports the
    outcome (`done(version, metadata)` says a finished one) and writes no model when it fails."""
    try:
        model, metadata = work()
        if (runner.folder / CANCEL_FILE).exists():
            raise Cancelled()
        reporter.end("saving", "Saving the new version...")
        version = publish_version(model, metadata, new_version_id(metadata.preset), runner.registry)
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
        (runner.folder / LOG_FILE).write_text(traceback.format_exc())
        reporter.end("failed", f"{label} failed: {type(error).__name__}: {error}", finished=time.time())


def run_job(registry: str, job_id: str, config_values: dict, threads: int, mnist_path: str | None) -> None:
    """The training process: holds the lock, trains, reports progress, publishes a version."""
    with _job_lock(registry) as runner:
        if runner is None:
            return
        config = TrainConfig.from_dict(config_values)
        reporter = _Reporter(
            runner,
            JobStatus(
                state="running",
                job=job_id,
                preset=preset_name(config),
                config=config_values,
                started=time.time(),
                pid=os.getpid(),
                # No message: the page's progress line says what a run does before its first batch.
                epochs=config.epochs,
            ),
        )
        runner._write(reporter.status)

        def work():
            _cap_threads(threads)
            from training.callbacks import ProgressCallback
            from training.train import train

            data, data_sha256 = load_mnist_and_sha256(mnist_path)
            model, metadata = train(config, data, [ProgressCallback(reporter)])
            return model, metadata.replace(data_sha256=data_sha256)

        _train_and_publish(runner, reporter, work, "Training", lambda version, _: f"Saved as version {version.id}.")


def run_fine_tune_job(registry: str, job_id: str, finetune: dict, threads: int, mnist_path: str | None) -> None:
    """The fine-tuning process: holds the lock, fine-tunes, reports progress, publishes a version
    whose metadata records the data it saw and the accuracies before and after."""
    with _job_lock(registry) as runner:
        if runner is None:
            return
        config = FineTuneConfig(**finetune["settings"])
        source = finetune["version_id"]
        reporter = _Reporter(
            runner,
            JobStatus(
                state="running",
                job=job_id,
                kind="finetune",
                preset="fine-tune",
                started=time.time(),
                pid=os.getpid(),
                epochs=config.epochs,
                message=f"Loading {source}, your digits, MNIST and TensorFlow...",
            ),
        )
        runner._write(reporter.status)

        def work():
            _cap_threads(threads)
            from training.callbacks import ProgressCallback
            from training.finetune import fine_tune

            model_file = Path(finetune["model_file"])
            model = load_model(model_file)
            try:
                source_metadata = read_metadata(model_file.parent)
            except (OSError, ValueError):
                source_metadata = None
            images, labels = as_arrays(FolderStore(finetune["digits_folder"]).examples())
            data, data_sha256 = load_mnist_and_sha256(mnist_path)
            callbacks = [ProgressCallback(reporter)]
            model, metadata = fine_tune(model, images, labels, data, config, source_metadata, source, callbacks)
            return model, metadata.replace(data_sha256=data_sha256)

        def done(version: ModelVersion, metadata) -> str:
            record = metadata.fine_tune
            return (
                f"Saved as version {version.id}. Your {record['own_held_aside']} held-aside digits: "
                f"{record['own_accuracy_before']:.1%} before, {record['own_accuracy_after']:.1%} after; "
                f"MNIST test: {record['mnist_accuracy_before']:.2%} before, "
                f"{record['mnist_accuracy_after']:.2%} after."
            )

        _train_and_publish(runner, reporter, work, "Fine-tuning", done)


def run_sweep_job(registry: str, job_id: str, sweep_values: dict, threads: int, mnist_path: str | None) -> None:
    """The sweep process: holds the lock, runs the sweep's trials through Ray Tune (`threads` at
    once), reports each trial's progress. It publishes nothing: `JobRunner.keep_trial` does."""
    with _job_lock(registry) as runner:
        if runner is not None:
            _sweep(runner, job_id, sweep_values, threads, mnist_path)


def _sweep(runner: JobRunner, job_id: str, sweep_values: dict, threads: int, mnist_path: str | None) -> None:
    folder = runner.folder
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
    runner._write(status)
    trials_folder = folder / SWEEP_FOLDER
    shutil.rmtree(trials_folder, ignore_errors=True)
    last_write = 0.0

    def report(rows: list[dict]) -> None:
        nonlocal status, last_write
        status = status.replace(trials=rows, message="", elapsed=time.time() - status.started)
        if time.monotonic() - last_write >= STATUS_INTERVAL:
            last_write = time.monotonic()
            runner._write(status)

    def cancelled() -> bool:
        return (folder / CANCEL_FILE).exists()

    try:
        rows = run_sweep(sweep, trials_folder, mnist_path, concurrent=threads, on_update=report, should_stop=cancelled)
        counts = {name: sum(row["state"] == name for row in rows) for name in ("finished", "stopped early", "failed")}
        message = f"{counts['finished']} of {len(rows)} trials finished"
        if counts["stopped early"]:
            message += f"; ASHA stopped {counts['stopped early']} early"
        if counts["failed"]:
            message += f"; {counts['failed']} failed"
        state = "cancelled" if cancelled() else "finished"
        message = ("Cancelled: " if state == "cancelled" else "") + message + "."
        status = status.replace(trials=rows, state=state, message=message, finished=time.time())
    except BaseException as error:  # Anything else: report it.
        (folder / LOG_FILE).write_text(traceback.format_exc())
        status = status.replace(
            state="failed", message=f"The sweep failed: {type(error).__name__}: {error}", finished=time.time()
        )
    finally:
        runner._write(status.replace(elapsed=time.time() - status.started))


if __name__ == "__main__":
    # The training process, as `JobRunner.start` (or `start_sweep`) runs it: `python -m training.jobs ARGUMENTS_JSON`.
    # Through the module proper, not __main__: Ray pickles the sweep's callbacks, and would take
    # this module's classes (and its locks) by value from __main__.
    from training import jobs

    arguments = json.loads(sys.argv[1])
    if "sweep_values" in arguments:
        jobs.run_sweep_job(**arguments)
    elif "finetune" in arguments:
        jobs.run_fine_tune_job(**arguments)
    else:
        jobs.run_job(**arguments)
