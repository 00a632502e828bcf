"""Shared fixtures: the real MNIST from ../shared/data (never committed), and small slices of it."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def shipped_cache(tmp_path_factory, mnist_file) -> Path:
    """What the Digit map keeps for the shipped model (the 70,000 digits' features and the PCA
    map), made once by opening the page with a drawn digit, as a visitor would: `warm_registry`
    starts from a copy, so that each Digit map test does not compute them again (about 30 s)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from model.runtime.preprocess import from_uint8
    from model.store.mnist import load_mnist
    from pages.ui.state import CURRENT_DIGIT, Digit

    registry = tmp_path_factory.mktemp("shipped") / "registry"
    _, (x_test, _) = load_mnist(mnist_file)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_REGISTRY", str(registry))
        patch.setenv("MNIST_PATH", str(mnist_file))
        st.cache_data.clear()
        st.cache_resource.clear()
        app = AppTest.from_file(APP, default_timeout=300)
        app.session_state[CURRENT_DIGIT] = Digit(from_uint8(x_test[0]), "MNIST test image #0")
        app.run()
        app.switch_page("pages/digit_map.py").run()
        assert not app.exception, app.exception
    st.cache_data.clear()
    st.cache_resource.clear()
    return registry / ".cache"


@pytest.fixture()
def warm_registry(isolated_registry, shipped_cache) -> Path:
    """`isolated_registry` holding what the Digit map keeps for the shipped model (`shipped_cache`),
    linked, not copied: kept files are replaced by renames, never changed in place."""
    shutil.copytree(shipped_cache, isolated_registry / ".cache", copy_function=os.link)
    return isolated_registry


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path
