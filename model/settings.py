"""Every setting the operator gives through the environment, read in this one place.

Each is read when asked for, not once at import: an operator's shell or a test may change one
between runs, and child processes inherit the environment as it is.

| variable | what it sets | default |
| --- | --- | --- |
| MODEL_REGISTRY | the folder of model versions | `models/` in the project |
| MNIST_PATH | a local `mnist.npz` | Keras's download |
| KERAS_HOME | where Keras keeps its download | `~/.keras` |
| MY_DIGITS | the folder of kept digits | `.my-digits/` in the registry |
| DIGITS_PUBLIC | public mode (anything but empty, 0, false or no) | off |
| DIGITS_MAX_VERSIONS | versions the registry may hold | 20 |
| DIGITS_MAX_REGISTRY_MB | megabytes the registry may use | 1000 |
| DIGITS_HEAVY_JOBS | evaluations and feature computations at once, server-wide | 2 |
| DIGITS_TRAIN_THREADS | TensorFlow threads of a training job | every core |
| RAY_ADDRESS | a Ray cluster for sweeps | a local Ray on this machine |
| DIGITS_SWEEP_STORAGE | where Ray Tune keeps a sweep's trials | `ray/` in the job's folder |
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def positive(name: str, default: int) -> int:
    """A positive whole number from the environment, `default` when unset; ValueError otherwise."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
    return int(value)


def _text(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def registry_folder() -> Path:
    return Path(_text("MODEL_REGISTRY") or PROJECT_ROOT / "models")


def mnist_file() -> Path | None:
    chosen = _text("MNIST_PATH")
    return Path(chosen).expanduser() if chosen else None


def keras_home() -> Path:
    return Path(_text("KERAS_HOME") or Path.home() / ".keras")


def my_digits_folder() -> Path | None:
    chosen = _text("MY_DIGITS")
    return Path(chosen) if chosen else None


def public() -> bool:
    return os.environ.get("DIGITS_PUBLIC", "").strip().lower() not in ("", "0", "false", "no")


def max_versions() -> int:
    return positive("DIGITS_MAX_VERSIONS", 20)


def max_registry_mb() -> int:
    return positive("DIGITS_MAX_REGISTRY_MB", 1000)


def heavy_jobs() -> int:
    return positive("DIGITS_HEAVY_JOBS", 2)


def train_threads() -> int:
    return positive("DIGITS_TRAIN_THREADS", os.cpu_count() or 1)


def ray_address() -> str | None:
    return _text("RAY_ADDRESS")


def sweep_storage() -> str | None:
    return _text("DIGITS_SWEEP_STORAGE")


def quiet_tensorflow() -> None:
    """In a process of ours that loads TensorFlow: its C++ information and warnings left out, unless
    the operator chose a level (TF_CPP_MIN_LOG_LEVEL)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_ray() -> None:
    """No usage statistics sent by Ray from this server, unless the operator chose otherwise."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
