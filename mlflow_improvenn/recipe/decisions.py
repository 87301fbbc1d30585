"""The basic recipe's decisions as pure functions: a verdict and a config in, the next change out.

Nothing here trains or talks to MLflow, so each rule is unit-tested on its own; the loop that
trains, diagnoses and logs lives in :mod:`mlflow_improvenn.recipe.loop`. The verdict itself
comes from :mod:`mlflow_improvenn.diagnosis.verdicts`: this module only maps it to actions.

High bias grows capacity, in the order the recipe gives: train longer when the run ran out of
epochs with its train loss still falling, then a wider network, then a deeper one, then less
regularization, then (out of ideas) more epochs. High variance regularizes: early stopping when
it is off, then L2 and dropout by turns up their ladders, then more of the data set's rows.
Both at once: bias first. Candidates come best-first; the loop skips those it tried and undid.

>>> from mlflow_improvenn.training.options import TrainConfig
>>> facts = RunFacts(Verdict.HIGH_BIAS, stop_reason="early_stopping")
>>> next_action(TrainConfig(hidden_units=(4,)), facts).describe(TrainConfig(hidden_units=(4,)))
'high_bias: hidden_units 4 -> 8'
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from mlflow_improvenn.diagnosis.verdicts import Verdict
from mlflow_improvenn.training.option_rules import is_custom, join_model_params, model_param_values
from mlflow_improvenn.training.options import ConfigError, TrainConfig, format_value

#: Default first L2 strength per mode: the scales differ (AdamW's default is 1e-2; the
#: textbook penalty lambda/2m * ||W||^2 is divided by the number of examples).
L2_START = {"coupled": 1e-3, "decoupled": 1e-2, "penalty": 1e-1}
DROPOUT_LADDER = (0.1, 0.2, 0.3, 0.5)
_L2_FACTOR = 10.0
_L2_STEPS = 3

Change = tuple[str, dict[str, Any] | None]


@dataclass(frozen=True)
class RecipePolicy:
    """How far the recipe may go; the defaults keep every step a small network."""

    max_width: int = 512
    max_depth: int = 4
    max_epochs_cap: int = 2000
    patience: int = 20
    l2_steps: int = _L2_STEPS
    max_generated_samples: int = 8000
    #: On high variance, more data before regularizing: True, False, or ``auto`` (the loop
    #: runs a learning curve and follows its verdict; unresolved here, it counts as False).
    data_first: bool | str = False
    #: A custom network grows only through the factory arguments named here (e.g.
    #: ``channels`` doubled, ``blocks`` plus one), capped by ``max_width`` and ``max_depth``.
    width_param: str | None = None
    depth_param: str | None = None

    def __post_init__(self) -> None:
        if self.data_first not in (True, False, "auto"):
            raise ValueError(f"data_first is true, false or auto, got {self.data_first!r}")

    def check_growth(self, config: TrainConfig) -> None:
        """Refuse width/depth params for a built-in network, or ones whose start value the
        config's ``model_params`` lacks (the recipe grows a number it knows)."""
        for option, name in (("width_param", self.width_param), ("depth_param", self.depth_param)):
            if name is None:
                continue
            if not is_custom(config.model):
                raise ConfigError(option, f"{config.model} grows by hidden_units; {option} is "
                                  "for a model of your own")
            value = model_param_values(config.model_params).get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(option, f"give {name}'s starting value as a whole number: "
                                  f"--model-param {name}=N")

    def cannot_grow(self, config: TrainConfig) -> bool:
        """True for a custom network with neither a width nor a depth param: high bias can
        then only train longer or regularize less."""
        return is_custom(config.model) and self.width_param is None and self.depth_param is None


@dataclass(frozen=True)
class RunFacts:
    """What the loop learned from one run, beyond the config that produced it.

    ``rows_available`` is the data set's size (None: a generated set, which can make more);
    ``train_loss_falling`` comes from the diagnosis's reading of the curves.
    """

    verdict: Verdict
    stop_reason: str = "max_epochs"
    train_loss_falling: bool | None = None
    rows_available: int | None = None


