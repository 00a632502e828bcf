import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from model.store.registry import default_version
from tests.conftest import APP


def test_home_page_shows_the_active_model(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120).run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    expected = f"{default_version().metadata.test_accuracy:.2%}"
    assert metrics["Test accuracy"] == expected
    assert metrics["Architecture"] == "default"
    assert "shipped default" in " ".join(block.value for block in app.markdown)


def test_the_list_of_pages_names_what_each_does_now(isolated_registry):
    """Issue 30, item 9: the list had fallen behind the pages (no channel panel, occlusion, rings, fine-tuning)."""
    app = AppTest.from_file(APP, default_timeout=120).run()
    listing = next(markdown.value for markdown in app.markdown if "**Draw**" in markdown.value)
    # Every page the router has, but Home itself.
    titles = re.findall(r'st\.Page\([^)]*title="([^"]+)"', Path(APP).read_text())
    assert titles[0] == "Home" and "Lesson" in titles and "How it learned" in titles
    for title in titles[1:]:
        assert f"**{title}**" in listing, title
    for feature in ("what a channel detects", "occlusion", "ringed", "side by side", "fine-tunes"):
        assert feature in listing, feature
