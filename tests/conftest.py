"""Shared fixtures: the real MNIST from ../shared/data (never committed), and small slices of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    # AppTest reports a page's exceptions in full (the shipped config shows visitors only their type).
    from streamlit import config as streamlit_config

    streamlit_config.set_option("client.showErrorDetails", "full")


ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist_file() -> Path:
    path = Path(os.environ.get("MNIST_PATH") or SHARED_MNIST)
    if not path.is_file():
        pytest.skip(f"MNIST not found at {path}; set MNIST_PATH")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_file):
    from model.store.mnist import load_mnist

    return load_mnist(mnist_file)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """400 training and 200 test images: enough for a training run of a few seconds."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:400], y_train[:400]), (x_test[:200], y_test[:200])


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped model (model/default/), loaded once: attributions and the like mean something only
    on a trained network. Never changed by a test."""
    from model.store.registry import default_version
    from model.store.storage import load_model

    return load_model(default_version().model_file)


@pytest.fixture()
def isolated_registry(tmp_path, monkeypatch) -> Path:
    """A registry folder of the test's own, so tests never touch the project's models/."""
    folder = tmp_path / "registry"
    monkeypatch.setenv("MODEL_REGISTRY", str(folder))
    return folder


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path
