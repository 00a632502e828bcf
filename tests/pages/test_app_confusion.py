import numpy as np
from streamlit.testing.v1 import AppTest

from model.analysis.evaluation import evaluate
from model.runtime.inference import Predictor
from model.store.mnist import load_mnist
from model.store.registry import default_version
from model.store.storage import load_model
from tests.conftest import APP


def open_page(monkeypatch, mnist_path) -> AppTest:
    monkeypatch.setenv("MNIST_PATH", str(mnist_path))
    app = AppTest.from_file(APP, default_timeout=180).run()
    return app.switch_page("pages/confusion_matrix.py").run()


def test_page_shows_accuracy_and_the_digits_behind_a_cell(isolated_registry, small_mnist_app, monkeypatch):
    _, (x_test, y_test) = load_mnist(small_mnist_app)
    app = open_page(monkeypatch, small_mnist_app)
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Test accuracy"].endswith("%")
    errors = int(metrics["Errors"].split(" of ")[0].replace(",", ""))
    assert 0 < errors < 300

    app.toggle(key="confusion_normalised").set_value(True).run()
    assert not app.exception

    # Select the cell of true 7 / predicted 7 with the keyboard pickers: hundreds of images.
    app.selectbox(key="confusion_true").set_value(7).run()
    app.selectbox(key="confusion_predicted").set_value(7).run()
    assert not app.exception
    captions = [caption for element in app.image for caption in element.captions]
    assert len(captions) == 12
    shown = [int(caption.lstrip("#")) for caption in captions]
    assert all(y_test[index] == 7 for index in shown)

    # Send the first one to the Feature maps page as the current digit.
    app.button(key=f"confusion_maps_{shown[0]}").click().run()
    assert not app.exception
    current = app.session_state["current_digit"]
    assert current.source == f"MNIST test image #{shown[0]}" and current.label == 7
    np.testing.assert_allclose(current.image, x_test[shown[0]] / 255.0, atol=1e-6)
    assert any("Predicted" in block.value for block in app.markdown)


def test_an_empty_cell_says_so(isolated_registry, small_mnist_app, monkeypatch):
    _, (x_test, y_test) = load_mnist(small_mnist_app)
    confusion = evaluate(Predictor(load_model(default_version().model_file)), x_test, y_test).confusion
    true, predicted = map(int, np.argwhere(confusion == 0)[0])
    app = open_page(monkeypatch, small_mnist_app)
    app.selectbox(key="confusion_true").set_value(true).run()
    app.selectbox(key="confusion_predicted").set_value(predicted).run()
    assert not app.exception
    assert any(f"No test image of a {true} was predicted as {predicted}" in info.value for info in app.info)
    assert len(app.image) == 0


def test_missing_data_gets_a_message_not_a_stack_trace(isolated_registry, tmp_path, monkeypatch):
    app = open_page(monkeypatch, tmp_path / "nowhere.npz")
    assert not app.exception
    # Issue 30, item 3: the fix once, as a command (the message named MNIST_PATH twice).
    [message] = [warning.value for warning in app.warning if "MNIST is not available" in warning.value]
    assert message.count("MNIST_PATH") == 1
    assert "`MNIST_PATH=/path/to/mnist.npz streamlit run app.py`" in message and "11 MB" in message
    assert not app.metric


def test_the_hardest_digit_is_said_in_words(isolated_registry, mnist_file, monkeypatch):
    """Issue 30, item 9: "Hardest digit 9 (99.3% found)"."""
    app = open_page(monkeypatch, mnist_file)
    hardest = next(metric for metric in app.metric if metric.label == "Hardest digit")
    assert hardest.value.isdigit() and hardest.delta.endswith("of its test images recognised")
