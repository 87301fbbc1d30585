"""The data-size learning curve: one configuration trained on growing shares of its training
rows, each share a child run of one parent, children run by the sweep's worker processes.

Every child is a plain training run with ``train_fraction`` set (the first rows of one seeded
permutation of the train split, so each smaller set lies inside the larger; the dev split is
the same for all). The parent (tagged ``improvenn.learning_curve``) logs the train and dev
error against the number of training rows (``learning_curve_train``/``learning_curve_dev``,
``step`` = rows: the MLflow UI draws the curves), the verdict of
:func:`mlflow_improvenn.diagnosis.learning_curve.read_data_curve`, ``plots/learning_curve.png``
and ``learning_curve/points.csv``. For regression the values are unexplained variance
(1 - R^2), the scale ``diagnose`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mlflow
import pandas as pd

from mlflow_improvenn.diagnosis.curve_runs import (
    TAG_LEARNING_CURVE,
    TAG_SHARE,
    log_curve,
    points_of,
)
from mlflow_improvenn.diagnosis.learning_curve import MIN_POINTS, CurveVerdict
from mlflow_improvenn.runs.parents import parent_run
from mlflow_improvenn.runs.training_run import TrainOutcome, check_config, train
from mlflow_improvenn.search.workers import run_in_processes
from mlflow_improvenn.tracking.tracker import log_params
from mlflow_improvenn.training import data
from mlflow_improvenn.training.options import ConfigError, TrainConfig

DEFAULT_FRACTIONS = (0.1, 0.2, 0.4, 0.7, 1.0)
#: ``on_child(share, outcome)``: a child run ended; in a worker process with ``workers > 1``
#: (so a module-level function: it is pickled).
OnChild = Callable[[float, TrainOutcome], None]


@dataclass(frozen=True)
class CurveResult:
    """The parent run, one row per share (:func:`points_of`'s columns) and the verdict."""

    parent_run_id: str
    points: pd.DataFrame
    verdict: CurveVerdict


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """The shares, sorted; a :class:`ConfigError` naming ``fractions`` for fewer than 3
    distinct ones or one outside (0, 1]."""
    shares = tuple(sorted(set(fractions)))
    outside = [f for f in shares if not (0 < f <= 1) or math.isnan(f)]
    if outside:
        raise ConfigError("fractions", f"{outside[0]:g} is not in the allowed range (0, 1]")
    if len(shares) < MIN_POINTS:
        raise ConfigError("fractions", f"give at least {MIN_POINTS} distinct shares, got "
                          f"{len(shares)}")
    return shares


def run_learning_curve(
    config: TrainConfig,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    workers: int = 1,
    experiment: str | None = None,
    baseline_error: float | str = "auto",
    tolerance: float | None = None,
    on_child: OnChild | None = None,
) -> CurveResult:
    """Train ``config`` on each share of its train rows, then read the curve.

    ``baseline_error``: ``auto`` takes the Bayes error the children logged (generated data),
    else none; a number is used as it is. ``on_child`` is told of each child run as it ends
    (for progress output). Raises :class:`ConfigError` before any run exists
    for bad shares, a share too small to train on, or options a training run refuses.
    """
    shares = check_fractions(fractions)
    if config.train_fraction != 1.0:
        raise ConfigError("train_fraction", "the learning curve sets it for each child: give "
                          "the shares as fractions")
    check_config(config, many_runs=True)
    try:  # the smallest share can train
        data.load(config.replace(train_fraction=shares[0]))
    except ConfigError as error:
        raise ConfigError("fractions", error.message) from error
    name = f"learning-curve-{config.dataset}"
    with parent_run(name, experiment, tags={TAG_LEARNING_CURVE: "true"}) as parent_id:
        client = mlflow.MlflowClient()
        log_params(client, parent_id, config.to_params() | {
            "learning_curve_fractions": ",".join(f"{f:g}" for f in shares),
            "learning_curve_workers": str(workers),
        })
        job = _Job(config, shares, parent_id, client.get_run(parent_id).info.experiment_id,
                   mlflow.get_tracking_uri(), on_child)
        if workers == 1:
            job.work(0, 1)
        else:
            _in_workers(job, min(workers, len(shares)))
        points, verdict = log_curve(client, parent_id, baseline_error, tolerance)
    return CurveResult(parent_id, points, verdict)


def _in_workers(job: _Job, count: int) -> None:
    codes = run_in_processes(_WorkerShare(job, count), count)
    if any(code != 0 for code in codes):
        raise RuntimeError(f"a learning-curve worker failed (exit codes {codes})")


@dataclass(frozen=True)
class _Job:
    """What a worker needs to train its shares; small and picklable (spawned processes)."""

    config: TrainConfig
    shares: tuple[float, ...]
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    on_child: OnChild | None = None

    def work(self, index: int, count: int) -> None:
        """Train shares ``index``, ``index + count``, ...: the largest go first across the
        workers (they take longest)."""
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(experiment_id=self.experiment_id)
        for share in self.shares[::-1][index::count]:
            named = self.config.replace(train_fraction=share,
                                        run_name=f"{share:.0%} of the train rows")
            outcome = train(named, parent_run_id=self.parent_run_id,
                            tags={TAG_SHARE: f"{share:g}"})
            if self.on_child is not None:
                self.on_child(share, outcome)
            if outcome.stop_reason.value == "interrupted":
                raise KeyboardInterrupt


@dataclass(frozen=True)
class _WorkerShare:
    """``target(index)`` for :func:`run_in_processes`: the job's shares for worker ``index``."""

    job: _Job
    count: int

    def __call__(self, index: int) -> None:
        self.job.work(index, self.count)


__all__ = ["DEFAULT_FRACTIONS", "CurveResult", "check_fractions", "points_of",
           "run_learning_curve"]
