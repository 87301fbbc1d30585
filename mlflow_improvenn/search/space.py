"""Search spaces: the YAML format, the tutorial's tiers of hyperparameters, Optuna's suggestions.

One training option a key, one distribution a value::

    lr: {loguniform: [1.0e-4, 1.0e-1]}
    dropout: {uniform: [0.0, 0.5]}
    batch_size: {int: [16, 256], log: true}
    hidden_units: {choice: ["32", "64,64", "128,128"]}
    model_param.channels: {choice: [8, 16, 32]}  # a custom model's factory argument

Every bound and choice is checked against the option's own allowed values before any trial
runs, so a bad space file fails at once with a message naming the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_improvenn.training.option_checks import check_option
from mlflow_improvenn.training.option_rules import (
    is_custom,
    join_model_params,
    model_param_values,
    typed_value,
)
from mlflow_improvenn.training.options import (
    ConfigError,
    TrainConfig,
    option_specs,
    parse_value,
)

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
#: A space key ``model_param.KEY`` searches keyword argument KEY of a custom model's factory.
MODEL_PARAM = "model_param."


class SpaceError(ValueError):
    """A search space that cannot be searched; the message says why."""


@dataclass(frozen=True)
class Dimension:
    """One option's distribution."""

    option: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value of this option for an Optuna ``trial``, typed as TrainConfig wants it
        (a number drawn for a list option such as ``dropout`` is a one-item list)."""
        if self.kind == "choice":
            return _parsed(self.option, trial.suggest_categorical(self.option, self.choices))
        if self.kind == "int":
            value = trial.suggest_int(self.option, int(self.low), int(self.high), log=self.log)
            return _parsed(self.option, str(value))
        log = self.log or self.kind == "loguniform"
        value = trial.suggest_float(self.option, self.low, self.high, log=log)
        return _parsed(self.option, repr(value))


Space = dict[str, Dimension]

#: The tutorial's tiers: 1 the learning rate; 2 momentum/beta1, width, batch size;
#: 3 the decay schedule, the number of layers, Adam's beta2 and epsilon.
TIERS: tuple[dict[str, dict[str, Any]], ...] = (
    {"lr": {"loguniform": [1e-4, 1e-1]}},
    {
        "beta1": {"uniform": [0.8, 0.95]},
        "momentum": {"uniform": [0.8, 0.99]},
        "hidden_units": {"choice": ["32,32", "64,64", "128,128"]},
        "batch_size": {"int": [16, 256], "log": True},
    },
    {
        "scheduler": {"choice": ["none", "step", "exponential", "cosine", "plateau"]},
        "hidden_units": {"choice": ["64", "64,64", "64,64,64", "128,128", "128,128,128"]},
        "beta2": {"uniform": [0.99, 0.9999]},
        "eps": {"loguniform": [1e-9, 1e-6]},
    },
)


#: Options that only move one family of optimizers: searching them for another is noise.
_ONLY_FOR = {"momentum": ("sgd",), "beta1": ("adam", "adamw"), "beta2": ("adam", "adamw"),
             "eps": ("adam", "adamw")}


def tiered_space(tier: int, optimizer: str = "adam") -> Space:
    """The built-in space of tiers 1 to ``tier`` (a later tier refines an earlier key), for
    ``optimizer``: momentum for SGD, Adam's betas and epsilon for Adam and AdamW."""
    merged: dict[str, Any] = {}
    for level in TIERS[:tier]:
        merged |= level
    relevant = {k: v for k, v in merged.items() if optimizer in _ONLY_FOR.get(k, (optimizer,))}
    return parse_space(relevant)


