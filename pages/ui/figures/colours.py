"""The figures' colours."""

# The highlight (the prediction, the chosen cell) and everything else.
ACCENT = "#e4572e"
MUTED = "#9aa5b1"
# Ten distinct colours for the ten digits (Plotly's D3 palette).
DIGIT_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
