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

The router also turns a forged widget value into one message (`refusing_forged_values`), and
`guarded` adds each visitor's fair share of the server (pages/ui/fair_share.py) to that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from pages.ui.fair_share import fair_share

APP_DIR = Path(__file__).resolve().parents[2]
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


# Streamlit's functions that read the values a browser sent for its widgets. Only a forged message
# makes them raise: a widget id that no page made (KeyError from `filtered_state`, which every
# selectbox, slider and text box reads) or a value of the wrong type (TypeError when the widget is
# registered). Streamlit 1.67 lets these reach the page as errors; see issue 29, item 6.
_READING_WIDGET_VALUES = {"filtered_state", "register_widget", "get_serialized"}
_STREAMLIT_STATE = f"streamlit{os.sep}runtime{os.sep}state{os.sep}"
FORGED = (
    "Your browser sent a value this page cannot take (not one its own controls send), so the page "
    "stopped here. Use the page's controls; if this stays, reload the page."
)


def forged_value(error: BaseException) -> bool:
    """Whether `error` was raised by Streamlit while it read a widget value the browser sent."""
    frames = traceback.extract_tb(error.__traceback__)
    return (
        bool(frames)
        and _STREAMLIT_STATE in frames[-1].filename
        and any(frame.name in _READING_WIDGET_VALUES for frame in frames)
    )


@contextlib.contextmanager
def refusing_forged_values():
    """Around a page's run, or on a fragment (`@refusing_forged_values()`): a forged widget value (`forged_value`)
    gets one message, logged without the value; any other error goes on as it would."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as error:
        if not forged_value(error):
            raise
        logging.getLogger(__name__).warning("Refused a widget value Streamlit could not read (%s).", type(error))
        st.error(FORGED, icon=":material/block:")


@contextlib.contextmanager
def guarded():
    """Around app.py's run of a page and on every fragment (`@guarded()`): a forged widget value gets
    one message, and the run counts against this visitor's fair share of the server."""
    with refusing_forged_values(), fair_share():
        yield
