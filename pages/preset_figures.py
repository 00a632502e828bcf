"""Each preset's measured test accuracy and training time, for the Retrain sidebar."""

import contextlib
from pathlib import Path

import streamlit as st

from model.files import read_json
from model.registry import ModelUnavailable, default_version
from training.config import preset, preset_settings

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results.json"


@st.cache_data(show_spinner=False)
def preset_figures() -> dict[str, str]:
    """Each preset's measured test accuracy and training time, from benchmarks/results.json."""
    try:
        results = read_json(RESULTS)
    except (OSError, ValueError):
        return {}
    if not isinstance(results, dict):
        return {}
    figures = {}
    for name in ("fast", "strong"):
        # Figures measured with other settings than the preset's today are not its figures.
        measured = results.get(f"{name}_settings")
        if measured is not None and measured != preset_settings(preset(name)):
            results = {key: value for key, value in results.items() if not key.startswith(f"{name}_")}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        figures["fast"] = (
            f"{results['fast_test_accuracy']:.2%} test accuracy (mean of {results['fast_seeds']} seeds) "
            f"after {results['fast_seconds']:.0f} s of training"
        )
    with contextlib.suppress(KeyError, TypeError, ValueError):
        figures["strong"] = (
            f"{results['strong_test_accuracy']:.2%} test accuracy (mean of {results['strong_seeds']} seeds) "
            f"after {results['strong_seconds'] / 60:.0f} minutes of training"
        )
    with contextlib.suppress(KeyError, TypeError, ValueError):
        figures["quick"] = (
            f"{results['quick_final_test_accuracy']:.2%} after {results['quick_epochs_run']} epochs; "
            f"99.0% after {results['quick_seconds_to_99_0']:.0f} s"
        )
    with contextlib.suppress(KeyError, TypeError, ValueError):
        figures["original"] = (
            f"99.0% after {results['original_seconds_to_99_0']:.0f} s, "
            f"{results['original_final_test_accuracy']:.2%} after {results['original_epochs_run']} epochs"
        )
    with contextlib.suppress(ModelUnavailable, TypeError):
        shipped = default_version().metadata
        figures["standard"] = (
            f"{shipped.test_accuracy:.2%} after {shipped.training_seconds / 60:.0f} minutes (the shipped model)"
        )
    return figures
