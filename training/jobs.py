"""Background training jobs, as the server sees them: one at a time per registry, each in a
separate, detached process (`training.job_process`).

The job writes its progress to the registry's job folder (`training.job_folder`), which any
page can read; its lock keeps a second job from starting, whichever server (sharing the
registry) asks. The training process runs in a session of its own: stopping or restarting
the server leaves it training, and the next server shows it. With `RAY_ADDRESS` set, runs and
fine-tunes train on that Ray cluster instead, each in a detached actor of its own
(`training.on_ray`), which no server's end stops either; sweeps use the cluster through Ray
Tune. Finished runs become versions in the registry; a cancelled, failed or killed run leaves the registry as it was.

    runner = JobRunner()
    runner.start(TrainConfig(epochs=3))
    runner.status()   # JobStatus(state="running", epoch=1, ...)
    runner.cancel()
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from model import settings
from model.store.my_digits import FolderStore
from model.store.registry import ModelVersion, check_room, new_version_id, publish_version, registry_dir
from model.store.schemas import JobStatus
from model.store.snapshots import read_snapshots
from model.store.storage import MODEL_FILE, load_model, read_metadata
from training.config import MIN_DIGITS, FineTuneConfig, TrainConfig, preset_name
from training.job_folder import START_TIMEOUT, JobFolder
from training.on_ray import actor_name
from training.sweep_plan import Sweep, trial_folder, trial_rows

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def training_threads() -> int:
    """TensorFlow threads for a training job: `DIGITS_TRAIN_THREADS`, else every core. The job runs
    in the background (nice 10 and SCHED_IDLE), so the app's own work comes first."""
    return settings.train_threads()


def _as_list(drawing: np.ndarray | None) -> list[float] | None:
    """A drawing as the job's arguments carry it: 784 numbers, or None."""
    if drawing is None:
        return None
    image = np.asarray(drawing, np.float32)
    if image.shape != (28, 28):
        raise ValueError("The drawing must be a 28 x 28 image.")
    return [round(float(value), 4) for value in image.ravel()]


