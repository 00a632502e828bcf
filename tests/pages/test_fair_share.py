"""Each visitor's fair share of the server (pages/ui/fair_share.py)."""

import pytest
from streamlit.testing.v1 import AppTest

from pages.ui import fair_share
from pages.ui.fair_share import BURST, MAX_CHARGE, RATE, Bucket


def test_a_visitor_drawing_now_and_then_never_waits():
    bucket = Bucket(when=0.0)
    for stroke in range(200):  # A stroke every 3 s, 60 ms of CPU each.
        assert bucket.wait_before_run(stroke * 3.0) == 0.0
        bucket.charge(0.06, stroke * 3.0 + 0.06)


def test_a_session_that_reruns_without_pause_is_held_to_its_share():
    bucket, now, used = Bucket(when=0.0), 0.0, 0.0
    for _ in range(500):  # Runs of 0.2 s of CPU, one after the other.
        now += bucket.wait_before_run(now)
        bucket.charge(0.2, now + 0.2)
        now += 0.2
        used += 0.2
    # Over the whole time, about its share (plus the burst it may use at once).
    assert used / now == pytest.approx(RATE, rel=0.15)
    assert used <= RATE * now + BURST + MAX_CHARGE


def test_one_long_run_is_charged_at_most_max_charge():
    bucket = Bucket(when=0.0)
    bucket.charge(30.0, 30.0)
    assert bucket.debt == MAX_CHARGE
    assert bucket.wait_before_run(30.0) == 0.0


def test_a_fragment_inside_a_page_run_is_counted_once(monkeypatch):
    """The page's run counts its fragments' time; charging them again would double it."""

    def page():
        import streamlit as st

        from pages.ui.fair_share import fair_share

        with fair_share(), fair_share():
            st.write("inside")

    clock = iter([0.0, 0.0, 1.0])
    cpu = iter([0.0, 0.4])
    monkeypatch.setattr(fair_share, "_clock", lambda: next(clock))
    monkeypatch.setattr(fair_share, "_cpu", lambda: next(cpu))
    app = AppTest.from_function(page).run()
    assert not app.exception
    assert app.session_state[fair_share.SESSION_KEY].debt == pytest.approx(0.4)


def test_a_session_past_its_share_sleeps_before_its_next_run(monkeypatch):
    def page():
        import streamlit as st

        from pages.ui.fair_share import fair_share

        with fair_share():
            st.write("ran")

    slept = []
    monkeypatch.setattr(fair_share, "_sleep", slept.append)
    monkeypatch.setattr(fair_share, "_clock", lambda: 100.0)
    app = AppTest.from_function(page)
    app.session_state[fair_share.SESSION_KEY] = Bucket(debt=BURST + 0.5, when=100.0)
    app.run()
    assert not app.exception and slept == [pytest.approx(0.5 / RATE)]
