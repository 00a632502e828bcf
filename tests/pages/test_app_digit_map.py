"""AppTest of the Digit map page (PCA: UMAP and t-SNE take tens of seconds, tested on fewer points)."""

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from model.analysis import layout, projection
from model.architecture import build_model
from model.store.registry import publish_version
from model.store.schemas import RunMetadata
from pages.ui.state import Digit
from tests.conftest import APP


def open_page(digit: Digit | None = None) -> AppTest:
    """The Digit map in a new session, with `digit` as the current digit."""
    app = AppTest.from_file(APP, default_timeout=240)
    if digit is not None:
        app.session_state["current_digit"] = digit
    app.run()
    return app.switch_page("pages/digit_map.py").run()


@pytest.fixture()
def open_map(warm_registry, small_mnist_app):
    """Opens the Digit map with the shipped model's features and PCA map kept already
    (`warm_registry`): `shipped_cache` tests that the page computes and keeps them."""
    st.cache_data.clear()
    st.cache_resource.clear()
    return open_page


@pytest.fixture()
def open_new_map(isolated_registry, small_mnist_app):
    """Opens the Digit map with nothing kept yet: the page computes every map it shows."""
    st.cache_data.clear()
    st.cache_resource.clear()
    return open_page


def test_the_map_shows_the_test_digits_and_the_mistakes(open_map):
    app = open_map()
    assert not app.exception
    assert any(caption.value.startswith("shipped model: PCA of its flatten features") for caption in app.caption)
    app.toggle(key="map_mistakes").set_value(True).run()
    assert not app.exception


def test_the_current_digit_is_placed_and_its_neighbours_shown(open_map, small_mnist):
    _, (x_test, y_test) = small_mnist
    app = open_map(Digit(x_test[7].astype(np.float32) / 255, "drawing"))
    assert not app.exception
    assert any(header.value == "Its nearest digits, as the network sees them" for header in app.subheader)
    captions = [caption for element in app.image for caption in element.captions]
    neighbours = [caption for caption in captions if caption.startswith("a ")]
    assert len(neighbours) == 10
    # Test digit 7 itself is among the 70,000: its own nearest neighbour, at distance 0.
    assert neighbours[0] == f"a {y_test[7]}, 0.0"
    assert any("test #7" == caption.value for caption in app.caption)


def test_a_confusion_cell_is_ringed_on_the_map(open_map):
    app = open_map()
    app.switch_page("pages/confusion_matrix.py").run()
    app.button(key="confusion_on_map").click().run()
    assert not app.exception
    assert any(caption.value.startswith("Ringed in red: the test images of a") for caption in app.caption)
    # A new session, ringed already (Streamlit 1.59's AppTest trips over the previous page's widgets).
    again = AppTest.from_file(APP, default_timeout=240)
    again.session_state["map_cell"] = (4, 9)
    again.run()
    again.switch_page("pages/digit_map.py").run()
    assert any(caption.value.startswith("Ringed in red: the test images of a 4") for caption in again.caption)
    again.button(key="map_clear_cell").click().run()
    assert not again.exception and not any(caption.value.startswith("Ringed") for caption in again.caption)


def test_two_versions_side_by_side(open_map):
    other = publish_version(build_model("original", width=0.25), RunMetadata(created="2026-11-25"), "other-net")
    app = open_map()
    app.selectbox(key="map_compare").set_value(other.id).run()
    assert not app.exception
    captions = [caption.value for caption in app.caption]
    assert any(caption.startswith("shipped model: PCA") for caption in captions)
    assert any(caption.startswith(f"{other.id}: PCA of its dense2 features") for caption in captions)


