"""Lesson: a guided walk through the network on the visitor's own digit (being written)."""

import streamlit as st

from pages.ui.models import chosen_model

st.title("Lesson")
chosen_model(__file__)
st.info("The lesson is being written.")
