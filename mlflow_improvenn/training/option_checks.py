"""The checks of training options: each value against its spec, and the rules that tie
options together. Every :class:`~mlflow_improvenn.training.options.TrainConfig` runs them
when it is made; the sweep's space and a resumed checkpoint check single values with
:func:`check_option`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mlflow_improvenn.training.options import (
    AUTO,
    MAX_PARAM_LENGTH,
    MONITORS,
    ConfigError,
    TrainConfig,
    format_value,
    option_specs,
)

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def validate(config: TrainConfig) -> None:
    """Check every option and the rules that tie options together.

    Raises :class:`ConfigError` naming the first offending option. Data-dependent checks
    (does the CSV exist, is the target there) belong to :mod:`mlflow_improvenn.training.data`.
    """
    from mlflow_improvenn.training import option_rules

    for name in option_specs():
        check_option(name, getattr(config, name))
    _check_combinations(config)
    option_rules.check_custom_model(config)


def check_option(name: str, value: Any) -> None:
    """Check one option's value against its own choices and range (not the combinations)."""
    spec = option_specs()[name]
    length = len(format_value(value))
    if length > MAX_PARAM_LENGTH:  # MLflow would log it cut short
        raise ConfigError(name, f"its value is {length:,} characters long; MLflow logs at most "
                          f"{MAX_PARAM_LENGTH:,} characters of a param")
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if spec.auto and item == AUTO:
            continue
        if spec.choices is not None and item not in spec.choices:
            allowed = ", ".join(spec.choices)
            raise ConfigError(name, f"{item!r} is not one of: {allowed}")
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if isinstance(item, float) and math.isinf(item) and spec.high is None:
                raise ConfigError(name, f"{item:g} is not a finite number")
            spec.check_number(name, item)


def _check_combinations(config: TrainConfig) -> None:
    if config.dev_fraction + config.test_fraction >= 0.9:
        raise ConfigError(
            "test_fraction",
            f"dev_fraction + test_fraction = {config.dev_fraction + config.test_fraction:g} "
            "leaves under 10% of the rows for training; keep the sum below 0.9",
        )
    if len(config.dropout) == 0:
        raise ConfigError("dropout", "give one rate, or one per hidden layer")
    if len(config.dropout) > 1 and len(config.dropout) != len(config.hidden_units):
        raise ConfigError(
            "dropout",
            f"{len(config.dropout)} rates for {len(config.hidden_units)} hidden layers; "
            "give one rate, or one per hidden layer",
        )
    if config.model == "cnn" and config.dataset != "digits":
        raise ConfigError("model", "cnn needs image data: use it with dataset=digits")
    if config.is_file_dataset and not config.target:
        raise ConfigError("target", f"dataset={config.dataset} needs the name of its target column")
    if config.target and not (config.is_file_dataset or config.dataset.startswith("py:")):
        raise ConfigError(
            "target", f"only csv:/parquet: data sets take a target column; {config.dataset} "
            "has its own",
        )
    if not _DEVICE_PATTERN.match(config.device):
        allowed = "auto, cpu, cuda, cuda:N, mps"
        raise ConfigError("device", f"{config.device!r} is not one of: {allowed}")
    if config.l2_mode == "decoupled" and config.optimizer == "sgd":
        raise ConfigError(
            "l2_mode",
            "decoupled weight decay needs optimizer adam or adamw (for SGD it equals coupled "
            "L2 up to a rescaling of lambda)",
        )
    if config.optimizer == "adamw" and config.l2_mode == "coupled" and config.weight_decay > 0:
        raise ConfigError(
            "l2_mode", "adamw always decays decoupled: use l2_mode=decoupled or penalty"
        )
    if config.nesterov and (config.optimizer != "sgd" or config.momentum == 0):
        raise ConfigError("nesterov", "needs optimizer=sgd with momentum > 0")
    if config.scheduler == "onecycle" and config.max_epochs < 3:
        raise ConfigError("max_epochs", "onecycle needs at least 3 epochs to rise and fall")
    if config.scheduler == "onecycle" and config.warmup_epochs > config.max_epochs - 2:
        raise ConfigError(
            "warmup_epochs", f"onecycle needs its peak before the last epoch: at most "
            f"{config.max_epochs - 2} for max_epochs={config.max_epochs}",
        )
    if config.batch_norm and config.batch_size < 2:
        raise ConfigError("batch_size", "BatchNorm needs at least 2 examples per batch")
    if config.warmup_epochs >= config.max_epochs:
        raise ConfigError(
            "warmup_epochs", f"must be below max_epochs ({config.max_epochs})"
        )
    if config.mode == "max" and config.monitor in MONITORS:
        raise ConfigError("mode", f"{config.monitor} is a loss or an error: it must go down (min)")
