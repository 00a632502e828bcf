"""Who may change what everyone shares: public mode, and the operator who unlocks it.

With `DIGITS_PUBLIC=1` (a class on one server), visitors look and draw, but cannot train,
cancel, set the default version, delete versions or upload models. The operator unlocks
these for their own session with the password in `st.secrets["operator_password"]`
(`.streamlit/secrets.toml`). Pages hide or disable the controls, and every action checks
`may_manage()` again when it runs, so a visitor cannot reach one by other means.
Without `DIGITS_PUBLIC`, everyone may do everything, as on a laptop.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

OPERATOR = "app_operator"


def public_mode() -> bool:
    """Whether the operator switched public mode on (`DIGITS_PUBLIC` set to anything but 0, false or no)."""
    return os.environ.get("DIGITS_PUBLIC", "").strip().lower() not in ("", "0", "false", "no")


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
        if st.button("Unlock", key="app_operator_unlock") and given:
            if hmac.compare_digest(given.encode(), expected.encode()):
                st.session_state[OPERATOR] = True
                st.rerun()
            st.error("Wrong password.")
