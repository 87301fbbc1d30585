"""Training options: one declaration drives the CLI, the MLproject, validation and logging.

Each field of :class:`TrainConfig` carries an :class:`OptionSpec` in its metadata, so the
allowed values live in exactly one place. This module imports neither torch nor MLflow:
the CLI's ``--help`` and the diagnosis tool stay fast.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, get_type_hints


class ConfigError(ValueError):
    """A training option holds a value it may not have; ``option`` names it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True)
class OptionSpec:
    """What values an option allows, and the help text that says so."""

    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    group: str = "training"
    #: Also takes the word ``auto``: the value is found before training (``lr``: the range test).
    auto: bool = False

    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. ``[0, 1)``."""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{left}{low}, {high}{right}"

    def check_number(self, option: str, value: float) -> None:
        """Raise :class:`ConfigError` when ``value`` lies outside the allowed range."""
        too_low = self.low is not None and (
            value < self.low or (self.low_open and value == self.low)
        )
        too_high = self.high is not None and (
            value > self.high or (self.high_open and value == self.high)
        )
        if too_low or too_high or (isinstance(value, float) and math.isnan(value)):
            raise ConfigError(option, f"{value:g} is not in the allowed range {self.range_text()}")


def option(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field whose metadata holds its :class:`OptionSpec`."""
    return field(default=default, metadata={"spec": OptionSpec(help=help, **spec)})


SCHEDULERS = ("none", "plateau", "step", "exponential", "cosine", "onecycle")
MONITORS = ("dev_loss", "dev_error", "train_loss", "train_error")
#: The word an option with ``auto`` in its spec takes instead of a value (``--lr auto``).
AUTO = "auto"
#: The longest param value MLflow stores whole (``MAX_PARAM_VAL_LENGTH`` in MLflow's
#: ``utils/validation.py``); a longer one is truncated, so a run would log another network.
MAX_PARAM_LENGTH = 6000
#: The spellings of a boolean value, as a usage error lists them.
BOOLEAN_WORDS = "true or false (also 1/0, yes/no, on/off)"
#: What a resumed run takes from its own invocation rather than from the checkpoint.
RESUME_OVERRIDES = (
    "max_epochs", "device", "amp", "log_model", "checkpoint_every_epoch", "run_name",
    "resume_from",
)


@dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run, with the defaults of the default job."""

    # data
    dataset: str = option(
        "moons",
        "Data source: moons, circles, spiral, planar (generated); digits, breast_cancer, "
        "wine, diabetes (scikit-learn); csv:PATH or parquet:PATH (your own file); "
        "py:FILE.py:FUNCTION or py:MODULE:FUNCTION (your own loader).",
        group="data",
    )
    target: str = option(
        "", "Target column of a csv:/parquet: data set (py: loaders: default target).",
        group="data",
    )
    task: str = option(
        "auto",
        "binary, multiclass or regression; auto infers it from the target.",
        choices=("auto", "binary", "multiclass", "regression"),
        group="data",
    )
    n_samples: int = option(
        0,
        "Rows to use: generated sets make this many (0 = 1000); real data is subsampled "
        "to it (0 = all rows).",
        low=0,
        group="data",
    )
    noise: float = option(0.2, "Noise of the generated data sets.", low=0.0, group="data")
    dev_fraction: float = option(
        0.2, "Share of rows held out as the dev split.", low=0.0, high=1.0,
        low_open=True, high_open=True, group="data",
    )
    test_fraction: float = option(
        0.2, "Share of rows held out as the test split.", low=0.0, high=1.0,
        low_open=True, high_open=True, group="data",
    )
    train_fraction: float = option(1.0, "Share of the train split to train on: the first rows "
                                   "of a seeded permutation of it, so a smaller share lies "
                                   "inside a larger one (a learning curve's points); dev and "
                                   "test splits stay as they are.", low=0.0, high=1.0,
                                   low_open=True, group="data")
    # model
    model: str = option(
        "mlp", "mlp, cnn (a small convolutional net, digits only), or your own network's "
        "factory: FILE.py:FUNCTION or MODULE:FUNCTION, called build(n_features, n_outputs, "
        "**model_params).", group="model",
    )
    model_params: str = option(
        "", "Keyword arguments of a custom model's factory: KEY=VALUE,KEY=VALUE (logged as "
        "model_param.KEY).", group="model",
    )
    hidden_units: tuple[int, ...] = option(
        (64, 64),
        "Comma-separated widths, one per hidden layer (e.g. 64,64); empty for a linear model.",
        low=1, group="model",
    )
    activation: str = option(
        "relu", "Hidden-layer activation.", choices=("relu", "tanh", "gelu"), group="model"
    )
    batch_norm: bool = option(False, "BatchNorm after each hidden layer.", group="model")
    dropout: tuple[float, ...] = option(
        (0.0,),
        "Dropout rate after each hidden layer: one value for all, or one per layer.",
        low=0.0, high=1.0, high_open=True, group="model",
    )
    input_dropout: float = option(
        0.0, "Dropout rate on the input features.", low=0.0, high=1.0, high_open=True,
        group="model",
    )
    # L2 regularization
    weight_decay: float = option(0.0, "L2 strength (lambda).", low=0.0, group="regularization")
    l2_mode: str = option(
        "coupled",
        "coupled: the optimizer's weight_decay; decoupled: AdamW-style; penalty: "
        "lambda/2m * sum ||W||^2 added to the loss.",
        choices=("coupled", "decoupled", "penalty"),
        group="regularization",
    )
    # optimizer
    optimizer: str = option(
        "adam", "Optimizer.", choices=("sgd", "adam", "adamw"), group="optimizer"
    )
    lr: float = option(0.01, "Learning rate, or auto: run the learning-rate range test and "
                       "its race first (its own run, linked by the improvenn.lr_find_run_id "
                       "tag) and train with its suggestion.", low=0.0, low_open=True,
                       group="optimizer", auto=True)
    momentum: float = option(
        0.9, "SGD momentum.", low=0.0, high=1.0, high_open=True, group="optimizer"
    )
    nesterov: bool = option(False, "Nesterov momentum (sgd).", group="optimizer")
    beta1: float = option(
        0.9, "Adam's beta1.", low=0.0, high=1.0, high_open=True, group="optimizer"
    )
    beta2: float = option(
        0.999, "Adam's beta2.", low=0.0, high=1.0, high_open=True, group="optimizer"
    )
    eps: float = option(1e-8, "Adam's epsilon.", low=0.0, low_open=True, group="optimizer")
    grad_clip: float = option(
        0.0, "Clip the gradient norm to this value (0 = off).", low=0.0, group="optimizer"
    )
    # learning-rate schedule
    scheduler: str = option(
        "none", "Learning-rate decay, stepped once per epoch.", choices=SCHEDULERS,
        group="schedule",
    )
    plateau_factor: float = option(
        0.1, "plateau: factor the LR is multiplied by.", low=0.0, high=1.0,
        low_open=True, high_open=True, group="schedule",
    )
    plateau_patience: int = option(
        5, "plateau: epochs without improvement before decaying.", low=0, group="schedule"
    )
    min_lr: float = option(
        0.0, "Floor of the LR (plateau, cosine).", low=0.0, group="schedule"
    )
    step_size: int = option(10, "step: epochs between decays.", low=1, group="schedule")
    gamma: float = option(
        0.5, "step, exponential: decay factor.", low=0.0, high=1.0, low_open=True,
        group="schedule",
    )
    warmup_epochs: int = option(
        0,
        "Epochs of linear warm-up before the schedule (onecycle: its rising phase).",
        low=0, group="schedule",
    )
    # training and early stopping
    batch_size: int = option(64, "Mini-batch size.", low=1, group="training")
    num_workers: int = option(
        0, "DataLoader worker processes for data streamed from a Dataset (0 = read in the "
        "training process).", low=0, group="training",
    )
    max_epochs: int = option(200, "Most epochs to train.", low=1, group="training")
    seed: int = option(0, "Seed of data split, initialisation and batching.", low=0,
                       group="training")
    monitor: str = option(
        "dev_loss", "Metric that early stopping and the plateau schedule watch.",
        choices=MONITORS, group="early stopping",
    )
    mode: str = option(
        "min", "Whether the monitored metric should go down (min) or up (max).",
        choices=("min", "max"), group="early stopping",
    )
    patience: int = option(
        20, "Epochs without improvement before stopping (0 = never stop early).", low=0,
        group="early stopping",
    )
    min_delta: float = option(
        0.0, "Smallest change that counts as an improvement.", low=0.0,
        group="early stopping",
    )
    # device and output
    device: str = option(
        "auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.", group="device"
    )
    amp: bool = option(
        False, "Mixed precision on CUDA; elsewhere float32, and amp is logged as false.",
        group="device",
    )
    run_name: str = option(
        "", "MLflow run name (default: made from the key settings).", group="output"
    )
    log_model: bool = option(
        True, "Log the restored best model as an MLflow model that takes the raw columns.",
        group="output",
    )
    checkpoint_every_epoch: bool = option(
        False,
        "Also write checkpoints/last.pt after every epoch, so that an interrupted run "
        "resumes from its last epoch.",
        group="output",
    )
    resume_from: str = option(
        "",
        "Run id to continue, from its checkpoints/last.pt, else its best.pt, with its own "
        "options but max_epochs, device, amp, log_model, checkpoint_every_epoch, run_name "
        "(and patience, min_delta, num_workers when given); another option given must be its.",
        group="output",
    )

    def __post_init__(self) -> None:
        from mlflow_improvenn.training.option_checks import validate

        validate(self)

    def to_params(self) -> dict[str, str]:
        """Every option as the string MLflow logs, in declaration order."""
        return {f.name: format_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_file_dataset(self) -> bool:
        return self.dataset.startswith(("csv:", "parquet:"))


@functools.cache
def option_specs() -> dict[str, OptionSpec]:
    """Name to spec, in declaration order (built once: every config's validation reads it)."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(TrainConfig)}


@functools.cache
def option_types() -> dict[str, Any]:
    """Name to annotated type (``tuple[int, ...]`` for the list options)."""
    return get_type_hints(TrainConfig)


def format_value(value: Any) -> str:
    """The canonical string of an option value: how it is logged and passed on."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_value(name: str, text: str) -> Any:
    """Parse the string form of option ``name`` (as the MLproject passes it)."""
    kind = option_types()[name]
    if option_specs()[name].auto and text.strip().lower() == AUTO:
        return AUTO
    try:
        if kind is bool:
            return parse_bool(text)
        if kind in (int, float):
            return kind(text)
        if kind == tuple[int, ...]:
            return tuple(int(v) for v in _split_list(text))
        if kind == tuple[float, ...]:
            return tuple(float(v) for v in _split_list(text))
    except ValueError as error:
        raise ConfigError(name, f"{text!r} is not a valid {_type_name(kind)}") from error
    return text


def _split_list(text: str) -> list[str]:
    """The items of ``a,b,c``; blank text is the empty list, an empty item is refused (a typo
    such as ``64,,64`` must not quietly build a different network)."""
    if not text.strip():
        return []
    items = [v.strip() for v in text.split(",")]
    if "" in items:
        raise ValueError(f"empty item in {text!r}")
    return items


def parse_bool(text: str) -> bool:
    """``text`` as a boolean; blank text is a ``ValueError``, not a quiet false."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _type_name(kind: Any) -> str:
    if kind is bool:
        return f"boolean: use {BOOLEAN_WORDS}"
    if kind == tuple[int, ...]:
        return "comma-separated list of integers"
    if kind == tuple[float, ...]:
        return "comma-separated list of numbers"
    return getattr(kind, "__name__", str(kind))
