"""What a sweep tries: every combination of a few values of up to two training settings, each
a trial (`Sweep`), the values as a visitor types them (`parse_values`), and the rows of the
trials' table. No Ray here: the Retrain page and the job runner check a sweep without it;
`training.sweep` runs one.

    sweep = Sweep(preset("fast"), {"learning_rate": (0.003, 0.01), "rotation": (0.0, 10.0)})
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from training.config import TrainConfig, bounds_of

# The settings a sweep may vary; their values' types come from TrainConfig's fields.
SWEEPABLE = (
    "learning_rate",
    "batch_size",
    "width",
    "dropout",
    "beta_1",
    "rotation",
    "shift",
    "zoom",
    "elastic",
    "optimizer",
    "lr_schedule",
    "architecture",
)
MAX_SETTINGS = 2
MAX_VALUES = 6
MAX_TRIALS = 16
# The longest text of values a box takes: six values of a dozen characters, and room to spare.
MAX_TEXT = 120
# What ASHA compares trials on, after each epoch.
METRIC = "validation_accuracy"
# Held out for that, when the settings hold out nothing.
VALIDATION_SPLIT = 0.1
TRIAL_FOLDER = "trial-{}"


@dataclass(frozen=True)
class Sweep:
    """The settings every trial shares (`base`) and the values to try for up to two of them."""

    base: TrainConfig
    # Setting name -> the values to try, in order.
    settings: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.base, TrainConfig):
            raise ValueError("base must be a TrainConfig.")
        if not 1 <= len(self.settings) <= MAX_SETTINGS:
            raise ValueError(f"Choose one or two settings to sweep (at most {MAX_SETTINGS}).")
        for name, values in self.settings.items():
            if name not in SWEEPABLE:
                raise ValueError(f"{name!r} cannot be swept; choose from {sorted(SWEEPABLE)}.")
            if not 1 <= len(values) <= MAX_VALUES or len(set(values)) != len(values):
                raise ValueError(f"Give {name} between 1 and {MAX_VALUES} different values.")
        if len(self.trials()) > MAX_TRIALS:
            raise ValueError(f"{len(self.trials())} combinations are too many; at most {MAX_TRIALS}.")
        for index in range(len(self.trials())):
            self.config(index)  # Every combination must be valid settings (raises ValueError).

    def trials(self) -> list[dict]:
        """Every combination of the values, as {setting: value}, the first setting varying slowest."""
        names = list(self.settings)
        return [dict(zip(names, values)) for values in itertools.product(*self.settings.values())]

    def config(self, index: int) -> TrainConfig:
        """Trial `index`'s settings, holding out validation images for ASHA if the base holds none."""
        config = self.base.replace(**self.trials()[index])
        return config if config.validation_split > 0 else config.replace(validation_split=VALIDATION_SPLIT)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "settings": {name: list(values) for name, values in self.settings.items()}}

    @classmethod
    def from_dict(cls, values: dict) -> Sweep:
        settings = values.get("settings")
        if not isinstance(settings, dict):
            raise ValueError("A sweep needs its settings.")
        return cls(TrainConfig.from_dict(values.get("base") or {}), {k: tuple(v) for k, v in settings.items()})


def parse_values(name: str, text: str) -> tuple:
    """The values typed for a setting, comma-separated ("0.001, 0.003"), as that setting's type.

    The text's length and its number of values are checked before any value is read.
    """
    if name not in SWEEPABLE:
        raise ValueError(f"{name!r} cannot be swept; choose from {sorted(SWEEPABLE)}.")
    text = str(text)
    if len(text) > MAX_TEXT:
        raise ValueError(f"The values of {name} are too long: at most {MAX_TEXT} characters.")
    words = [word.strip() for word in text.split(",") if word.strip()]
    if not words:
        raise ValueError(f"Give at least one value for {name}.")
    if len(words) > MAX_VALUES:
        raise ValueError(f"Give {name} at most {MAX_VALUES} values.")
    kind = bounds_of(name).kind
    values = {}
    for word in words:
        values.setdefault(read_value(kind, name, word), None)
    return tuple(values)


def read_value(kind: type, name: str, word: str):
    """One value of setting `name`, read as `kind` (its TrainConfig field's type); TrainConfig checks its bounds."""
    try:
        value = kind(word) if kind is not int else int(float(word))
    except (ValueError, OverflowError):
        raise ValueError(f"{word!r} is not a{'n' if kind is int else ''} {kind.__name__} for {name}.") from None
    if kind is int and float(word) != value:
        raise ValueError(f"{word!r} is not a whole number for {name}.")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{word!r} is not a finite number for {name}.")
    return value


def trial_rows(sweep: Sweep) -> list[dict]:
    """The table's rows before anything ran."""
    return [{"trial": index, **values, "state": "waiting", "epoch": 0} for index, values in enumerate(sweep.trials())]


def trial_folder(folder: str | os.PathLike, index: int) -> Path:
    """Where a finished trial's model.keras and metadata.json are."""
    return Path(folder) / TRIAL_FOLDER.format(index)
