"""Each preset's measured test accuracy and training time, for the Retrain sidebar."""

import contextlib
from pathlib import Path

import streamlit as st

from model.store.files import read_json
from model.store.registry import ModelUnavailable, default_version
from training.config import preset, preset_settings, saved_config

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results.json"


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
    # The presets measured over seeds: `fast` in seconds, `strong` in minutes.
    for name, unit, seconds_per_unit in (("fast", "s", 1), ("strong", "minutes", 60)):
        # Figures measured with other settings than the preset's today are not its figures.
        # A setting added since they were measured counts at its default, which is how they ran.
        measured = results.get(f"{name}_settings")
        recorded = saved_config(measured)  # None when unreadable, as for a list or a number.
        if measured is not None and (recorded is None or preset_settings(recorded) != preset_settings(preset(name))):
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError):
            figures[name] = (
                f"{results[f'{name}_test_accuracy']:.2%} test accuracy (mean of {results[f'{name}_seeds']} seeds) "
                f"after {results[f'{name}_seconds'] / seconds_per_unit:.0f} {unit} of training"
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
