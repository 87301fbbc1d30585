"""Replay a recorded peer-tool run into a real MLflow store, as the tool had logged it.

The records (``peer_runs/<tool>.json``, written by ``scripts/peer_runs.py``) hold every
metric entry a tool logged, with its step and timestamp, plus the run's params and tags. A
replayed run has the same metric keys, steps, values and timestamps, so that diagnosis code
reads it exactly as it would read the tool's own run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

RECORDS = Path(__file__).with_name("peer_runs")


def recorded_tools() -> list[str]:
    return [path.stem for path in sorted(RECORDS.glob("*.json"))]


@cache
def load(tool: str) -> dict[str, Any]:
    """The record of ``tool``: its versions and its ``runs`` (see scripts/peer_runs.py)."""
    return json.loads((RECORDS / f"{tool}.json").read_text())


def recorded_run(tool: str, variant: str, setup: str) -> dict[str, Any]:
    """One run of ``tool``; KeyError names what is recorded when there is no such run."""
    runs = load(tool)["runs"]
    for run in runs:
        if (run["variant"], run["setup"]) == (variant, setup):
            return run
    known = ", ".join(f"{r['variant']}/{r['setup']}" for r in runs)
    raise KeyError(f"{tool} has no run {variant}/{setup}; recorded: {known}")


def replay(run: dict[str, Any], client: MlflowClient, experiment_id: str = "0") -> str:
    """Log ``run`` (one entry of a record's ``runs``) as a new finished run; its run id."""
    created = client.create_run(experiment_id, tags=run["tags"])
    run_id = created.info.run_id
    for params in _chunks([Param(k, v) for k, v in run["params"].items()],
                          MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=params)
    metrics = [Metric(key, value, timestamp, step)
               for key, entries in run["history"].items()
               for step, value, timestamp in entries]
    for batch in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id


def _chunks(items: list, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
