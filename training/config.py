"""The training settings: one dataclass whose defaults are the shipped model's recipe, and the named presets.

No TensorFlow here: the Retrain page and the command line validate settings without it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from model.store.schemas import RENAMED

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LR_SCHEDULES = ("constant", "exponential", "cosine", "onecycle")
# The names of model.architecture.ARCHITECTURES, kept here so that validating needs no Keras.
ARCHITECTURE_NAMES = ("default", "original", "fast", "lean")
# The augmentation fields of TrainConfig, each off at 0.
AUGMENTATIONS = ("rotation", "shift", "zoom", "elastic")


@dataclass(frozen=True)
class Bounds:
    """What a setting takes: a number of `kind` from `low` to `high` (each end included unless
    `low_open` or `high_open`), or one of `choices`; None too when `none_means` says what it means."""

    kind: type = float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    none_means: str = ""

    def allows(self, value) -> bool:
        if value is None:
            return bool(self.none_means)
        if self.choices:
            return value in self.choices
        if not (_integer(value) if self.kind is int else _number(value)):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """The values it takes, in words: "an integer from 1 to 500", "a number above 0, at most 10"."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low_open:
            text = f"above {_shown(self.low)}, at most {_shown(self.high)}"
        elif self.high_open:
            text = f"from {_shown(self.low)} up to but not including {_shown(self.high)}"
        else:
            text = f"from {_shown(self.low)} to {_shown(self.high)}"
        text = ("an integer " if self.kind is int else "a number ") + text
        return text + (f", or None for {self.none_means}" if self.none_means else "")


def setting(default, help: str, bounds: Bounds):
    """A field of TrainConfig with its help and bounds, which the command line, the sweep's value
    parser and the Retrain page read (`bounds_of`, `help_of`)."""
    return field(default=default, metadata={"help": help, "bounds": bounds})


def _choices(names: tuple[str, ...]) -> Bounds:
    return Bounds(kind=str, choices=names)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. The defaults are the `standard` preset, the shipped model's recipe."""

    architecture: str = setting(
        "default",
        "The network: default (the shipped design), original (the project's first network), fast (the fastest "
        "known recipe's small network) or lean (the shipped design at half the cost).",
        _choices(ARCHITECTURE_NAMES),
    )
    width: float = setting(
        1.0, "Multiplies every layer's channel count; 1 is the designed size.", Bounds(low=0.1, high=4)
    )
    dropout: float | None = setting(
        0.3, "Dropout rate.", Bounds(low=0, high=0.9, high_open=True, none_means="the architecture's own")
    )
    epochs: int = setting(70, "Passes over the training images.", Bounds(int, 1, 500))
    batch_size: int = setting(128, "Images per training step.", Bounds(int, 1, 8192))
    learning_rate: float = setting(
        0.003,
        "Peak learning rate; schedules start from it (onecycle warms up to it).",
        Bounds(low=0, high=10, low_open=True),
    )
    optimizer: str = setting("adam", "The optimizer; sgd uses momentum 0.9 (not Nesterov's).", _choices(OPTIMIZERS))
    beta_1: float = setting(
        0.9, "Adam's (and AdamW's) decay rate of the gradient's mean.", Bounds(low=0, high=1, high_open=True)
    )
    beta_2: float = setting(
        0.999, "Adam's (and AdamW's) decay rate of the gradient's square.", Bounds(low=0, high=1, high_open=True)
    )
    lr_schedule: str = setting("onecycle", "How the learning rate changes, stepped per batch.", _choices(LR_SCHEDULES))
    weight_average: float = setting(
        0.0,
        "The momentum of a moving average of the weights, which the saved model holds instead of the last "
        "step's weights (0.999 averages about the last 1,000 steps); 0 turns it off.",
        Bounds(low=0, high=1, high_open=True),
    )
    # Augmentation strengths; 0 turns each off.
    rotation: float = setting(10.0, "Random rotation, in degrees.", Bounds(low=0, high=180))
    shift: float = setting(0.1, "Random shift, as a fraction of the image's size.", Bounds(low=0, high=0.5))
    zoom: float = setting(0.1, "Random zoom, as a fraction of the image's size.", Bounds(low=0, high=0.5))
    elastic: float = setting(
        0.0,
        "Elastic distortion: the mean displacement of a pixel, in pixels (root mean square).",
        Bounds(low=0, high=4),
    )
    train_size: int | None = setting(
        None,
        "Training images used, taken after a seeded shuffle.",
        Bounds(int, 10, 60000, none_means="all 60,000"),
    )
    validation_split: float = setting(
        0.0, "Fraction of the training images held out for validation curves.", Bounds(low=0, high=0.5)
    )
    seed: int = setting(
        0, "Seeds the shuffle, the weights and the augmentation.", Bounds(int, 0, 2**31, high_open=True)
    )

    def __post_init__(self) -> None:
        for each in dataclasses.fields(self):
            bounds = each.metadata["bounds"]
            if not bounds.allows(getattr(self, each.name)):
                raise ValueError(f"{each.name} must be {bounds.describe()}.")

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again); unknown fields raise ValueError."""
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"Unknown settings: {unknown}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The config `to_dict` wrote; settings saved under an architecture's old name load under its new one."""
        architecture = values.get("architecture")
        if isinstance(architecture, str) and architecture in RENAMED:
            values = {**values, "architecture": RENAMED[architecture]}
        return cls().replace(**values)


