"""The range test's settings, apart from torch: the CLI reads their defaults for its help.

The test itself is :func:`mlflow_improvenn.training.lr_finder.range_test`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlflow_improvenn.training.options import ConfigError


@dataclass(frozen=True)
class RangeTestSettings:
    """How the range test sweeps (the defaults suit Adam and SGD alike: 1e-7 to 10), and the
    epochs each candidate of the race around its valley trains (0: no race).

    Raises:
        ConfigError: naming the setting (``start_lr``, ``end_lr``, ...) that is out of range.
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    smoothing: float = 0.9
    divergence: float = 4.0
    burn_in: int = 10
    race_epochs: int = 10

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_lr) and self.start_lr > 0):
            raise ConfigError("start_lr", f"{self.start_lr:g} is not a number > 0")
        if not (math.isfinite(self.end_lr) and self.end_lr > self.start_lr):
            raise ConfigError("end_lr", f"{self.end_lr:g} must be above start_lr "
                              f"({self.start_lr:g})")
        if not 0 <= self.smoothing < 1:
            raise ConfigError("smoothing", f"{self.smoothing:g} is not in the range [0, 1)")
        if not self.divergence > 1:
            raise ConfigError("divergence", f"{self.divergence:g} must be above 1")
        if self.burn_in < 0:
            raise ConfigError("burn_in", f"{self.burn_in} must be at least 0")
        if self.race_epochs < 0:
            raise ConfigError("race_epochs", f"{self.race_epochs} must be at least 0 (0: no "
                              "race, the valley is the suggestion)")
        if self.num_steps < self.burn_in + 5:
            raise ConfigError("num_steps", f"{self.num_steps} leaves fewer than 5 steps after "
                              f"the burn-in of {self.burn_in}")

    def lr_at(self, step: int) -> float:
        """The learning rate of ``step`` (0-based): exponential from start_lr to end_lr."""
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.num_steps - 1))

    def params(self) -> dict[str, str]:
        """The settings as MLflow params, ``lr_find_`` prefixed."""
        return {f"lr_find_{name}": repr(getattr(self, name)) if isinstance(
            getattr(self, name), float) else str(getattr(self, name))
            for name in ("start_lr", "end_lr", "num_steps", "smoothing", "divergence",
                         "burn_in", "race_epochs")}
