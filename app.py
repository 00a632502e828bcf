"""Entry point: `streamlit run app.py`. A small router over the pages in `pages/`."""

from pathlib import Path

import streamlit as st

from pages.ui.routing import guarded, route

# A local image: an emoji or `:material/...:` page icon makes the browser fetch it from another host.
st.set_page_config(
    page_title="Inside a digit CNN", page_icon=str(Path(__file__).parent / "pages" / "icon.png"), layout="wide"
)

with guarded():
    route(
        [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
            st.Page("pages/lesson.py", title="Lesson", icon=":material/school:"),
            st.Page("pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
            st.Page("pages/confusion_matrix.py", title="Confusion matrix", icon=":material/grid_on:"),
            st.Page("pages/digit_map.py", title="Digit map", icon=":material/scatter_plot:"),
            st.Page("pages/robustness.py", title="Robustness", icon=":material/shield:"),
            st.Page("pages/my_digits.py", title="My digits", icon=":material/draw_collage:"),
            st.Page("pages/retrain.py", title="Retrain", icon=":material/model_training:"),
            st.Page("pages/how_it_learned.py", title="How it learned", icon=":material/movie:"),
        ]
    ).run()
