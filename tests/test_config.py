import pytest

from training.config import PRESETS, TrainConfig, preset


def test_presets_are_valid_and_distinct():
    assert set(PRESETS) == {"quick", "standard", "seed"}
    seed = preset("seed")
    assert (seed.architecture, seed.optimizer, seed.learning_rate, seed.epochs, seed.batch_size) == (
        "seed", "sgd", 0.01, 30, 32)
    assert preset("standard").architecture == "default"


@pytest.mark.parametrize("field, value", [
    ("architecture", "vgg"), ("width", 0), ("width", float("nan")), ("dropout", 0.95), ("epochs", 0),
    ("epochs", 2.5), ("epochs", True), ("batch_size", 0), ("learning_rate", 0), ("learning_rate", -1),
    ("optimizer", "lbfgs"), ("lr_schedule", "wild"), ("rotation", 200), ("shift", 0.9), ("zoom", -0.1),
    ("elastic", -0.5), ("elastic", 5.0), ("elastic", float("inf")),
    ("train_size", 5), ("train_size", 70000), ("validation_split", 0.8), ("seed", -1), ("epochs", "3"),
])
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
