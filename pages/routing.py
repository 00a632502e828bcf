"""Serving every page through app.py's router, also on a fresh server: the one work-around for
Streamlit's legacy `pages/` folder mode, with public API only.

Streamlit treats a `pages/` folder beside the entry point as a legacy multipage app until
some session calls `st.navigation` (documented: from then on it ignores the folder in all
sessions). On a fresh server, the first request for a page's URL (say `/draw`) therefore
runs that page file alone, without app.py: no navigation, no page config. So app.py marks
each session it routes (`route`), and a page that finds its session unmarked
(`ensure_routed`) hands the request to app.py, which calls `st.navigation` and switches
back to the page. This costs two reruns, once, in the first session of a fresh server;
tests/test_browser.py opens `/draw` on a fresh server to keep it working.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent.parent
ROUTED = "app_routed"
RETURN_TO = "app_return_to"


def route(pages: Sequence[st.Page]) -> st.Page:
    """app.py's router: `st.navigation` over `pages`, back to a page that handed its request over."""
    st.session_state[ROUTED] = True
    page = st.navigation(pages)
    if RETURN_TO in st.session_state:
        st.switch_page(st.session_state.pop(RETURN_TO))
    return page


def ensure_routed(page_file: str) -> None:
    """The first call of every page (with its `__file__`): hands the request to app.py if it did not route it."""
    if not st.session_state.get(ROUTED):
        st.session_state[RETURN_TO] = Path(page_file).resolve().relative_to(APP_DIR).as_posix()
        st.switch_page("app.py")
