"""Each visitor's fair share of the server: a session that keeps the interpreter busy waits.

One Streamlit process runs every session's script under one interpreter lock, so a visitor
who reruns pages as fast as a script can send them (the 60,000-value sweep box, Keep pressed
again and again, three tabs at once) takes the server from everyone: with 35 visitors
drawing, one such visitor raised their strokes to p50 1.3 s. Every page run and fragment
run is counted here, by the CPU time its thread used, in a token bucket per session: a
session may use `BURST` seconds at once and `RATE` of a core on average; beyond that, its
next run first sleeps (which releases the interpreter) until it is back within its share.
A visitor drawing a stroke every few seconds uses about 1% and never waits. The sleep holds
only that session: its own next run waits, no one else's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import streamlit as st

# A session's share of one core, on average (a visitor drawing uses about 1%, one exploring the
# pages 5-10% in bursts), and what it may use at once (seconds of CPU).
RATE = 0.05
BURST = 3.0
# At most this much of one run is charged: a first visit that loads a model or MNIST for
# everyone is not held against the visitor; what is defended against is runs again and again.
MAX_CHARGE = 1.0
# The longest a run waits: a visitor is slowed down, never stopped.
MAX_WAIT = 10.0
SESSION_KEY = "app_fair_share"


@dataclass
class Bucket:
    """CPU seconds a session used beyond what its share has paid back since (`debt`), as of `when`."""

    debt: float = 0.0
    when: float = 0.0

    def wait_before_run(self, now: float) -> float:
        """Pays back the share earned since the last run; the seconds to wait before this one."""
        self.debt = max(0.0, self.debt - RATE * max(0.0, now - self.when))
        self.when = now
        return min(MAX_WAIT, max(0.0, self.debt - BURST) / RATE)

    def charge(self, seconds: float, now: float) -> None:
        """Adds what a run used; `now` is when it ended."""
        self.debt = max(0.0, self.debt - RATE * max(0.0, now - self.when)) + min(MAX_CHARGE, max(0.0, seconds))
        self.when = now


# Injectable in tests: wall clock, thread CPU clock, sleep.
_clock = time.monotonic
_cpu = time.thread_time
_sleep = time.sleep


# Runs being counted on this thread: a fragment inside a page's run is counted once, by the page.
_counting = threading.local()


@contextlib.contextmanager
def fair_share():
    """Around a page's run and on every fragment (`@fair_share()`): waits first when this session is
    past its share, then charges the run's CPU time to it."""
    if getattr(_counting, "active", False):
        yield
        return
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = Bucket(when=_clock())
    bucket = st.session_state[SESSION_KEY]
    wait = bucket.wait_before_run(_clock())
    if wait > 0:
        logging.getLogger(__name__).info("A session past its share of the server waits %.1f s.", wait)
        _sleep(wait)
        bucket.wait_before_run(_clock())
    _counting.active = True
    started = _cpu()
    try:
        yield
    finally:
        _counting.active = False
        bucket.charge(_cpu() - started, _clock())
