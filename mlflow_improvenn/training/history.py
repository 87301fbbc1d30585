"""The per-epoch record the trainer writes and the diagnosis and plots read."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import pandas as pd


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's metrics under their run-schema names. Errors are None for regression."""

    epoch: int
    train_loss: float
    dev_loss: float
    train_error: float | None
    dev_error: float | None
    lr: float
    epoch_seconds: float

    def metrics(self) -> dict[str, float]:
        """The values MLflow logs with ``step = epoch`` (errors only where defined)."""
        values = asdict(self)
        del values["epoch"]
        return {name: value for name, value in values.items() if value is not None}

    def is_finite(self) -> bool:
        return math.isfinite(self.train_loss) and math.isfinite(self.dev_loss)


METRIC_NAMES = tuple(f.name for f in fields(EpochRecord) if f.name != "epoch")


def to_frame(records: list[EpochRecord]) -> pd.DataFrame:
    """One row per epoch, one column per logged metric (no error columns for regression)."""
    frame = pd.DataFrame([{"epoch": r.epoch, **r.metrics()} for r in records])
    return frame[[c for c in ("epoch", *METRIC_NAMES) if c in frame.columns]]

