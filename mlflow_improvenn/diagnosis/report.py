"""``diagnose``: the recipe applied to MLflow runs, one row per run, as a DataFrame.

Speed comes from reading the trainer's end-of-run summary, which arrives with the one search:
``best_*`` errors for the verdict, ``best_epoch``/``stopped_epoch`` for "training went on past
the best point", the ``improvenn.stop_reason`` tag for non-finite losses. A history is fetched
only where it changes the advice or is the only source of the curve findings:

* our runs with high bias that ran out of epochs (``max_epochs``): is the train loss still
  falling, so "train longer" is the step, or flat, so it is not? (Early-stopped runs stopped
  because dev loss did; training longer would not help.)
* other tools' runs, which carry no summary: their loss curves, once per run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.diagnosis.metric_names import (
    CURVE_ALIASES,
    MetricChoice,
    choose_metrics,
    pair_from_names,
)
from mlflow_improvenn.diagnosis.verdicts import (
    DEFAULT_TOLERANCE,
    CurveFindings,
    Diagnosis,
    Verdict,
    check_settings,
    diagnose_errors,
)
from mlflow_improvenn.tracking.queries import (
    RunRecord,
    client_for,
    fetch_histories,
    resolve_experiments,
    search_runs,
    write_tags,
)

TAG_DIAGNOSIS = "improvenn.diagnosis"
TAG_RECOMMENDATION = "improvenn.recommendation"

COLUMNS = [
    "run_id", "run_name", "experiment_id", "metrics", "train_error", "dev_error",
    "baseline_error", "avoidable_bias", "variance", "diagnosis", "recommendation",
    "best_epoch", "last_epoch", "train_loss_falling", "diverged", "reason", "notes",
]

_HIGH_BIAS = (Verdict.HIGH_BIAS, Verdict.HIGH_BIAS_AND_VARIANCE)


def diagnose(
    experiment_names: Sequence[str] | None = None,
    run_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    baseline_error: float = 0.0,
    tolerance: float = DEFAULT_TOLERANCE,
    tracking_uri: str | None = None,
    *,
    train_metric: str | None = None,
    dev_metric: str | None = None,
    curves: bool = True,
    tag: bool = False,
) -> pd.DataFrame:
    """Diagnose bias and variance for every run selected, one row per run.

    Args:
        experiment_names: names or ids; none means every active experiment.
        run_ids: only these runs (every criterion given must hold).
        filter_string: an MLflow search filter, e.g. ``"params.dropout = '0.2'"``.
        baseline_error: human-level or Bayes error, in the units of the errors.
        tolerance: a gap strictly above it is high (see :data:`DEFAULT_TOLERANCE`).
        tracking_uri: the store to read; MLflow's default when None.
        train_metric, dev_metric: use these metrics instead of detecting them (both or neither).
        curves: fetch histories where they sharpen the advice; False makes it one search only.
        tag: also write ``improvenn.diagnosis`` and ``improvenn.recommendation`` on each run.

    Raises:
        ValueError: bad settings, an unknown experiment or run id, or a bad filter.

    Example (runs in the default store):
        ``diagnose(["moons"], baseline_error=0.01)[["run_name", "diagnosis"]]``
    """
    check_settings(baseline_error, tolerance)
    override = pair_from_names(train_metric, dev_metric)
    client = client_for(tracking_uri)
    experiment_ids = resolve_experiments(client, experiment_names)
    runs = search_runs(client, experiment_ids, filter_string, run_ids)
    choices = [choose_metrics(run.metrics, run.task, override) for run in runs]
    findings = [summary_curves(run) for run in runs]
    if curves:
        findings = _read_needed_curves(client, runs, choices, findings, baseline_error, tolerance)
    rows = [
        _row(run, choice, diagnose_errors(
            choice.train_error, choice.dev_error, baseline_error, tolerance, found, choice.missing
        ), found)
        for run, choice, found in zip(runs, choices, findings, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"best_epoch": "Int64",
                                                        "last_epoch": "Int64"})
    if tag:
        tag_runs(frame, tracking_uri)
    return frame


def tag_runs(frame: pd.DataFrame, tracking_uri: str | None = None) -> None:
    """Write each row's verdict and next step onto its run, for filtering in the MLflow UI."""
    tags = {
        row.run_id: {TAG_DIAGNOSIS: row.diagnosis, TAG_RECOMMENDATION: row.recommendation[:5000]}
        for row in frame.itertuples()
    }
    write_tags(client_for(tracking_uri), tags)


