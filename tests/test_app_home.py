from streamlit.testing.v1 import AppTest

from model.registry import default_version
from tests.conftest import APP


def test_home_page_shows_the_active_model(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120).run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    expected = f"{default_version().metadata.test_accuracy:.2%}"
    assert metrics["Test accuracy"] == expected
    assert metrics["Architecture"] == "default"
    assert "shipped default" in " ".join(block.value for block in app.markdown)
