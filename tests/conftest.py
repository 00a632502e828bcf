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


def pytest_collection_modifyitems(items):
    # The slow tests first: with the suite spread over the cores (pytest-xdist), a run of a
    # minute or two started last would leave the other cores idle until it ends.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


def _apart_in_this_thread(named, args, progress, what):
    """`model.runtime.apart.run_apart`'s target run in the caller's thread, with the same progress,
    result and failure message: a spawned child imports TensorFlow again, seconds per call."""
    from model.runtime import apart

    try:
        return apart.call_named(named, args, progress or (lambda fraction: None))
    except Exception as error:
        raise apart.failed(what, apart.described(error)) from None


@pytest.fixture(autouse=True)
def no_child_processes(request, monkeypatch):
    """The app's child processes are left out, except in the tests marked `processes`, which test
    them (their results, priority, progress and failures): work sent apart runs in the test's
    thread, and the forward worker never starts, so predictions are computed in the test's process
    as the app does while its worker starts. Each child imports TensorFlow, seconds of CPU."""
    if request.node.get_closest_marker("processes") is None:
        leave_out_child_processes(monkeypatch)


def leave_out_child_processes(patch: pytest.MonkeyPatch) -> None:
    from model.runtime import apart
    from model.runtime.forward_worker import ForwardWorker

    patch.setattr(apart, "_in_child", _apart_in_this_thread)
    patch.setattr(ForwardWorker, "warm_up", lambda self, model_file: None)


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
def small_mnist_file(tmp_path_factory, mnist) -> Path:
    """An mnist.npz of MNIST's first 3,000 training and 1,000 test digits, for AppTests of pages
    that compute over all of MNIST (the Digit map's features, evaluations): the same pages, a
    tenth of the work. The real sizes are measured in benchmarks/ and run by the slow tests."""
    (x_train, y_train), (x_test, y_test) = mnist
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    np.savez(path, x_train=x_train[:3000], y_train=y_train[:3000], x_test=x_test[:1000], y_test=y_test[:1000])
    return path


def use_small_mnist(patch: pytest.MonkeyPatch, path: Path) -> None:
    """Points the app at `small_mnist_file`: MNIST_PATH, and a loader that takes part of MNIST
    (the app itself refuses anything but the whole of it)."""
    from model.store import mnist as mnist_module

    patch.setenv("MNIST_PATH", str(path))
    read = mnist_module.read_npz_and_sha256
    patch.setattr(mnist_module, "read_npz_and_sha256", lambda path, full=True: read(path, full=False))


@pytest.fixture()
def small_mnist_app(small_mnist_file, monkeypatch) -> Path:
    """The app reads `small_mnist_file` as its MNIST, for this test."""
    use_small_mnist(monkeypatch, small_mnist_file)
    return small_mnist_file


@pytest.fixture(scope="session")
def shipped_cache(tmp_path_factory, small_mnist_file) -> Path:
    """What the Digit map keeps for the shipped model on `small_mnist_file` (its digits' features
    and the PCA map), made once by opening the page with a digit, as a visitor would:
    `warm_registry` starts from a copy, so that each Digit map test does not compute them again."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from model.runtime.preprocess import from_uint8
    from model.store.mnist import load_mnist
    from pages.ui.state import CURRENT_DIGIT, Digit

    registry = tmp_path_factory.mktemp("shipped") / "registry"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_REGISTRY", str(registry))
        use_small_mnist(patch, small_mnist_file)
        # Made before any test's own fixtures, so without `no_child_processes`: the same here.
        leave_out_child_processes(patch)
        _, (x_test, _) = load_mnist(small_mnist_file)
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
