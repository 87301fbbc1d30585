"""Which logged metrics stand for a run's train and dev error, for our runs and other tools'.

Our trainer's summary (``best_train_error``/``best_dev_error``, evaluated with the restored
best weights in eval mode, so dropout does not inflate the train error) comes first; then the
last per-epoch values; then the conventions of other tools, detected by name. Accuracy is
turned into error (``1 - accuracy``). Regression runs use losses: the baseline is then in loss
units.

>>> round(choose_metrics({"accuracy": 0.9, "val_accuracy": 0.8}).dev_error, 6)
0.2
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["error", "accuracy", "loss"]


@dataclass(frozen=True)
class MetricPair:
    """A train metric and its dev counterpart, and what kind of number they hold."""

    train: str
    dev: str
    kind: Kind

    @property
    def label(self) -> str:
        return f"{self.train}/{self.dev}"


CONVENTIONS: tuple[MetricPair, ...] = (
    MetricPair("best_train_error", "best_dev_error", "error"),
    MetricPair("train_error", "dev_error", "error"),
    MetricPair("accuracy", "val_accuracy", "accuracy"),
    MetricPair("acc", "val_acc", "accuracy"),
    MetricPair("best_train_loss", "best_dev_loss", "loss"),
    MetricPair("train_loss", "dev_loss", "loss"),
    MetricPair("loss", "val_loss", "loss"),
    MetricPair("train_loss", "val_loss", "loss"),
)

# Per-epoch curves under our names, with the foreign names that mean the same.
CURVE_ALIASES: dict[str, tuple[str, ...]] = {
    "train_loss": ("train_loss", "loss"),
    "dev_loss": ("dev_loss", "val_loss"),
    "train_error": ("train_error", "accuracy", "acc"),
    "dev_error": ("dev_error", "val_accuracy", "val_acc"),
    "lr": ("lr", "learning_rate"),
}


@dataclass(frozen=True)
class MetricChoice:
    """The chosen pair and its values as errors, or ``missing`` saying why there is none."""

    pair: MetricPair | None
    train_error: float | None = None
    dev_error: float | None = None
    missing: str = ""


def metric_kind(name: str) -> Kind:
    """Guess the kind of a user-named metric: ``*acc``/``*accuracy`` are accuracies."""
    lowered = name.lower()
    if lowered.endswith(("accuracy", "acc")):
        return "accuracy"
    return "error" if "error" in lowered else "loss"


def as_error(name: str, value: float) -> float:
    """Accuracy becomes error; everything else is taken as it is."""
    return 1.0 - value if metric_kind(name) == "accuracy" else value


def pair_from_names(train_metric: str | None, dev_metric: str | None) -> MetricPair | None:
    """An explicit pair from the user's two names; both or neither, since units must agree."""
    if train_metric is None and dev_metric is None:
        return None
    if not train_metric or not dev_metric:
        raise ValueError("give both the train metric and the dev metric, or neither")
    kinds = {metric_kind(train_metric), metric_kind(dev_metric)}
    if len(kinds) > 1:
        raise ValueError(f"{train_metric} and {dev_metric} are not the same kind of metric")
    return MetricPair(train_metric, dev_metric, kinds.pop())


def candidate_pairs(task: str | None) -> tuple[MetricPair, ...]:
    """Conventions in order of preference; a regression run has no error rate to look for."""
    if task == "regression":
        return tuple(p for p in CONVENTIONS if p.kind == "loss")
    return CONVENTIONS


def choose_metrics(
    metrics: Mapping[str, float], task: str | None = None, override: MetricPair | None = None
) -> MetricChoice:
    """The first pair whose two metrics the run logged, converted to errors."""
    pairs = (override,) if override else candidate_pairs(task)
    for pair in pairs:
        if pair.train in metrics and pair.dev in metrics:
            return _convert(pair, metrics[pair.train], metrics[pair.dev])
    return MetricChoice(None, missing=_describe_missing(metrics, pairs))


def _convert(pair: MetricPair, train: float, dev: float) -> MetricChoice:
    if pair.kind == "accuracy":
        bad = [f"{n}={v:g}" for n, v in ((pair.train, train), (pair.dev, dev))
               if math.isfinite(v) and not 0.0 <= v <= 1.0]
        if bad:
            return MetricChoice(pair, missing=f"accuracy outside [0, 1]: {', '.join(bad)}")
        train, dev = 1.0 - train, 1.0 - dev
    return MetricChoice(pair, train, dev)


def _describe_missing(metrics: Mapping[str, float], pairs: tuple[MetricPair, ...]) -> str:
    for pair in pairs:
        if pair.train in metrics:
            return f"has {pair.train} but no {pair.dev}"
        if pair.dev in metrics:
            return f"has {pair.dev} but no {pair.train}"
    looked_for = ", ".join(dict.fromkeys(p.label for p in pairs))
    return f"no train/dev metrics (looked for {looked_for})"
