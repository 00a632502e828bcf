"""Plotly figures and images for the pages, by subject: pure functions of arrays, no model work."""
