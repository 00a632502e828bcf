"""The optimiser and its learning-rate schedule, stepped per batch."""

from __future__ import annotations

import keras

from training.config import TrainConfig


def total_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    """The run's optimiser steps, at least one."""
    return max(1, config.epochs * steps_per_epoch)


def learning_rate(config: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate, or its schedule over the whole run."""
    total = total_steps(config, steps_per_epoch)
    peak = config.learning_rate
    if config.lr_schedule == "constant":
        return peak
    if config.lr_schedule == "exponential":
        # Multiplies the rate by 0.9 every epoch.
        return keras.optimizers.schedules.ExponentialDecay(peak, steps_per_epoch, 0.9)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(peak, total, alpha=0.01)
    # One cycle: a linear warm-up over the first 15% of steps, then cosine decay to zero.
    # At least one step of each part, so that even a one-step run has a schedule.
    warmup = max(1, int(0.15 * total))
    return keras.optimizers.schedules.CosineDecay(
        peak / 25, max(1, total - warmup), alpha=0.0, warmup_target=peak, warmup_steps=warmup
    )


def averaging_momentum(config: TrainConfig, steps_per_epoch: int) -> float:
    """The momentum of the weights' moving average: the config's, but averaging over at most a fifth
    of the run's steps, so that the random starting weights keep under 1% of the average
    (momentum ** steps < e ** -5). A short run with a long average would otherwise end as noise."""
    return max(0.0, min(config.weight_average, 1.0 - 5.0 / total_steps(config, steps_per_epoch)))


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimiser; sgd uses momentum 0.9 (not Nesterov), adam and adamw the config's betas,
    adamw a weight decay of 1e-4.

    With `weight_average` above 0 the optimiser keeps a moving average of the weights, which
    `model.fit` copies into the model when it ends.
    """
    rate = learning_rate(config, steps_per_epoch)
    averaging = {"use_ema": config.weight_average > 0, "ema_momentum": averaging_momentum(config, steps_per_epoch)}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **averaging)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2, **averaging)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=1e-4, beta_1=config.beta_1, beta_2=config.beta_2, **averaging)
    return keras.optimizers.RMSprop(rate, **averaging)