def summary_curves(run: RunRecord) -> CurveFindings:
    """Curve findings from the trainer's summary alone (no history calls).

    ``best_epoch`` is where the monitored metric was best: a dev epoch only when early
    stopping watched the dev set.
    """
    best = run.metrics.get("best_epoch") if _monitors_dev(run) else None
    last = run.metrics.get("stopped_epoch")
    # an early-stopped run stopped because dev loss did: training longer would not help
    ran_out = run.stop_reason in (None, "max_epochs")
    falling = run.metrics.get("train_loss_falling") if ran_out else None
    return CurveFindings(
        best_epoch=_as_epoch(best),
        last_epoch=_as_epoch(last),
        train_loss_falling=None if falling is None else bool(falling),
        diverged=run.stop_reason == "non_finite_loss" or run.metrics.get("train_loss_rose") == 1,
    )


def _monitors_dev(run: RunRecord) -> bool:
    return run.monitor is None or run.monitor.startswith("dev_")


def _as_epoch(value: float | None) -> int | None:
    return int(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class _CurveKeys:
    train: str
    dev: str | None


def _curve_keys(run: RunRecord) -> _CurveKeys | None:
    """The loss histories to read: the dev loss only where no summary names the best epoch."""
    train = next((k for k in CURVE_ALIASES["train_loss"] if k in run.metrics), None)
    dev = None
    if "best_epoch" not in run.metrics or not _monitors_dev(run):
        dev = next((k for k in CURVE_ALIASES["dev_loss"] if k in run.metrics), None)
    return _CurveKeys(train, dev) if train else None


def needs_history(
    run: RunRecord, choice: MetricChoice, baseline_error: float, tolerance: float
) -> bool:
    """Whether this run's advice depends on curves the summary does not give."""
    if _curve_keys(run) is None or "train_loss_falling" in run.metrics:
        return False
    if run.stop_reason is None or "stopped_epoch" not in run.metrics:
        return True
    if run.stop_reason != "max_epochs":
        return False
    verdict = diagnose_errors(
        choice.train_error, choice.dev_error, baseline_error, tolerance, missing=choice.missing
    ).verdict
    return verdict in _HIGH_BIAS


def _read_needed_curves(
    client: MlflowClient, runs: list[RunRecord], choices: list[MetricChoice],
    findings: list[CurveFindings], baseline_error: float, tolerance: float,
) -> list[CurveFindings]:
    wanted = {
        index: _curve_keys(run)
        for index, (run, choice) in enumerate(zip(runs, choices, strict=True))
        if needs_history(run, choice, baseline_error, tolerance)
    }
    requests = [(runs[i].run_id, key) for i, keys in wanted.items()
                for key in (keys.train, keys.dev) if key]
    histories = fetch_histories(client, requests)
    updated = list(findings)
    for index, keys in wanted.items():
        run_id = runs[index].run_id
        train = histories[(run_id, keys.train)]
        dev = histories.get((run_id, keys.dev), []) if keys.dev else []
        updated[index] = _merge(findings[index], _read(train, dev))
    return updated


def _read(train: list[Metric], dev: list[Metric]) -> CurveFindings:
    return read_curves(
        [m.value for m in train], [m.value for m in dev],
        epochs=[m.step for m in train], dev_epochs=[m.step for m in dev],
    )


def _merge(summary: CurveFindings, read: CurveFindings) -> CurveFindings:
    """The trainer's summary wins where it has a value: it names the restored epoch."""
    return CurveFindings(
        best_epoch=summary.best_epoch if summary.best_epoch is not None else read.best_epoch,
        last_epoch=summary.last_epoch if summary.last_epoch is not None else read.last_epoch,
        train_loss_falling=read.train_loss_falling,
        diverged=summary.diverged or read.diverged,
    )


def _row(run: RunRecord, choice: MetricChoice, result: Diagnosis, found: CurveFindings) -> dict:
    return {
        "run_id": run.run_id,
        "run_name": run.run_name,
        "experiment_id": run.experiment_id,
        "metrics": choice.pair.label if choice.pair else "",
        **result.as_record(),
        "best_epoch": found.best_epoch,
        "last_epoch": found.last_epoch,
        "train_loss_falling": found.train_loss_falling,
        "diverged": found.diverged,
        "notes": "; ".join(found.notes()),
    }
