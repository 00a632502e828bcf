"""AppTest of the Robustness page: the six curves, a transformed digit, an adversarial example."""

from streamlit.testing.v1 import AppTest

from model.runtime.preprocess import from_uint8
from pages.ui.state import CURRENT_DIGIT, Digit
from tests.conftest import APP


def open_page(mnist) -> AppTest:
    _, (x_test, y_test) = mnist
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.session_state[CURRENT_DIGIT] = Digit(from_uint8(x_test[0]), "MNIST test image #0", 7)
    return app.switch_page("pages/robustness.py").run()


def test_the_curves_a_transformed_digit_and_an_attack_show_for_the_current_digit(isolated_registry, mnist):
    app = open_page(mnist)
    assert not app.exception
    assert any("Predicted 7" in block.value for block in app.markdown)
    # Six curves, plus the bars of the digit shown and of the attack.
    assert len(app.get("plotly_chart")) == 8
    app.selectbox(key="robust_kind").set_value("rotation").run()
    app.select_slider(key="robust_amount_rotation").set_value(-60.0).run()
    assert not app.exception
    assert "Rotated: -60°" in [caption for image in app.image for caption in image.captions]
    # What the rotated digit is predicted as, said in words.
    assert any(block.value.startswith(("**still a 7", "**now ")) for block in app.markdown)
    # The attack: FGSM, then PGD towards a 3, says how big a change it took.
    assert any("FGSM turns a 7 into" in block.value for block in app.markdown)
    app.radio(key="robust_method").set_value("PGD").run()
    app.selectbox(key="robust_target").set_value(3).run()
    assert not app.exception
    assert any("PGD turns a 7 into a 3" in block.value for block in app.markdown)


def test_without_a_drawing_a_test_digit_is_used(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120).run().switch_page("pages/robustness.py").run()
    assert not app.exception
    index = app.session_state["robust_test_index"]
    assert f"MNIST test image #{index}" in [caption for image in app.image for caption in image.captions]
    assert len(app.get("plotly_chart")) == 8
