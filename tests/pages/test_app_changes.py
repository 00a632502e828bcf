"""AppTest of `pages.ui.common.carry_out`: a change a visitor asked for is done and toasted, or refused
with the reason, and an unwritable folder is named without its path."""

import pytest
from streamlit.testing.v1 import AppTest


def change_script() -> None:
    import streamlit as st

    from pages.ui.common import carry_out

    def action():
        outcome = st.session_state.outcome
        if outcome == "refused":
            raise ValueError("That example is gone (deleted already).")
        if outcome == "unwritable":
            raise PermissionError(13, "Permission denied", "/srv/secret/path/x.npz")
        if outcome == "unexpected":
            raise KeyError("not ours to handle")
        return 7

    # Once per test: a successful change reruns the app.
    if not st.session_state.get("done"):
        st.session_state.done = True
        st.session_state.result = carry_out(action, lambda n: f"Kept {n}.", "dataset folder", failed="Not kept")
    st.write(f"after: {st.session_state.get('result', 'a rerun')}")


def run(outcome: str) -> AppTest:
    app = AppTest.from_function(change_script, default_timeout=30)
    app.session_state.outcome = outcome
    return app.run()


def test_a_change_that_works_is_toasted_and_the_app_reruns():
    app = run("works")
    assert not app.exception and not app.error
    assert [toast.value for toast in app.toast] == ["Kept 7."]
    # It did not return: the app reran at once, and the rerun ran to the end.
    assert "result" not in app.session_state and app.markdown[0].value == "after: a rerun"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("refused", "Not kept: That example is gone (deleted already)."),
        ("unwritable", "Not kept: the dataset folder cannot be written (Permission denied)."),
    ],
)
def test_a_refused_or_unwritable_change_says_why_and_nothing_else(outcome, message):
    app = run(outcome)
    assert not app.exception and not app.toast
    assert [error.value for error in app.error] == [message]
    assert app.session_state.result is False
    assert "/srv/secret" not in message


def test_an_unexpected_error_is_not_swallowed():
    assert run("unexpected").exception
