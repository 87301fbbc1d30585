"""Real learning curves for the plot tests and benchmark: networks trained by the Trainer.

The figures are judged on what training really produces (noisy dev curves, early stops at
different epochs, schedules that decay over decades), not on curves drawn by hand.
"""

from __future__ import annotations

import pandas as pd
import torch

from mlflow_improvenn.training import data, history
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig

#: A small job that trains in a fraction of a second on a CPU.
TINY = dict(dataset="moons", n_samples=200, hidden_units=(16,), max_epochs=30, device="cpu",
            log_model=False)


def trained_history(config: TrainConfig) -> tuple[pd.DataFrame, int]:
    """Train ``config`` without MLflow; its ``history.csv`` frame and best epoch."""
    splits = data.load(config)
    torch.manual_seed(config.seed)
    device = torch.device("cpu")
    trainer = Trainer(config, build_model(config, splits), to_device_splits(splits, device),
                      splits.task, device)
    result = trainer.fit(lambda record: None)
    return history.to_frame(result.history), result.best_epoch


def tiny_history(**changes: object) -> tuple[pd.DataFrame, int]:
    """:data:`TINY` with ``changes``, trained."""
    return trained_history(TrainConfig(**{**TINY, **changes}))