@dataclass(frozen=True)
class Action:
    """One change of options, and the verdict that asked for it."""

    verdict: Verdict
    kind: str
    changes: tuple[tuple[str, Any], ...]

    @property
    def key(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """Identifies the change, so the loop can skip one it already tried and undid."""
        return self.kind, self.changes

    def apply(self, config: TrainConfig) -> TrainConfig:
        return config.replace(**dict(self.changes))

    def describe(self, config: TrainConfig) -> str:
        """E.g. ``high_variance: weight_decay 0.0001 -> 0.001`` (the recipe_action tag)."""
        moves = "; ".join(
            f"{name} {format_value(getattr(config, name)) or '(none)'} -> "
            f"{format_value(value) or '(none)'}"
            for name, value in self.changes
        )
        return f"{self.verdict.value}: {moves}"


def next_action(
    config: TrainConfig,
    facts: RunFacts,
    policy: RecipePolicy | None = None,
    tried: Collection[tuple] = (),
) -> Action | None:
    """The recipe's next change for a run with ``facts``, skipping keys in ``tried``."""
    for action in candidate_actions(config, facts, policy or RecipePolicy()):
        if action.key not in tried:
            return action
    return None


def candidate_actions(
    config: TrainConfig, facts: RunFacts, policy: RecipePolicy
) -> list[Action]:
    """Every applicable change, best first; empty for a good fit or missing data."""
    bias = [rule(config, facts, policy) for rule in _BIAS_RULES]
    variance = _variance_changes(config, facts, policy)
    by_verdict = {
        Verdict.HIGH_BIAS: bias,
        Verdict.HIGH_VARIANCE: variance,
        Verdict.HIGH_BIAS_AND_VARIANCE: bias + variance,
    }
    changes = by_verdict.get(facts.verdict, [])
    actions = [Action(facts.verdict, kind, tuple(c.items())) for kind, c in changes if c]
    unique: dict[tuple, Action] = {}
    for action in actions:  # a change proposed twice counts once, at its first place
        unique.setdefault(action.key, action)
    return [a for a in unique.values() if _valid(a, config)]


Rule = Callable[[TrainConfig, RunFacts, RecipePolicy], Change]


def _valid(action: Action, config: TrainConfig) -> bool:
    """Drop changes the options refuse (e.g. onecycle with too few epochs)."""
    try:
        action.apply(config)
    except ValueError:
        return False
    return True


# -- high bias ---------------------------------------------------------------------------


def _longer_if_still_learning(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if facts.stop_reason == "max_epochs" and facts.train_loss_falling:
        return _longer(config, facts, policy)
    return "train_longer", None


def _wider(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if is_custom(config.model):
        return "wider", _grown(config, policy.width_param, lambda w: min(2 * w, policy.max_width))
    units = config.hidden_units
    if not units or max(units) >= policy.max_width:
        return "wider", None
    return "wider", {"hidden_units": tuple(min(2 * u, policy.max_width) for u in units)}


def _deeper(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if is_custom(config.model):
        return "deeper", _grown(config, policy.depth_param, lambda d: min(d + 1, policy.max_depth))
    units = config.hidden_units
    if len(units) >= policy.max_depth:
        return "deeper", None
    changes: dict[str, Any] = {"hidden_units": (*units, units[-1] if units else 16)}
    if len(config.dropout) > 1:  # one rate per layer: the new layer repeats the last one
        changes["dropout"] = (*config.dropout, config.dropout[-1])
    return "deeper", changes


def _grown(
    config: TrainConfig, name: str | None, grow: Callable[[int], int]
) -> dict[str, Any] | None:
    """``model_params`` with factory argument ``name`` grown, None when it cannot grow.

    >>> config = TrainConfig(model="nets.py:build", model_params="channels=8,blocks=2")
    >>> _grown(config, "channels", lambda w: 2 * w)
    {'model_params': 'channels=16,blocks=2'}
    """
    params = model_param_values(config.model_params)
    value = params.get(name) if name else None
    if not isinstance(value, int) or grow(value) <= value:
        return None
    return {"model_params": join_model_params(params | {name: grow(value)})}


def _less_l2(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if config.weight_decay <= 0:
        return "less_l2", None
    lower = config.weight_decay / _L2_FACTOR
    return "less_l2", {"weight_decay": 0.0 if lower < L2_START[config.l2_mode] else lower}


def _less_dropout(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if not any(config.dropout) and not config.input_dropout:
        return "less_dropout", None
    lower = tuple(max((r for r in DROPOUT_LADDER if r < rate), default=0.0)
                  for rate in config.dropout)  # each layer's own rate, one step down
    return "less_dropout", {"dropout": lower, "input_dropout": 0.0}


def _longer(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    if facts.stop_reason != "max_epochs" or config.max_epochs >= policy.max_epochs_cap:
        return "train_longer", None
    return "train_longer", {"max_epochs": min(2 * config.max_epochs, policy.max_epochs_cap)}


_BIAS_RULES: tuple[Rule, ...] = (
    _longer_if_still_learning, _wider, _deeper, _less_l2, _less_dropout, _longer,
)


# -- high variance -----------------------------------------------------------------------


def _early_stopping(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    """Stop on the dev loss (keeping its best epoch), unless a dev metric already decides."""
    watches_dev = config.monitor.startswith("dev_")
    if config.patience > 0 and watches_dev:
        return "early_stopping", None
    changes: dict[str, Any] = {"patience": config.patience or policy.patience}
    if not watches_dev:
        changes["monitor"] = "dev_loss"
    return "early_stopping", changes


def _stronger_l2(config: TrainConfig, policy: RecipePolicy) -> list[Change]:
    """Every rung of the L2 ladder above the current strength, weakest first."""
    start = L2_START[config.l2_mode]
    rungs = [start * _L2_FACTOR**i for i in range(policy.l2_steps)]
    return [("more_l2", {"weight_decay": r}) for r in rungs if r > config.weight_decay * 1.000001]


def _stronger_dropout(config: TrainConfig) -> list[Change]:
    return [("more_dropout", {"dropout": (r,)}) for r in DROPOUT_LADDER if r > max(config.dropout)]


def _regularize(config: TrainConfig, policy: RecipePolicy) -> list[Change]:
    """L2 and dropout rungs by turns, the one with fewer rungs climbed first (L2 on a tie).

    A rung that did not help is no reason to skip the next: after ``weight_decay 1e-3`` was
    undone, ``1e-2`` is still on the list.
    """
    l2, dropout = _stronger_l2(config, policy), _stronger_dropout(config)
    l2_climbed = policy.l2_steps - len(l2)
    dropout_climbed = len(DROPOUT_LADDER) - len(dropout)
    first, second = (l2, dropout) if l2_climbed <= dropout_climbed else (dropout, l2)
    merged: list[Change] = []
    for index in range(max(len(first), len(second))):
        merged += first[index:index + 1] + second[index:index + 1]
    return merged


def _more_data(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> Change:
    """Double the rows used, while the data set (or the generator's cap) has more: first the
    share of the train split a run leaves out (``train_fraction``), then the data set's."""
    if config.train_fraction < 1:
        return "more_data", {"train_fraction": min(1.0, round(2 * config.train_fraction, 4))}
    if facts.rows_available is None:  # generated: 0 means the default 1000
        used = config.n_samples or 1000
        more = min(2 * used, policy.max_generated_samples)
        return "more_data", {"n_samples": more} if more > used else None
    used = config.n_samples or facts.rows_available
    if used >= facts.rows_available:
        return "more_data", None
    return "more_data", {"n_samples": 2 * used if 2 * used < facts.rows_available else 0}


def _variance_changes(config: TrainConfig, facts: RunFacts, policy: RecipePolicy) -> list[Change]:
    early = _early_stopping(config, facts, policy)
    more_data = _more_data(config, facts, policy)
    regularize = _regularize(config, policy)
    if policy.data_first is True:
        return [early, more_data, *regularize]
    return [early, *regularize, more_data]
