"""Public mode and the per-visitor model choice, through AppTest sessions."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.architecture import build_model
from model.store.my_digits import MemoryStore
from model.store.registry import DEFAULT_ID, active_version, default_version, list_versions, publish_version
from model.store.schemas import RunMetadata
from pages.ui import access
from tests.conftest import APP
from training.jobs import JobRunner


@pytest.fixture()
def trained_version(isolated_registry):
    """A second version beside the shipped default, with an accuracy no real model has."""
    metadata = RunMetadata(test_accuracy=0.1234, created="2026-11-25T00:00:00")
    return publish_version(build_model("default", width=0.25), metadata, "tiny-version")


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The operator unlock's clock, moved by the test; and a server with no wrong passwords yet."""
    now = [1000.0]
    monkeypatch.setattr(access, "_clock", lambda: now[0])
    monkeypatch.setattr(access, "_server_guesses", access._ServerGuesses())
    return now


def open_page(page: str | None = None, password: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    if password is not None:
        app.secrets["operator_password"] = password
    app.run()
    return app.switch_page(page).run() if page else app


def accuracy_shown(app: AppTest) -> str:
    return next(metric.value for metric in app.metric if metric.label == "Test accuracy")


@pytest.mark.slow  # As tests/test_browser.py's two visitors do, in the fast loop's stead.
def test_each_visitor_chooses_their_own_version(trained_version):
    first, second = open_page(), open_page()
    assert accuracy_shown(first) == accuracy_shown(second) == f"{default_version().metadata.test_accuracy:.2%}"
    first.sidebar.selectbox(key="app_version").set_value(trained_version.id).run()
    assert accuracy_shown(first) == "12.34%"
    # The other session, and the default for new ones, stay as they were.
    second.run()
    assert accuracy_shown(second) == f"{default_version().metadata.test_accuracy:.2%}"
    assert active_version().id == DEFAULT_ID
    # The choice follows the visitor to every page.
    first.switch_page("pages/feature_maps.py").run()
    assert not first.exception and first.sidebar.selectbox(key="app_version").value == trained_version.id


def test_a_deleted_choice_falls_back_to_the_default(trained_version):
    app = open_page()
    app.sidebar.selectbox(key="app_version").set_value(trained_version.id).run()
    trained_version.path.rename(trained_version.path.with_name(".gone"))
    app.run()
    assert not app.exception and app.sidebar.selectbox(key="app_version").value == DEFAULT_ID


def test_in_public_mode_a_visitor_cannot_train_set_the_default_or_delete(trained_version, small_mnist_app, monkeypatch):
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page("pages/retrain.py")
    assert not app.exception
    assert app.button(key="retrain_start").disabled
    app.multiselect(key="retrain_sweep_settings").set_value(["learning_rate"]).run()
    assert app.button(key="retrain_sweep_start").disabled
    assert not any(button.key in ("retrain_activate", "retrain_delete", "retrain_cancel") for button in app.button)
    assert JobRunner().status() is None
    assert [version.id for version in list_versions()] == [DEFAULT_ID, trained_version.id]


def _guarded_action():
    import streamlit as st

    from pages.ui.access import refuse_unless_manager

    st.write("done" if refuse_unless_manager("Deleting a version") else "refused")


def test_every_action_checks_on_the_server_not_only_in_the_browser(isolated_registry, monkeypatch):
    # The pages call refuse_unless_manager in each handler, whatever the browser sent.
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = AppTest.from_function(_guarded_action).run()
    assert [block.value for block in app.markdown] == ["refused"]
    assert "Deleting a version is for the operator" in app.error[0].value
    app.session_state["app_operator"] = True
    assert [block.value for block in app.run().markdown] == ["done"]
    monkeypatch.setenv("DIGITS_PUBLIC", "0")
    assert [block.value for block in AppTest.from_function(_guarded_action).run().markdown] == ["done"]


def unlock(app: AppTest, password: str) -> list[str]:
    """Types a password and presses Unlock; returns the sidebar's errors."""
    app.sidebar.text_input(key="app_operator_password").set_value(password).run()
    app.sidebar.button(key="app_operator_unlock").click().run()
    return [error.value for error in app.sidebar.error]


def test_the_operator_unlocks_their_own_session_with_the_password(trained_version, small_mnist_app, monkeypatch, clock):
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page("pages/retrain.py", password="s3cret")
    app.sidebar.text_input(key="app_operator_password").set_value("wrong").run()
    app.sidebar.button(key="app_operator_unlock").click().run()
    assert any("Wrong password" in error.value for error in app.sidebar.error)
    assert app.button(key="retrain_start").disabled

    clock[0] += access.FIRST_WAIT
    app.sidebar.text_input(key="app_operator_password").set_value("s3cret").run()
    app.sidebar.button(key="app_operator_unlock").click().run()
    assert not app.button(key="retrain_start").disabled
    app.selectbox(key="retrain_version").set_value(trained_version.id).run()
    app.button(key="retrain_activate").click().run()
    assert active_version().id == trained_version.id
    # A visitor's session is still locked.
    assert open_page("pages/retrain.py", password="s3cret").button(key="retrain_start").disabled


def test_wrong_passwords_slow_a_session_s_guesses_down_and_are_logged_without_the_guess(
    isolated_registry, monkeypatch, clock, caplog
):
    """Issue 29, item 4: 401 guesses in 9.7 s, with no delay and no log line."""
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page(password="s3cret")
    with caplog.at_level("WARNING", logger="pages.ui.access"):
        assert unlock(app, "guess-one") == ["Wrong password."]
        # Even the right password waits: a second after the first wrong one, two after the second.
        assert unlock(app, "s3cret") == ["Too many wrong passwords: try again in 1 s."]
        clock[0] += 1.0
        assert unlock(app, "guess-two") == ["Wrong password."]
        clock[0] += 1.0
        assert unlock(app, "s3cret") == ["Too many wrong passwords: try again in 1 s."]
    assert access.OPERATOR not in app.session_state or app.session_state[access.OPERATOR] is not True
    assert [record.levelname for record in caplog.records if record.name == "pages.ui.access"] == ["WARNING"] * 2
    assert "guess" not in caplog.text and "this session's 2" in caplog.text
    clock[0] += 1.0
    assert unlock(app, "s3cret") == [] and app.session_state[access.OPERATOR] is True


def test_the_server_takes_at_most_ten_wrong_passwords_a_minute_from_all_sessions(isolated_registry, monkeypatch, clock):
    guesses = access._server_guesses
    for second in range(access.SERVER_GUESSES):
        assert guesses.wait(clock[0] + second) == 0
        guesses.record(clock[0] + second)
    assert guesses.wait(clock[0] + 30) == 30
    # A new session with the right password waits too, until the first of the ten is a minute old.
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page(password="s3cret")
    clock[0] += 30
    assert unlock(app, "s3cret") == ["Too many wrong passwords: try again in 30 s."]
    clock[0] += 30
    assert unlock(app, "s3cret") == [] and app.session_state[access.OPERATOR] is True


def test_without_a_password_public_mode_stays_locked_and_says_how_to_unlock(isolated_registry, monkeypatch):
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page()
    assert not app.exception
    assert any("operator_password" in caption.value for caption in app.sidebar.caption)


def test_outside_public_mode_everyone_manages(trained_version, small_mnist_app, monkeypatch):
    monkeypatch.delenv("DIGITS_PUBLIC", raising=False)
    app = open_page("pages/retrain.py")
    assert not app.button(key="retrain_start").disabled
    assert any(button.key == "retrain_delete" for button in app.button)


def test_a_visitor_s_training_settings_are_folded_away_and_the_operator_s_are_not(
    isolated_registry, small_mnist_app, monkeypatch
):
    """Issue 30, item 8: a public visitor's Retrain sidebar showed about 20 settings they cannot use."""
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page("pages/retrain.py", password="s3cret")
    folded = [expander for expander in app.sidebar.expander if expander.label == "Training settings (operator)"]
    assert len(folded) == 1 and folded[0].selectbox(key="retrain_preset")
    assert "Training settings" not in [header.value for header in app.sidebar.header]
    app.sidebar.text_input(key="app_operator_password").set_value("s3cret").run()
    app.sidebar.button(key="app_operator_unlock").click().run()
    assert not [expander for expander in app.sidebar.expander if expander.label == "Training settings (operator)"]
    assert "Training settings" in [header.value for header in app.sidebar.header]


def test_fine_tuning_says_whose_digits_it_counts(isolated_registry, small_mnist_app, monkeypatch, tmp_path):
    """Issue 30, item 8: a visitor with one digit in their session read "the 0 digits kept on this server";
    in the public-mode walk the operator read "yours stay in your session" of the server's own digits,
    and a visitor found the fine-tune controls open beside the folded training settings."""
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    monkeypatch.setenv("MY_DIGITS", str(tmp_path / "mine"))
    app = open_page("pages/retrain.py", password="s3cret")
    own = MemoryStore()
    own.add(np.pad(np.ones((20, 20), np.float32), 4), 3)
    app.session_state["mydigits_store"] = own
    app.run()
    folded = next(expander for expander in app.sidebar.expander if expander.label == "Fine-tuning (operator)")
    captions = " ".join(caption.value for caption in folded.caption)
    assert "the operator's digits on this server (0 kept there)" in captions
    assert "The 1 digit you kept stays in your session" in captions
    app.sidebar.text_input(key="app_operator_password").set_value("s3cret").run()
    app.sidebar.button(key="app_operator_unlock").click().run()
    assert "Fine-tune on your digits" in [header.value for header in app.sidebar.header]
    captions = " ".join(caption.value for caption in app.sidebar.caption)
    assert "the 0 digits kept on this server (the My digits page)" in captions
    assert "in your session" not in captions


def test_an_empty_password_is_not_ignored_silently(isolated_registry, monkeypatch):
    """Issue 30, item 8: Unlock with an empty password did nothing and said nothing."""
    monkeypatch.setenv("DIGITS_PUBLIC", "1")
    app = open_page("pages/home.py", password="s3cret")
    app.sidebar.button(key="app_operator_unlock").click().run()
    assert [error.value for error in app.sidebar.error if "Type the operator password" in error.value]


def test_the_versions_table_says_when_in_words_not_iso(trained_version, small_mnist_app, monkeypatch):
    """Issue 30, item 9: raw ISO timestamps (2026-11-25T00:00:00) in the versions table."""
    app = open_page("pages/retrain.py")
    table = next(frame.value for frame in app.dataframe if "created" in frame.value.columns)
    assert "2026-11-25 00:00" in list(table["created"])


def test_the_default_is_named_first_so_a_long_version_name_cannot_hide_it(isolated_registry):
    """Issue 30, item 9: a long version name cut "· default" off the end, in the sidebar."""
    from model.store.registry import set_active

    long = publish_version(build_model("default", width=0.25), RunMetadata(test_accuracy=0.5), "a-long-name-" * 4)
    set_active(long.id)
    app = open_page()
    assert f"default · {long.id}" in app.sidebar.selectbox(key="app_version").options


def test_a_registry_that_cannot_hold_locks_stops_the_app_with_the_reason(isolated_registry, monkeypatch):
    """Issue 33, item 1: replicas share the registry through flock and renames; without them, nothing runs."""
    from pages.ui import models

    monkeypatch.setattr(models, "locking_problem", lambda folder: f"the folder {folder} cannot hold the app's locks")
    app = open_page()
    assert not app.exception
    assert any("The app cannot start" in error.value and str(isolated_registry) in error.value for error in app.error)
    assert not app.metric
