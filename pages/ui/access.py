"""Who may change what everyone shares: public mode, and the operator who unlocks it.

With `DIGITS_PUBLIC=1` (a class on one server), visitors look and draw, but cannot train,
cancel, set the default version, delete versions or upload models. The operator unlocks
these for their own session with the password in `st.secrets["operator_password"]`
(`.streamlit/secrets.toml`). Pages hide or disable the controls, and every action checks
`may_manage()` again when it runs, so a visitor cannot reach one by other means.
Without `DIGITS_PUBLIC`, everyone may do everything, as on a laptop.
"""

from __future__ import annotations

import collections
import hmac
import logging
import math
import threading
import time

import streamlit as st

from model import settings

OPERATOR = "app_operator"
# Wrong passwords slow guessing down: a session waits FIRST_WAIT seconds after its first wrong
# password and twice as long after each next one; the whole server takes at most SERVER_GUESSES
# wrong passwords in any SERVER_WINDOW seconds (from all sessions together), then none until the
# oldest of them is that old: at most 600 guesses an hour, however many sockets guess.
FIRST_WAIT = 1.0
SERVER_GUESSES = 10
SERVER_WINDOW = 60.0
# The clock the waits are measured on (tests move it).
_clock = time.monotonic
_LOGGER = logging.getLogger(__name__)


class _ServerGuesses:
    """The server's recent wrong passwords (their times), shared by every session."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self._times and self._times[0] <= now - SERVER_WINDOW:
            self._times.popleft()

    def wait(self, now: float) -> float:
        """Seconds until the server takes another guess (0 when it takes one now)."""
        with self._lock:
            self._forget_old(now)
            return self._times[0] + SERVER_WINDOW - now if len(self._times) >= SERVER_GUESSES else 0.0

    def record(self, now: float) -> int:
        """Notes a wrong password; returns how many the server had in the last window."""
        with self._lock:
            self._forget_old(now)
            self._times.append(now)
            return len(self._times)


_server_guesses = _ServerGuesses()


def public_mode() -> bool:
    """Whether the operator switched public mode on (`DIGITS_PUBLIC` set to anything but 0, false or no)."""
    return settings.public()


def may_manage() -> bool:
    """Whether this session may change shared state: always outside public mode, else once unlocked."""
    return not public_mode() or st.session_state.get(OPERATOR) is True


def refuse_unless_manager(action: str) -> bool:
    """True if this session may `action`; otherwise says why not and returns False. Call it in every handler."""
    if may_manage():
        return True
    st.error(f"{action} is for the operator while the app runs in public mode.")
    return False


def _operator_password() -> str | None:
    try:
        password = st.secrets.get("operator_password")
    except Exception:  # Streamlit raises its own error when there is no secrets file at all.
        return None
    return password if isinstance(password, str) and password else None


def operator_sidebar() -> None:
    """In public mode, the sidebar's operator unlock (and lock) for this session."""
    if not public_mode():
        return
    with st.sidebar.expander("Operator", expanded=False):
        if st.session_state.get(OPERATOR) is True:
            st.caption("Unlocked for this session: training, versions and uploads.")
            if st.button("Lock", key="app_operator_lock"):
                st.session_state[OPERATOR] = False
                st.rerun()
            return
        expected = _operator_password()
        if expected is None:
            st.caption(
                "Public mode. No operator password is set: add `operator_password` to "
                "`.streamlit/secrets.toml` to manage the app from here."
            )
            return
        given = st.text_input("Password", type="password", key="app_operator_password")
        pressed = st.button("Unlock", key="app_operator_unlock")
        if pressed and not given:
            st.error("Type the operator password first, then press Unlock.")
        if pressed and given:
            now = _clock()
            wait = max(st.session_state.get("app_operator_next_guess", 0.0) - now, _server_guesses.wait(now))
            if wait > 0:
                st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
            elif hmac.compare_digest(given.encode(), expected.encode()):
                st.session_state.pop("app_operator_wrong", None)
                st.session_state[OPERATOR] = True
                st.rerun()
            else:
                wrong = st.session_state["app_operator_wrong"] = st.session_state.get("app_operator_wrong", 0) + 1
                st.session_state["app_operator_next_guess"] = now + FIRST_WAIT * 2 ** (wrong - 1)
                on_server = _server_guesses.record(now)
                # Never the guess itself.
                _LOGGER.warning(
                    "A wrong operator password: this session's %d, the server's %d in the last %.0f s.",
                    wrong,
                    on_server,
                    SERVER_WINDOW,
                )
                st.error("Wrong password.")
