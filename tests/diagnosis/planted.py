"""Runs planted in a real MLflow store with exactly the metrics, params and tags a test needs."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
from click.testing import CliRunner
from mlflow.entities import Metric, Param, RunTag

from mlflow_improvenn.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def plant(
    experiment: str,
    name: str,
    summary: dict[str, float] | None = None,
    curves: dict[str, list[float]] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """A finished run with ``curves`` logged at steps 1, 2, ... and ``summary`` at the end."""
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, step)
               for key, values in (curves or {}).items()
               for step, value in enumerate(values, start=1)]
    last = max((len(v) for v in (curves or {}).values()), default=0)
    metrics += [Metric(key, value, now, last) for key, value in (summary or {}).items()]
    client.log_batch(
        run_id, metrics=metrics,
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )
    client.set_terminated(run_id)
    return run_id


def ours(train_error: float, dev_error: float, stop: str = "early_stopping", **extra) -> dict:
    """The summary our trainer logs, with the given best errors."""
    return {
        "summary": {"best_train_error": train_error, "best_dev_error": dev_error,
                    "best_train_loss": 0.3, "best_dev_loss": 0.4, "best_epoch": 8.0,
                    "stopped_epoch": 10.0},
        "params": {"task": "binary"},
        "tags": {"improvenn.stop_reason": stop},
    } | extra


def by_name(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.run_name: row for _, row in frame.iterrows()}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output