def test_maps_and_features_are_kept_on_disk_across_a_restart(shipped_cache, open_map, monkeypatch):
    # What the page computed and kept (in `shipped_cache`, the first time it opened with a digit),
    # beside the lock files under which one process computes the features (nothing half-written).
    kept = list((shipped_cache / "default").iterdir())
    stored = sorted(path.name.split("-")[0] for path in kept if path.suffix == ".npz")
    assert all(path.suffix in (".npz", ".lock") for path in kept)
    assert stored == ["features", "features", "map"]  # Test and training features, and the PCA map.

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(projection, "project", refuse)
    monkeypatch.setattr(projection, "features", refuse)
    monkeypatch.setattr(projection, "features_apart", refuse)
    app = open_map()
    assert not app.exception
    assert any(caption.value.startswith("shipped model: PCA") for caption in app.caption)


@pytest.mark.slow
def test_in_public_mode_only_the_operator_starts_a_map_that_is_not_kept_yet(open_new_map, monkeypatch):
    """Issue 29, item 3: four visitors asking for maps kept both cores busy for 268 s."""
    from pages.ui import access

    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    computed = []

    def fast_project(values, method, progress=None):
        computed.append(method)
        return {"points": np.zeros((len(values), 2), np.float32), "a": np.float32(1.0), "b": np.float32(1.0)}

    monkeypatch.setattr(projection, "project", fast_project)
    monkeypatch.setattr(layout, "project_apart", fast_project)
    # PCA takes a fraction of a second: anyone may have it (the page opens on it).
    visitor = open_new_map()
    assert computed == ["PCA"]
    visitor.radio(key="map_method").set_value("UMAP").run()
    assert not visitor.exception and computed == ["PCA"]
    assert any("not been computed" in info.value for info in visitor.info)
    # The operator computes the UMAP map; then every visitor sees it.
    operator = open_new_map()
    operator.session_state[access.OPERATOR] = True
    operator.radio(key="map_method").set_value("UMAP").run()
    assert computed == ["PCA", "UMAP"]
    visitor.radio(key="map_method").set_value("UMAP").run()
    assert not visitor.exception and computed == ["PCA", "UMAP"]
    assert not any("not been computed" in info.value for info in visitor.info)


@pytest.mark.slow
def test_umap_and_tsne_maps_are_laid_out_in_a_process_at_a_lower_priority(open_new_map, monkeypatch):
    """Issue 29, item 3: a map computed in the app's process slowed other visitors' strokes to p95 1.2 s."""
    where = []

    def recorder(place):
        def lay_out(values, method, progress=None):
            where.append((method, place))
            return {"points": np.zeros((len(values), 2), np.float32), "a": np.float32(1.0), "b": np.float32(1.0)}

        return lay_out

    monkeypatch.setattr(projection, "project", recorder("here"))
    monkeypatch.setattr(layout, "project_apart", recorder("apart"))
    app = open_new_map()
    for method in ("UMAP", "t-SNE"):
        app.radio(key="map_method").set_value(method).run()
        assert not app.exception
    assert where == [("PCA", "here"), ("UMAP", "apart"), ("t-SNE", "apart")]


@pytest.mark.slow
def test_the_map_and_the_neighbours_of_all_of_mnist(isolated_registry, mnist_file, mnist, monkeypatch):
    """The other tests use a tenth of MNIST (`small_mnist_file`): here the real sizes, computed from
    nothing, as a first visitor of a new server meets them."""
    monkeypatch.setenv("MNIST_PATH", str(mnist_file))
    st.cache_data.clear()
    st.cache_resource.clear()
    _, (x_test, y_test) = mnist
    app = AppTest.from_file(APP, default_timeout=300)
    app.session_state["current_digit"] = Digit(x_test[7].astype(np.float32) / 255, "drawing")
    app.run()
    app.switch_page("pages/digit_map.py").run()
    assert not app.exception
    captions = [caption.value for caption in app.caption]
    assert any("of the 60,000 training and 10,000 test digits" in caption for caption in captions)
    neighbours = [caption for element in app.image for caption in element.captions if caption.startswith("a ")]
    assert len(neighbours) == 10 and neighbours[0].startswith(f"a {y_test[7]}, ")
