"""Early stopping: track the best epoch, decide when to stop, say why.

The decision is a pure function of the monitored values, so it is tested without a model.
Improvement is strict: a value must beat the best by more than ``min_delta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any


class StopReason(str, Enum):
    """Why training ended; logged as the ``improvenn.stop_reason`` tag."""

    EARLY_STOPPING = "early_stopping"
    MAX_EPOCHS = "max_epochs"
    NON_FINITE_LOSS = "non_finite_loss"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"
    ERROR = "error"  # the loop raised: the run ends FAILED, the exception in improvenn.error


class StopTraining(Exception):
    """Raised by an epoch callback (a sweep's pruner, say) to end training after this epoch."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass
class EarlyStopping:
    """Stops after ``patience`` epochs without improvement; ``patience=0`` never stops early.

    The best epoch is tracked whatever the patience, so the best weights can be restored.

    >>> stopper = EarlyStopping(patience=2)
    >>> [stopper.update(epoch, loss) for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.5], 1)]
    [False, False, False, True]
    >>> stopper.best_epoch_, stopper.best_value_
    (2, 0.5)
    """

    patience: int
    min_delta: float = 0.0
    mode: str = "min"

    def __post_init__(self) -> None:
        self.best_value_: float = math.inf if self.mode == "min" else -math.inf
        self.best_epoch_: int = 0
        self.misses_: int = 0

    def is_improvement(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.mode == "min":
            return value < self.best_value_ - self.min_delta
        return value > self.best_value_ + self.min_delta

    def update(self, epoch: int, value: float) -> bool:
        """Record the monitored ``value`` of ``epoch``; True when training should stop."""
        if self.is_improvement(value):
            self.best_value_, self.best_epoch_, self.misses_ = value, epoch, 0
        else:
            self.misses_ += 1
        return self.patience > 0 and self.misses_ >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value_, "best_epoch": self.best_epoch_,
                "misses": self.misses_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_value_ = state["best_value"]
        self.best_epoch_ = state["best_epoch"]
        self.misses_ = state["misses"]