def _kill_on_ray(name: str) -> None:
    """Stops a job's Ray actor (`training.on_ray kill`), from a process of its own: no Ray in the server."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-m", "training.on_ray", "kill", name],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )


class JobBusy(RuntimeError):
    """A training job is running already."""


class JobRunner:
    def __init__(self, registry: str | os.PathLike | None = None):
        self.registry = Path(registry) if registry is not None else registry_dir()
        self.jobs = JobFolder(self.registry)

    # Reading.

    def lock_held(self) -> bool:
        """Whether a training process holds the lock now."""
        return self.jobs.lock_held()

    def status(self) -> JobStatus | None:
        """The last job's status (a job whose process died is "crashed"), or None if there never was one."""
        return self.jobs.status()

    def live(self, status: JobStatus) -> dict[str, np.ndarray] | None:
        """The running job's latest snapshot (`training.snapshots.live_frame`), None before its first."""
        return self.jobs.live(status.job)

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
        drawing: np.ndarray | None = None,
    ) -> JobStatus:
        """Starts training `config` in a new, detached process; raises JobBusy if a job is running
        (started by this server or another sharing the registry), and RegistryFull when the
        registry has no room for the version it would make.

        `threads` caps TensorFlow's thread pools, so the app stays responsive (default:
        `DIGITS_TRAIN_THREADS`, else every core). `drawing`, a (28, 28) image in [0, 1], is
        watched with the probe digits in the run's snapshots. Returns the first status once the
        process holds the lock.
        """
        if not isinstance(config, TrainConfig):
            raise ValueError("config must be a TrainConfig.")
        status = JobStatus(
            state="starting", job="", preset=preset_name(config), config=config.to_dict(), epochs=config.epochs
        )
        arguments = {"config_values": config.to_dict(), "drawing": _as_list(drawing)}
        return self._launch(status, arguments, threads, mnist_path, timeout)

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
        drawing: np.ndarray | None = None,
    ) -> JobStatus:
        """Starts fine-tuning `version` on MNIST plus the digits in `digits_folder`
        (`training.finetune`) in a new, detached process, as `start` does a run (`drawing` too).
        ValueError when the version has a problem or there are too few digits."""
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
                "drawing": _as_list(drawing),
            }
        }
        return self._launch(status, arguments, threads, mnist_path, timeout)

    def _launch(self, status: JobStatus, arguments: dict, threads: int | None, mnist_path, timeout: float) -> JobStatus:
        threads = training_threads() if threads is None else threads
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError("threads must be a positive integer.")
        with self.jobs.starting():
            if self.jobs.lock_held() or self.is_running():
                raise JobBusy("A training run or sweep is in progress already; wait for it or cancel it.")
            check_room(self.registry)
            self.jobs.clear_cancel()
            job_id = f"{int(time.time() * 1000):x}"
            self.jobs.write(status.replace(job=job_id, started=time.time()))
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
            command = [sys.executable, "-m", "training.job_process", json.dumps(arguments)]
            if settings.ray_address() and "sweep_values" not in arguments:
                # On the Ray cluster: a short-lived process starts the job's detached actor. It
                # gives up a little before this server does, and removes its actor.
                arguments["ray_actor"] = actor_name(job_id)
                self.jobs.write(self.jobs.read().replace(ray_actor=arguments["ray_actor"]))
                command = [sys.executable, "-m", "training.on_ray", "start", json.dumps(arguments), str(timeout * 0.9)]
            with open(self.jobs.output_file, "w") as output:
                # A session of its own: a server's Ctrl+C or SIGTERM does not reach it, and the
                # server's exit does not wait for it.
                process = subprocess.Popen(
                    command,
                    cwd=PROJECT_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while not self._has_taken_lock(job_id):
                # (Ray's starter leaves once the run holds the lock: look again after it ended.)
                ended = process.poll() is not None and not self._has_taken_lock(job_id)
                if ended or time.monotonic() > deadline:
                    if process.poll() is None:
                        process.kill()
                    message = self._why_not_started()
                    self.jobs.update_if_active(job_id, state="failed", message=message)
                    raise RuntimeError(message)
                time.sleep(0.05)
            # Reap the process when it ends (while this server runs), so it never lingers as a zombie.
            threading.Thread(target=process.wait, daemon=True).start()
            return self.status()

    def _why_not_started(self) -> str:
        """The failed start's message: on Ray, with the starter's last words (its error)."""
        address = settings.ray_address()
        if not address:
            return "The training process did not start."
        try:
            lines = self.jobs.output_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        reason = lines[-1] if lines else "no reason given"
        return f"The training did not start on the Ray cluster at {address}: {reason}"

    def _has_taken_lock(self, job_id: str) -> bool:
        """Whether job `job_id`'s process has taken the lock (it says so in the status)."""
        status = self.jobs.read()
        return status is not None and status.job == job_id and status.state != "starting"

    def keep_trial(self, trial: int) -> ModelVersion:
        """Publishes a finished trial of the last sweep as a new version; ValueError if there is no
        such trial or its model is gone, RegistryFull past the caps."""
        with self.jobs.starting():
            status = self.status()
            if status is None or status.kind != "sweep" or status.is_active:
                raise ValueError("There is no finished sweep to keep a trial of.")
            rows = {row.get("trial"): row for row in status.trials}
            row = rows.get(trial)
            if row is None or row.get("state") != "finished":
                raise ValueError(f"Trial {trial} did not finish, so it has no model to keep.")
            if row.get("version"):
                raise ValueError(f"Trial {trial} is kept already, as version {row['version']}.")
            folder = trial_folder(self.jobs.sweep_folder, trial)
            model = load_model(folder / MODEL_FILE)
            metadata = read_metadata(folder)
            snapshots = read_snapshots(folder)
            version = publish_version(model, metadata, new_version_id("sweep"), self.registry, snapshots)
            trials = [{**item, "version": version.id} if item is row else item for item in status.trials]
            self.jobs.write(status.replace(trials=trials))
            return version

    def cancel(self, wait: float = 10.0) -> bool:
        """Asks the running job to stop; kills it if it has not stopped after `wait` seconds.

        Returns True if a job was running.
        """
        status = self.status()
        if status is None or not status.is_active:
            return False
        self.jobs.ask_to_cancel()
        # A sweep stops its Ray trials first, which takes longer than a run's next batch.
        deadline = time.monotonic() + (wait * 3 if status.kind == "sweep" else wait)
        while time.monotonic() < deadline and self.jobs.lock_held():
            time.sleep(0.1)
        if self.jobs.lock_held() and (status.ray_actor or status.pid):
            if status.ray_actor:
                # Ray stops the actor's worker; one that does not answer, a few seconds later.
                _kill_on_ray(status.ray_actor)
            else:
                with contextlib.suppress(OSError):
                    os.kill(status.pid, 9)
            stopped = time.monotonic() + 15
            while self.jobs.lock_held() and time.monotonic() < stopped:
                time.sleep(0.1)
            self.jobs.write(
                (self.status() or status).replace(
                    state="cancelled", message="Cancelled (the process was stopped); no model was written."
                )
            )
        return True
