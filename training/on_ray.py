"""Training runs and fine-tunes on a Ray cluster, as `training.jobs.JobRunner` starts them when
`RAY_ADDRESS` is set.

Each job is a detached Ray actor of its own, named after the job. A short-lived process,
`python -m training.on_ray start ARGUMENTS_JSON`, creates it, starts its run, and leaves
once the run holds the registry's training lock. Detached, the actor belongs to the cluster,
not to that process nor to the replica that asked: a replica that dies does not stop the run.
(This is the Ray team's "detached job" pattern: a named detached actor whose method a driver
starts, then leaves.)

The run itself is `training.job_process`'s, as in a local process. It takes the registry's
lock, reports to the job folder, publishes the version in the registry and ends its actor.
Every replica reads all of that from the registry, which every Ray node must share at the same
path. A cancel is the job folder's flag, as for a local process;
`python -m training.on_ray kill NAME` stops an actor that does not stop.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from model import settings

NAMESPACE = "digits"
# Not sent to a cluster with the code: the local registry, tests, measurements, environments.
NOT_SENT = [".git", "tests", "benchmarks", "docs", "models", "venv", ".venv", "**/.cache", "**/__pycache__"]


def actor_name(job_id: str) -> str:
    return f"training-{job_id}"


def code_for(address: str | None) -> dict:
    """The Ray runtime environment of our workers: local workers find this project on their path;
    a cluster's get a copy of its code (what the replica runs, whatever the node has)."""
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if address:
        return {"working_dir": str(settings.PROJECT_ROOT), "excludes": NOT_SENT, "env_vars": quiet}
    return {"env_vars": {"PYTHONPATH": str(settings.PROJECT_ROOT), **quiet}}


class TrainingJob:
    """One run or fine-tune, in the Ray worker that hosts this actor."""

    def run(self, arguments: dict) -> None:
        import ray

        from training import job_process

        mnist_path = arguments.get("mnist_path")
        if mnist_path and not Path(mnist_path).is_file():
            # This node does not have the replica's copy: its own MNIST_PATH, else Keras's download.
            arguments = {**arguments, "mnist_path": None}
        try:
            job_process.run_any(arguments)
        finally:
            # The job is over: its actor too (a detached actor otherwise stays, holding its CPU).
            ray.actor.exit_actor()


def _connect(address: str) -> None:
    settings.quiet_ray()
    import ray

    ray.init(
        address=address,
        namespace=NAMESPACE,
        runtime_env=code_for(address),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )


def start(arguments: dict, address: str, timeout: float) -> None:
    """Creates the job's detached actor and starts its run; returns once the run holds the lock.
    RuntimeError when the run ended before that (its error) or `timeout` seconds passed."""
    import ray

    from training.job_folder import JobFolder

    _connect(address)
    job_id = arguments["job_id"]
    actor = (
        ray.remote(TrainingJob)
        .options(name=arguments["ray_actor"], lifetime="detached", num_cpus=1, max_restarts=0)
        .remote()
    )
    running = actor.run.remote(arguments)
    jobs = JobFolder(arguments["registry"])
    deadline = time.monotonic() + timeout
    while True:
        status = jobs.read()
        if status is not None and status.job == job_id and status.state != "starting":
            return
        ended, _ = ray.wait([running], timeout=0.2)
        if ended:
            ray.get(ended[0])
            raise RuntimeError("The training on Ray ended before it started.")
        if time.monotonic() > deadline:
            ray.kill(actor)
            raise RuntimeError(f"The training on Ray did not start within {timeout:.0f} s (is a CPU free?).")


def kill(name: str, address: str) -> bool:
    """Stops the named job's actor at once (`ray.kill`); False when there is no such actor."""
    import ray

    _connect(address)
    try:
        actor = ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    ray.kill(actor)
    return True


def main(argv: list[str]) -> int:
    address = settings.ray_address()
    if address is None:
        print("RAY_ADDRESS is not set.", file=sys.stderr)
        return 2
    if argv[:1] == ["start"] and len(argv) == 3:
        start(json.loads(argv[1]), address, float(argv[2]))
        return 0
    if argv[:1] == ["kill"] and len(argv) == 2:
        return 0 if kill(argv[1], address) else 1
    print("usage: python -m training.on_ray start ARGUMENTS_JSON TIMEOUT | kill NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # Through the module proper, not __main__: Ray would take the actor's class by value from __main__.
    from training import on_ray

    sys.exit(on_ray.main(sys.argv[1:]))
