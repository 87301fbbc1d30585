"""Learning curves: read the way a person reads them, and fetched from MLflow for plotting.

:func:`read_curves` is pure (loss values in, :class:`CurveFindings` out); :func:`curve_frames`
reads logged histories, under our column names, for
:func:`~mlflow_improvenn.tracking.plots.learning_curves`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.metric_names import CURVE_ALIASES, as_error
from mlflow_improvenn.diagnosis.verdicts import CurveFindings, exceeds
from mlflow_improvenn.tracking.queries import RunRecord, fetch_histories

TRAIN_LOSS_WINDOW = 5
TRAIN_LOSS_MIN_DROP = 0.01


def read_curves(
    train_loss: Sequence[float],
    dev_loss: Sequence[float] = (),
    epochs: Sequence[int] | None = None,
    dev_epochs: Sequence[int] | None = None,
    window: int = TRAIN_LOSS_WINDOW,
    min_drop: float = TRAIN_LOSS_MIN_DROP,
) -> CurveFindings:
    """Read a run's loss curves (values in epoch order) the way a person would.

    ``epochs`` number the train losses (1, 2, ... when None); ``dev_epochs`` the dev losses
    (the same as ``epochs`` when None), since other tools may log them at different steps.

    Train loss is *still falling* when it dropped by more than ``min_drop`` (relative) over
    the last ``window`` epochs; a run *diverged* when a loss is non-finite or the last train
    loss is above the first (training made it worse). Needs three epochs to judge either.

    >>> read_curves([1.0, 0.8, 0.7, 0.6], [1.0, 0.9, 0.95, 0.97]).best_epoch
    2
    """
    epochs = list(epochs) if epochs is not None else list(range(1, len(train_loss) + 1))
    last_epoch = epochs[-1] if epochs else None
    dev_epochs = list(dev_epochs) if dev_epochs is not None else epochs
    finite_dev = [(v, e) for v, e in zip(dev_loss, dev_epochs, strict=False) if math.isfinite(v)]
    best_epoch = min(finite_dev)[1] if finite_dev else None
    non_finite = any(not math.isfinite(v) for v in (*train_loss, *dev_loss))
    if len(train_loss) < 3 or non_finite:
        return CurveFindings(best_epoch, last_epoch, None, non_finite)
    diverged = train_loss[-1] > train_loss[0]
    start = train_loss[-1 - min(window, len(train_loss) - 1)]
    falling = exceeds(start - train_loss[-1], min_drop * abs(start))
    return CurveFindings(best_epoch, last_epoch, falling and not diverged, diverged)


def curve_frames(client: MlflowClient, runs: Sequence[RunRecord]) -> dict[str, pd.DataFrame]:
    """Each run's per-epoch curves under our column names, for :func:`plots.learning_curves`.

    Other tools' names (``loss``, ``val_accuracy``, ...) are mapped to ours, accuracy turned
    into error; a curve the run never logged is left as NaN. Keys are unique run labels.
    """
    chosen = {
        run.run_id: {ours: next((k for k in names if k in run.metrics), None)
                     for ours, names in CURVE_ALIASES.items()}
        for run in runs
    }
    requests = [(run_id, key) for run_id, keys in chosen.items() for key in keys.values() if key]
    histories = fetch_histories(client, requests)
    frames = {}
    for run in runs:
        columns = {
            ours: pd.Series({m.step: as_error(key, m.value) for m in histories[(run.run_id, key)]})
            for ours, key in chosen[run.run_id].items() if key
        }
        frame = pd.DataFrame(columns, columns=list(CURVE_ALIASES)).rename_axis("epoch")
        if frame[["train_error", "dev_error"]].isna().all().any():
            frame = frame.drop(columns=["train_error", "dev_error"])  # plotted only as a pair
        frames[_label(run, frames)] = frame.reset_index()
    return frames


def _label(run: RunRecord, taken: Mapping[str, object]) -> str:
    label = run.run_name or run.run_id[:8]
    return label if label not in taken else f"{label} ({run.run_id[:8]})"