def configured(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``base`` with a trial's ``values``: options by name, ``model_param.KEY`` merged into
    ``model_params``.

    >>> base = TrainConfig(model="nets.py:build", model_params="blocks=2")
    >>> configured(base, {"lr": 0.1, "model_param.channels": 8}).model_params
    'blocks=2,channels=8'
    """
    params = model_param_values(base.model_params)
    options = {}
    for name, value in values.items():
        if name.startswith(MODEL_PARAM):
            params[name.removeprefix(MODEL_PARAM)] = value
        else:
            options[name] = value
    if params:
        options["model_params"] = join_model_params(params)
    return base.replace(**options)


def check_fits(space: Space, base: TrainConfig) -> None:
    """Refuse a space that searches model params around a built-in network (ConfigError)."""
    searched = [name for name in space if name.startswith(MODEL_PARAM)]
    if searched and not is_custom(base.model):
        raise ConfigError("model", f"the space searches {', '.join(searched)}: give a model of "
                          "your own (FILE.py:FUNCTION), whose factory takes them")


def load_space(path: Path) -> Space:
    import yaml

    if not path.is_file():
        raise SpaceError(f"space file {str(path)!r} does not exist")
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SpaceError(f"cannot read {path}: {error}") from error
    return parse_space(document)


def parse_space(document: Any) -> Space:
    """Check a space given as a mapping and return its dimensions."""
    if not isinstance(document, dict) or not document:
        raise SpaceError("a space is a mapping of training options to distributions")
    return {name: _dimension(name, spec) for name, spec in document.items()}


def grid_of(space: Space) -> dict[str, list[str]]:
    """The search grid of Optuna's GridSampler: every dimension must be a choice."""
    continuous = [d.option for d in space.values() if d.kind != "choice"]
    if continuous:
        raise SpaceError(f"the grid sampler needs choice dimensions; not: {', '.join(continuous)}")
    return {d.option: list(d.choices) for d in space.values()}


def _dimension(name: str, spec: Any) -> Dimension:
    is_model_param = name.startswith(MODEL_PARAM) and name.removeprefix(MODEL_PARAM).isidentifier()
    if name not in option_specs() and not is_model_param:
        raise SpaceError(f"{name!r} is not a training option")
    if not isinstance(spec, dict):
        raise SpaceError(f"{name}: give a distribution, e.g. {{uniform: [0.0, 0.5]}}")
    kinds = [k for k in spec if k != "log"]
    if len(kinds) != 1 or kinds[0] not in DISTRIBUTIONS:
        raise SpaceError(f"{name}: unknown distribution {kinds}; use one of {DISTRIBUTIONS}")
    kind, values = kinds[0], spec[kinds[0]]
    if kind == "choice":
        return _choice(name, values)
    return _range(name, kind, values, bool(spec.get("log", False)))


def _choice(name: str, values: Any) -> Dimension:
    if not isinstance(values, list) or not values:
        raise SpaceError(f"{name}: choice needs a non-empty list")
    choices = tuple(str(v) for v in values)
    for choice in choices:
        _check_value(name, choice)
    return Dimension(name, "choice", choices=choices)


def _range(name: str, kind: str, values: Any, log: bool) -> Dimension:
    if not isinstance(values, list) or len(values) != 2:
        raise SpaceError(f"{name}: {kind} needs [low, high]")
    try:
        low, high = (float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise SpaceError(f"{name}: bounds must be numbers, got {values}") from error
    if low > high:
        raise SpaceError(f"{name}: low {low:g} is above high {high:g}")
    if (kind == "loguniform" or log) and low <= 0:
        raise SpaceError(f"{name}: a log scale needs a positive low bound, got {low:g}")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise SpaceError(f"{name}: int needs whole-number bounds, got {values}")
    for bound in (low, high):
        _check_value(name, str(int(bound)) if kind == "int" else repr(bound))
    return Dimension(name, kind, low, high, log)


def _parsed(name: str, text: str) -> Any:
    """The typed value of ``text`` for option ``name`` (a model param: a number, a bool or
    text, as ``model_params`` reads it)."""
    return typed_value(text) if name.startswith(MODEL_PARAM) else parse_value(name, text)


def _check_value(name: str, text: str) -> None:
    """A value the option itself refuses is refused here, before any trial (a model param's
    values are the factory's to judge, when the sweep checks the model)."""
    if name.startswith(MODEL_PARAM):
        return
    try:
        check_option(name, parse_value(name, text))
    except ConfigError as error:
        raise SpaceError(f"{name}: {error.message}") from error
