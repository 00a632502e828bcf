import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.analysis.inspection import layer_shapes
from model.store.registry import default_version
from model.store.storage import load_model
from pages.ui.state import Digit
from tests.conftest import APP


def open_page(small_mnist_app, monkeypatch) -> AppTest:
    monkeypatch.setenv("MNIST_PATH", str(small_mnist_app))
    app = AppTest.from_file(APP, default_timeout=120).run()
    return app.switch_page("pages/feature_maps.py").run()


@pytest.mark.slow
def test_every_layer_renders_without_an_exception(isolated_registry, small_mnist_app, monkeypatch):
    app = open_page(small_mnist_app, monkeypatch)
    assert not app.exception
    names = list(layer_shapes(load_model(default_version().model_file)))
    assert app.selectbox(key="feature_layer").options == [
        app.selectbox(key="feature_layer").format_func(name) for name in names
    ]
    for name in names:
        app.selectbox(key="feature_layer").set_value(name).run()
        assert not app.exception, name
        assert any(name in header.value for header in app.subheader)
        # The unit explained: the channel's strongest, its arithmetic ending in the value shown.
        explained = next(header.value for header in app.subheader if header.value.startswith(f"How {name}["))
        if name.startswith("conv"):
            assert "+ bias" in app.code[0].value and "ReLU" in app.code[0].value
        else:
            assert any("Max pooling" in block.value for block in app.markdown)
        shown = float(explained.split("= ")[-1].split(" ")[0])
        own = next(caption.value for caption in app.caption if caption.value.startswith("The model's own value"))
        assert float(own.split(" is ")[1].split(";")[0]) == pytest.approx(shown, abs=1e-3)
    # The last layer has 128 channels of 1x1; the picker follows the layer's channel count.
    assert app.number_input(key="feature_channel").max == 127


@pytest.mark.parametrize(
    "method",
    ["Grad-CAM"]
    + [
        pytest.param(method, marks=pytest.mark.slow)
        for method in ("Saliency", "SmoothGrad", "Integrated gradients", "Occlusion")
    ],
)
def test_explanations_render_for_any_class(isolated_registry, small_mnist_app, monkeypatch, method):
    app = open_page(small_mnist_app, monkeypatch)
    app.radio(key="feature_method").set_value(method).run()
    app.selectbox(key="feature_class").set_value(3).run()
    assert not app.exception
    assert any(f"{method} for 3" in str(chart.proto.spec) for chart in app.get("plotly_chart"))
    captions = " ".join(caption.value for caption in app.caption)
    assert method.split()[0] in captions
    if method == "Integrated gradients":
        assert "Completeness check: the attributions add up to" in captions
        app.selectbox(key="feature_steps").set_value(128).run()
        assert not app.exception


def test_the_current_digit_from_the_draw_page_is_used(isolated_registry, small_mnist_app, monkeypatch, small_mnist):
    _, (x_test, y_test) = small_mnist
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["current_digit"] = Digit(x_test[3].astype(np.float32) / 255, "drawing")
    app.run()
    app.switch_page("pages/feature_maps.py").run()
    assert not app.exception
    assert any(f"Predicted {y_test[3]}" in block.value for block in app.markdown)
    assert any(caption.value.startswith(("Sure", "Fairly sure", "Unsure")) for caption in app.caption)
    assert "feature_test_index" not in app.session_state


@pytest.mark.slow
def test_what_a_channel_detects_is_shown_and_kept_across_a_restart(isolated_registry, small_mnist_app, monkeypatch):
    import streamlit as st

    from model.analysis import channels

    st.cache_data.clear()  # Earlier tests computed them, for another registry.
    app = open_page(small_mnist_app, monkeypatch)
    assert any(header.value == "What does conv1, channel 0 detect?" for header in app.subheader)
    captions = [caption for element in app.image for caption in element.captions]
    # Issue 30, item 9: "a 9: 5.27" said in words.
    patches = [caption for caption in captions if re.fullmatch(r"in an? \d, strength \d+\.\d\d", caption)]
    assert len(patches) == 9, captions
    assert list((isolated_registry / ".cache" / "default").glob("top_patches-*.npz"))
    # The first layer shows its filter itself (issue 30, item 6: the image made for it was a blur).
    assert any("its 3x3 filter is the pattern it looks for" in caption.value for caption in app.caption)
    assert not [toggle for toggle in app.toggle if toggle.key == "feature_maximise"]
    app.selectbox(key="feature_layer").set_value("conv2").run()
    app.toggle(key="feature_maximise").set_value(True).run()
    assert not app.exception
    assert list((isolated_registry / ".cache" / "default").glob("maximised-*-conv2-0.npz"))

    # A restarted server has no memory caches, but finds both on disk.
    st.cache_data.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(channels, "top_patches", refuse)
    monkeypatch.setattr(channels, "activation_maximisation", refuse)
    again = open_page(small_mnist_app, monkeypatch)
    again.selectbox(key="feature_layer").set_value("conv2").run()
    again.toggle(key="feature_maximise").set_value(True).run()
    assert not again.exception


def test_the_network_itself_layer_table_and_histograms(isolated_registry, small_mnist_app, monkeypatch):
    app = open_page(small_mnist_app, monkeypatch)
    assert any(header.value == "The network itself" for header in app.subheader)
    table = app.dataframe[-1].value
    assert {"kernel", "stride", "padding"} <= set(table.columns) and "conv5" in set(table["layer"])
    # Issue 30, item 9: parameter counts with thousands separators.
    assert "localized" in app.dataframe[-1].proto.columns
    for layer in ("conv1", "conv1_norm", "pool1", "flatten", "probabilities"):
        app.selectbox(key="feature_histogram_layer").set_value(layer).run()
        assert not app.exception, layer
        captions = " ".join(caption.value for caption in app.caption)
        assert f"{layer}'s" in captions and ("has no weights" in captions) == (layer in ("pool1", "flatten"))
        # conv1 is the raw convolution (its ReLU comes after the normalisation): not "after a ReLU".
        assert ("before a ReLU" in captions) == (layer in ("conv1", "conv1_norm")), layer


def test_the_whole_network_shows_every_layer_then_the_dense_part_and_the_outputs(
    isolated_registry, small_mnist_app, monkeypatch
):
    import json

    app = open_page(small_mnist_app, monkeypatch)
    overview = next(chart for chart in app.get("plotly_chart") if "feature_overview" in chart.proto.id)
    titles = [note["text"] for note in json.loads(overview.proto.spec)["layout"]["annotations"]]
    names = list(layer_shapes(load_model(default_version().model_file)))
    assert titles == ["input", *names, "flatten (128)", "output"]
