"""The training settings: one dataclass whose defaults are the shipped model's recipe, and the named presets.

No TensorFlow here: the Retrain page and the command line validate settings without it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from model.store.schemas import RENAMED

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LR_SCHEDULES = ("constant", "exponential", "cosine", "onecycle")
# The names of model.architecture.ARCHITECTURES, kept here so that validating needs no Keras.
ARCHITECTURE_NAMES = ("default", "original", "fast", "lean")
# The augmentation fields of TrainConfig, each off at 0.
AUGMENTATIONS = ("rotation", "shift", "zoom", "elastic")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. The defaults are the `standard` preset, the shipped model's recipe."""

    # Network: "default" (the shipped design), "original" (the project's first network), "fast"
    # (the fastest known recipe's small network) or "lean" (the shipped design at half the cost).
    architecture: str = "default"
    # Multiplies every layer's channel count; 1.0 is the designed size.
    width: float = 1.0
    # Dropout rate; None keeps the architecture's own (0.4 default, 0.2 original).
    dropout: float | None = 0.3
    # Passes over the training images.
    epochs: int = 70
    batch_size: int = 128
    # Peak learning rate; schedules start from it (onecycle warms up to it).
    learning_rate: float = 0.003
    # One of OPTIMIZERS; sgd uses Nesterov-free momentum 0.9.
    optimizer: str = "adam"
    # Adam's (and AdamW's) decay rates of the gradient's mean and of its square.
    beta_1: float = 0.9
    beta_2: float = 0.999
    # One of LR_SCHEDULES, stepped per batch.
    lr_schedule: str = "onecycle"
    # Weight averaging: the momentum of an exponential moving average of the weights, which the
    # saved model holds instead of the last step's weights; 0.999 averages about the last 1,000
    # steps. 0 turns it off.
    weight_average: float = 0.0
    # Augmentation strengths; 0 turns each off. Rotation in degrees, shift and
    # zoom as fractions of the image size, elastic distortion as the mean
    # displacement of a pixel (root mean square, in pixels).
    rotation: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    elastic: float = 0.0
    # Training images used (taken after a seeded shuffle); None uses all 60,000.
    train_size: int | None = None
    # Fraction of the training images held out for validation curves.
    validation_split: float = 0.0
    # Seeds the shuffle, the weights and the augmentation.
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.architecture in ARCHITECTURE_NAMES, f"architecture must be one of {ARCHITECTURE_NAMES}"),
            (_number(self.width) and 0.1 <= self.width <= 4.0, "width must be between 0.1 and 4"),
            (
                self.dropout is None or (_number(self.dropout) and 0.0 <= self.dropout < 0.9),
                "dropout must be in [0, 0.9)",
            ),
            (_integer(self.epochs) and 1 <= self.epochs <= 500, "epochs must be an integer from 1 to 500"),
            (
                _integer(self.batch_size) and 1 <= self.batch_size <= 8192,
                "batch_size must be an integer from 1 to 8192",
            ),
            (
                _number(self.learning_rate) and 0.0 < self.learning_rate <= 10.0,
                "learning_rate must be above 0 and at most 10",
            ),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (_number(self.beta_1) and 0.0 <= self.beta_1 < 1.0, "beta_1 must be in [0, 1)"),
            (_number(self.beta_2) and 0.0 <= self.beta_2 < 1.0, "beta_2 must be in [0, 1)"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}"),
            (
                _number(self.weight_average) and 0.0 <= self.weight_average < 1.0,
                "weight_average must be in [0, 1) (0 turns it off)",
            ),
            (_number(self.rotation) and 0.0 <= self.rotation <= 180.0, "rotation must be 0-180 degrees"),
            (_number(self.shift) and 0.0 <= self.shift <= 0.5, "shift must be between 0 and 0.5"),
            (_number(self.zoom) and 0.0 <= self.zoom <= 0.5, "zoom must be between 0 and 0.5"),
            (_number(self.elastic) and 0.0 <= self.elastic <= 4.0, "elastic must be between 0 and 4 pixels"),
            (
                self.train_size is None or (_integer(self.train_size) and 10 <= self.train_size <= 60000),
                "train_size must be an integer from 10 to 60000, or None for all",
            ),
            (
                _number(self.validation_split) and 0.0 <= self.validation_split <= 0.5,
                "validation_split must be between 0 and 0.5",
            ),
            (_integer(self.seed) and 0 <= self.seed < 2**31, "seed must be a non-negative integer"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message + ".")

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
