"""How it learned: a version's training replayed from its snapshots (being written)."""

import streamlit as st

from pages.ui.models import chosen_model

st.title("How it learned")
chosen_model(__file__)
st.info("The replay is being written.")