def bounds_of(name: str) -> Bounds:
    """The bounds of TrainConfig's field `name`."""
    return _field(name).metadata["bounds"]


def help_of(name: str) -> str:
    """The help of TrainConfig's field `name`, with the values it takes."""
    return f"{_field(name).metadata['help']} Takes {bounds_of(name).describe()}."


def _field(name: str) -> dataclasses.Field:
    fields = {each.name: each for each in dataclasses.fields(TrainConfig)}
    if name not in fields:
        raise ValueError(f"Unknown setting {name!r}.")
    return fields[name]


def _shown(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


PRESETS: dict[str, TrainConfig] = {
    # Under a minute on 2 CPU cores, at least 99.0% test accuracy: a half-width network,
    # two epochs of 45,000 images.
    "quick": TrainConfig(
        width=0.5, dropout=0.1, epochs=2, learning_rate=0.004, rotation=0.0, shift=0.0, zoom=0.0, train_size=45000
    ),
    # The fastest known recipe (tuomaso/train_mnist_fast): its small network, one epoch of
    # batch 256, Adam at 0.01 with betas (0.7, 0.9) and a one-cycle schedule, no augmentation.
    "fast": TrainConfig(
        architecture="fast",
        dropout=0.0,
        epochs=1,
        batch_size=256,
        learning_rate=0.01,
        beta_1=0.7,
        beta_2=0.9,
        rotation=0.0,
        shift=0.0,
        zoom=0.0,
    ),
    # Near the shipped model in minutes: the lean network (the shipped design at half its cost
    # per image) with the shipped optimiser and augmentation for 20 epochs instead of 70, less
    # dropout (a short run needs less regularising), and the weights averaged over about the
    # last two epochs.
    "strong": TrainConfig(architecture="lean", dropout=0.1, epochs=20, weight_average=0.999),
    # The shipped model's recipe: the defaults.
    "standard": TrainConfig(),
    # The project's origin: its network, SGD with momentum, 30 epochs of batch 32, no augmentation.
    "original": TrainConfig(
        architecture="original",
        dropout=0.2,
        epochs=30,
        batch_size=32,
        learning_rate=0.01,
        optimizer="sgd",
        lr_schedule="constant",
        rotation=0.0,
        shift=0.0,
        zoom=0.0,
    ),
}
# What a run whose settings are no preset's records as its preset.
CUSTOM = "custom"


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


def preset_settings(config: TrainConfig) -> dict:
    """A recipe's settings without its seed: what a measurement over several seeds measured."""
    settings = config.to_dict()
    settings.pop("seed")
    return settings


def preset_name(config: TrainConfig) -> str:
    """The preset whose settings `config` has exactly, else "custom"."""
    return next((name for name, settings in PRESETS.items() if settings == config), CUSTOM)


def saved_config(values: dict) -> TrainConfig | None:
    """The settings a run saved (`RunMetadata.config`, `JobStatus.config`); None when missing or unreadable,
    as for a model trained elsewhere."""
    try:
        return TrainConfig.from_dict(values) if values else None
    except (ValueError, TypeError, AttributeError):
        return None


# The fewest own digits a fine-tune takes: enough to hold some aside and train on the rest.
MIN_DIGITS = 10


@dataclass(frozen=True)
class FineTuneConfig:
    """The settings of a fine-tune, with their defaults."""

    # Passes over MNIST's training images, your digits mixed in.
    epochs: int = 2
    # Adam's constant learning rate: small, so that what the model knew stays.
    learning_rate: float = 3e-4
    batch_size: int = 128
    # Your digits' share of each epoch's images (repeated to reach it; never fewer than once).
    own_share: float = 0.1
    # The fraction of your digits held aside to measure on.
    held_out: float = 0.2
    # Seeds the split of your digits and the shuffling.
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= 20):
            raise ValueError("epochs must be an integer from 1 to 20.")
        if not (isinstance(self.learning_rate, float | int) and 0 < self.learning_rate <= 0.01):
            raise ValueError("learning_rate must be above 0 and at most 0.01.")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1024):
            raise ValueError("batch_size must be an integer from 1 to 1024.")
        if not 0 < self.own_share < 1 or not 0 < self.held_out < 1:
            raise ValueError("own_share and held_out must be between 0 and 1.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
