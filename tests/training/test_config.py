import pytest

from training.config import CUSTOM, PRESETS, TrainConfig, preset, preset_name, saved_config


def test_the_defaults_are_the_standard_recipe_and_the_presets_are_distinct():
    assert set(PRESETS) == {"quick", "fast", "strong", "standard", "original"}
    assert TrainConfig() == preset("standard")
    assert (TrainConfig().epochs, TrainConfig().dropout) == (70, 0.3)
    original = preset("original")
    assert (
        original.architecture,
        original.optimizer,
        original.learning_rate,
        original.epochs,
        original.batch_size,
        original.dropout,
    ) == ("original", "sgd", 0.01, 30, 32, 0.2)
    assert len({config for config in PRESETS.values()}) == len(PRESETS)


@pytest.mark.parametrize(
    "field, value",
    [
        ("architecture", "vgg"),
        ("width", 0),
        ("width", float("nan")),
        ("dropout", 0.95),
        ("epochs", 0),
        ("epochs", 2.5),
        ("epochs", True),
        ("batch_size", 0),
        ("learning_rate", 0),
        ("learning_rate", -1),
        ("optimizer", "lbfgs"),
        ("lr_schedule", "wild"),
        ("weight_average", 1.0),
        ("weight_average", -0.1),
        ("weight_average", float("nan")),
        ("weight_average", True),
        ("rotation", 200),
        ("shift", 0.9),
        ("zoom", -0.1),
        ("elastic", -0.5),
        ("elastic", 5.0),
        ("elastic", float("inf")),
        ("train_size", 5),
        ("train_size", 70000),
        ("validation_split", 0.8),
        ("seed", -1),
        ("epochs", "3"),
    ],
)
def test_every_field_is_validated(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig().replace(**{field: value})


def test_unknown_fields_and_presets_are_refused():
    with pytest.raises(ValueError, match="Unknown settings"):
        TrainConfig().replace(momentum=0.5)
    with pytest.raises(ValueError, match="Unknown preset"):
        preset("huge")


def test_round_trip_through_a_dict():
    config = preset("quick").replace(epochs=3, train_size=1000)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_run_is_named_after_a_preset_only_with_exactly_its_settings():
    for name, config in PRESETS.items():
        assert preset_name(config) == name
        assert preset_name(TrainConfig.from_dict(config.to_dict())) == name
    assert preset_name(preset("quick").replace(epochs=3)) == CUSTOM
    assert preset_name(preset("standard").replace(validation_split=0.1)) == CUSTOM
    assert preset_name(preset("standard").replace(seed=1)) == CUSTOM


def test_settings_saved_under_the_old_architecture_name_still_load():
    saved = {**preset("original").to_dict(), "architecture": "seed"}
    assert TrainConfig.from_dict(saved) == preset("original")


def test_saved_settings_that_cannot_be_read_give_none():
    assert saved_config({}) is None
    assert saved_config({"epochs": "many"}) is None
    assert saved_config({"unknown": 1}) is None
    assert saved_config(preset("quick").to_dict()) == preset("quick")
