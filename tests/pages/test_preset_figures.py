"""The Retrain sidebar's measured figures belong to the recipe each preset has today."""

import json

import pytest

import pages.ui.preset_figures as shown
from training.config import preset, preset_settings


@pytest.fixture()
def results_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setattr(shown, "RESULTS", path)
    shown.preset_figures.clear()
    yield path
    shown.preset_figures.clear()


def measured(name: str, accuracy: float, settings: dict | None) -> dict:
    figures = {f"{name}_seeds": 3, f"{name}_test_accuracy": accuracy, f"{name}_seconds": 480.0}
    if settings is not None:
        figures[f"{name}_settings"] = settings
    return figures


def test_figures_of_the_presets_own_settings_are_shown(results_file):
    results_file.write_text(json.dumps(measured("strong", 0.9962, preset_settings(preset("strong")))))
    assert shown.preset_figures()["strong"] == "99.62% test accuracy (mean of 3 seeds) after 8 minutes of training"


def test_figures_measured_with_other_settings_are_not_shown(results_file):
    older = preset_settings(preset("strong").replace(architecture="default", epochs=15))
    results_file.write_text(json.dumps({**measured("strong", 0.9959, older), **measured("fast", 0.9909, None)}))
    figures = shown.preset_figures()
    assert "strong" not in figures
    # Figures that do not say what they measured are taken as the preset's, as before.
    assert figures["fast"].startswith("99.09% test accuracy")


def test_figures_measured_before_a_setting_existed_count_it_at_its_default(results_file):
    # Runs measured before weight averaging was a setting had none, as weight_average=0 has.
    def before(name: str) -> dict:
        return {key: value for key, value in preset_settings(preset(name)).items() if key != "weight_average"}

    assert preset("fast").weight_average == 0.0 < preset("strong").weight_average
    results_file.write_text(
        json.dumps({**measured("fast", 0.9909, before("fast")), **measured("strong", 0.9955, before("strong"))})
    )
    figures = shown.preset_figures()
    assert figures["fast"].startswith("99.09% test accuracy")
    # The strong preset averages its weights today; figures without averaging are not its figures.
    assert "strong" not in figures


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"strong_settings": 3}'])
def test_a_damaged_results_file_shows_no_figures_and_raises_nothing(results_file, content):
    results_file.write_text(content)
    assert "strong" not in shown.preset_figures()
