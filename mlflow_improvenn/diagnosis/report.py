"""``diagnose``: the recipe applied to MLflow runs, one row per training run, as a DataFrame.

Speed comes from reading what arrives with the one search: our trainer's end-of-run summary
(``best_*`` values, ``best_epoch``/``stopped_epoch``, ``train_loss_falling``), its params
(``n_train``/``n_dev`` for the noise intervals, ``bayes_error`` for the baseline) and the
``improvenn.stop_reason`` tag. Histories are fetched only where they change the answer:

* a train metric logged per batch (Lightning's default): its last epoch's mean, aligned with
  the dev metric's steps;
* a run with high bias that ran out of epochs: is the train loss still falling, so "train
  longer" is the step, or flat, so it is not? (An early-stopped run stopped because the dev
  loss did: training longer would not help.) Other tools' runs, which carry no summary, are
  read this way only when their verdict is high bias or high variance;
* never for a run that ends ``insufficient_data``.

Parent runs (of sweeps, recipes, lessons, or any run other runs name as their parent),
learning-rate range tests (``improvenn.role = lr_find``) and runs that hold no metric
(``mlflow run`` ended them FAILED for a refused option) are not training runs and are left
out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis import history_reads, intervals
from mlflow_improvenn.diagnosis.gaps import Measured, measure
from mlflow_improvenn.diagnosis.metric_names import (
    MetricChoice,
    MetricPair,
    as_error,
    choose_metrics,
    dev_error_metric,
    pair_from_names,
)
from mlflow_improvenn.diagnosis.verdicts import (
    DEFAULT_TOLERANCES,
    CurveFindings,
    Diagnosis,
    Estimate,
    Gap,
    Scale,
    Verdict,
    check_settings,
    decide,
)
from mlflow_improvenn.tracking.queries import (
    RunRecord,
    client_for,
    experiment_names_by_id,
    resolve_experiments,
    search_runs,
    write_tags,
)
from mlflow_improvenn.tracking.tracker import ROLE_LR_FIND, TAG_ERROR, TAG_ROLE

TAG_DIAGNOSIS = "improvenn.diagnosis"
TAG_RECOMMENDATION = "improvenn.recommendation"
BAYES_ERROR_PARAM = "bayes_error"

COLUMNS = [
    "run_id", "run_name", "experiment_id", "experiment", "metrics", "scale",
    "train_error", "train_error_low", "train_error_high",
    "dev_error", "dev_error_low", "dev_error_high", "n_train", "n_dev",
    "baseline_error", "baseline_source", "tolerance",
    "avoidable_bias", "avoidable_bias_low", "avoidable_bias_high", "bias_gap",
    "variance", "variance_low", "variance_high", "variance_gap",
    "diagnosis", "recommendation", "best_epoch", "last_epoch", "train_loss_falling",
    "diverged", "reason", "notes",
]
_HIGH = (Verdict.HIGH_BIAS, Verdict.HIGH_VARIANCE, Verdict.HIGH_BIAS_AND_VARIANCE)


@dataclass(frozen=True)
class Settings:
    """What every run is judged against; see :func:`diagnose` for each field."""

    baseline_error: float | None = None  # None: auto
    baseline_loss: float | None = None
    tolerances: Mapping[Scale, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    n_train: float = math.nan
    n_dev: float = math.nan
    confidence: float = intervals.DEFAULT_CONFIDENCE

    @classmethod
    def of(cls, baseline_error: float | str, baseline_loss: float | None,
           tolerance: float | Mapping[str, float] | None, n_train: int | None,
           n_dev: int | None, confidence: float) -> Settings:
        """Checked settings. Raises ValueError naming what is wrong."""
        auto = isinstance(baseline_error, str)
        if auto and baseline_error != "auto":
            raise ValueError(f"baseline_error must be a number or 'auto', got {baseline_error!r}")
        tolerances = dict(DEFAULT_TOLERANCES)
        if isinstance(tolerance, Mapping):
            tolerances |= {Scale(scale): float(value) for scale, value in tolerance.items()}
        elif tolerance is not None:
            tolerances[Scale.ERROR_RATE] = float(tolerance)
        for value in tolerances.values():
            check_settings(None if auto else float(baseline_error), value)
        check_settings(baseline_loss, 0.0)
        for name, size in (("n_train", n_train), ("n_dev", n_dev)):
            if size is not None and size < 1:
                raise ValueError(f"{name} must be a positive number of rows, got {size!r}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
        return cls(None if auto else float(baseline_error), baseline_loss, tolerances,
                   math.nan if n_train is None else n_train,
                   math.nan if n_dev is None else n_dev, confidence)


def diagnose(
    experiment_names: str | Sequence[str] | None = None,
    run_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    baseline_error: float | str = "auto",
    tolerance: float | Mapping[str, float] | None = None,
    tracking_uri: str | None = None,
    *,
    train_metric: str | None = None,
    dev_metric: str | None = None,
    metric_kind: str | None = None,
    baseline_loss: float | None = None,
    n_train: int | None = None,
    n_dev: int | None = None,
    confidence: float = intervals.DEFAULT_CONFIDENCE,
    curves: bool = True,
    tag: bool = False,
) -> pd.DataFrame:
    """Diagnose bias and variance for every training run selected, one row per run.

    Args:
        experiment_names: a name or id, or several; none means every active experiment.
        run_ids: only these runs (every criterion given must hold).
        filter_string: an MLflow search filter, e.g. ``"params.dropout = '0.2'"``.
        baseline_error: the Bayes (or human-level) error in the units of the scale, or
            ``"auto"``: the run's logged ``bayes_error`` param (our generated data sets log
            it), else 0, which the ``baseline_source`` column then says.
        tolerance: a gap above it (and beyond noise) is high. A number sets the error-rate
            scale's; a mapping ``{"error_rate": 0.02, "unexplained_variance": 0.05,
            "loss": 0.25}`` sets any scale's (these are the defaults).
        tracking_uri: the store to read; MLflow's default when None.
        train_metric, dev_metric: use these metrics instead of detecting them (both or neither);
            ``metric_kind`` (accuracy, error, r2 or loss) says what they hold where the names
            do not.
        baseline_loss: the best loss possible, for runs judged on the loss scale; without it
            their avoidable bias is unknown.
        n_train, n_dev: split sizes for runs that did not log ``n_train``/``n_dev`` params
            (other tools' runs); without them no noise interval is known.
        confidence: of the intervals (0.95: 95%).
        curves: fetch histories where they sharpen the advice; False makes it one search only.
        tag: also write ``improvenn.diagnosis`` and ``improvenn.recommendation`` on each run.

    Returns:
        One row per run in :data:`COLUMNS` (values on the row's ``scale``; ``*_low``/``*_high``
        are the interval bounds, NaN where unknown), newest run first.

    Raises:
        ValueError: bad settings, an unknown experiment or run id, or a bad filter.
    """
    settings = Settings.of(baseline_error, baseline_loss, tolerance, n_train, n_dev, confidence)
    override = pair_from_names(train_metric, dev_metric, metric_kind)
    client = client_for(tracking_uri)
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    experiment_ids = resolve_experiments(client, experiment_names)
    runs = training_runs(search_runs(client, experiment_ids, filter_string, run_ids))
    results = diagnose_runs(client, runs, settings, override, curves)
    names = experiment_names_by_id(client, {run.experiment_id for run in runs})
    frame = pd.DataFrame(
        [_row(result, names, settings) for result in results], columns=COLUMNS
    ).astype({"best_epoch": "Int64", "last_epoch": "Int64"})
    if tag:
        tag_runs(frame, tracking_uri)
    return frame


@dataclass(frozen=True)
class RunDiagnosis:
    """One run, the metrics chosen for it, what its curves say and its diagnosis."""

    run: RunRecord
    choice: MetricChoice
    curves: CurveFindings
    diagnosis: Diagnosis


def diagnose_runs(
    client: MlflowClient,
    runs: list[RunRecord],
    settings: Settings | None = None,
    override: MetricPair | None = None,
    curves: bool = True,
) -> list[RunDiagnosis]:
    """Diagnose runs already fetched (see :func:`diagnose` for the rules), in their order."""
    settings = settings or Settings()
    choices = [choose_metrics(run.metrics, run.task, override) for run in runs]
    histories = history_reads.Histories(client)
    if curves:
        choices = history_reads.epoch_values(histories, runs, choices)
    findings = [history_reads.summary_curves(run) for run in runs]
    measured = _measure(runs, choices, settings)
    results = [_decide(run, choice, measured.get(i), found, settings)
               for i, (run, choice, found) in enumerate(zip(runs, choices, findings, strict=True))]
    if curves:  # read the loss curves where they change the advice, and decide again
        wanted = [i for i, run in enumerate(runs)
                  if history_reads.curves_change_advice(run, results[i].verdict)]
        read = history_reads.read_loss_curves(histories, [runs[i] for i in wanted])
        for index, found in zip(wanted, read, strict=True):
            findings[index] = history_reads.merge(findings[index], found)
            results[index] = _decide(runs[index], choices[index], measured.get(index),
                                     findings[index], settings)
    return [RunDiagnosis(*row) for row in zip(runs, choices, findings, results, strict=True)]


def training_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """Leave out parents (tagged so, or named as parent by another run) and empty runs that
    were ended for an error before training (a refused option under ``mlflow run``)."""
    parents = {run.parent_run_id for run in runs}
    return [
        run for run in runs
        if run.run_id not in parents and run.tags.get(TAG_ROLE) not in ("parent", ROLE_LR_FIND)
        and not (run.tags.get(TAG_ERROR) and not run.metrics)
    ]


def tag_runs(frame: pd.DataFrame, tracking_uri: str | None = None) -> None:
    """Write each row's verdict and next step onto its run, for filtering in the MLflow UI."""
    tags = {
        row.run_id: {TAG_DIAGNOSIS: row.diagnosis, TAG_RECOMMENDATION: row.recommendation[:5000]}
        for row in frame.itertuples()
    }
    write_tags(client_for(tracking_uri), tags)


def _measure(
    runs: list[RunRecord], choices: list[MetricChoice], settings: Settings
) -> dict[int, Measured]:
    """Every run with two finite values, measured in one vectorized pass per scale."""
    measured: dict[int, Measured] = {}
    by_scale: dict[Scale, list[int]] = {}
    for index, choice in enumerate(choices):
        if not choice.missing and _finite(choice):
            by_scale.setdefault(choice.scale, []).append(index)
    for scale, indices in by_scale.items():
        rows = measure(
            scale,
            [choices[i].train_error for i in indices], [choices[i].dev_error for i in indices],
            [_nan(_baseline(runs[i], scale, settings)[0]) for i in indices],
            [_size(runs[i], "n_train", settings.n_train) for i in indices],
            [_size(runs[i], "n_dev", settings.n_dev) for i in indices],
            settings.confidence,
        )
        measured |= dict(zip(indices, rows, strict=True))
    return measured


def _decide(run: RunRecord, choice: MetricChoice, measured: Measured | None,
            found: CurveFindings, settings: Settings) -> Diagnosis:
    scale = choice.scale
    baseline, _ = _baseline(run, scale, settings)
    tolerance = settings.tolerances[scale]
    if measured is None:  # nothing to measure: missing or non-finite values
        return decide(Estimate(choice.train_error), Estimate(choice.dev_error), Gap(None),
                      Gap(None), baseline, tolerance, scale, found, choice.missing)
    return decide(measured.train, measured.dev, measured.bias, measured.variance, baseline,
                  tolerance, scale, found, train_upper_bound=choice.pair.train_upper_bound,
                  total=_total_gap(run, scale, settings))


def _total_gap(run: RunRecord, scale: Scale, settings: Settings) -> Gap | None:
    """For a run judged on its losses: its dev error minus the Bayes error, where it logged a
    dev error and the baseline is known (see :func:`~.verdicts.verdict_for`)."""
    key = dev_error_metric(run.metrics) if scale is Scale.LOSS else None
    baseline, source = _baseline(run, Scale.ERROR_RATE, settings)
    if key is None or source.startswith("0:") or not math.isfinite(run.metrics[key]):
        return None
    return Gap(as_error(key, run.metrics[key]) - baseline)


def _baseline(run: RunRecord, scale: Scale, settings: Settings) -> tuple[float | None, str]:
    """The run's baseline on ``scale`` and where it comes from."""
    if scale is Scale.LOSS:
        if settings.baseline_loss is None:
            return None, "unknown (no baseline loss given)"
        return settings.baseline_loss, "given"
    if settings.baseline_error is not None:
        return settings.baseline_error, "given"
    logged = run.params.get(BAYES_ERROR_PARAM)
    if scale is Scale.ERROR_RATE and logged is not None:
        return float(logged), "Bayes error of the generated data (logged)"
    return 0.0, "0: no Bayes error known (give --baseline-error)"


def _size(run: RunRecord, name: str, default: float) -> float:
    logged = run.params.get(name)
    return float(logged) if logged is not None else default


def _finite(choice: MetricChoice) -> bool:
    return all(v is not None and math.isfinite(v) for v in (choice.train_error, choice.dev_error))


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _row(result: RunDiagnosis, names: Mapping[str, str], settings: Settings) -> dict:
    run, found, scale = result.run, result.curves, result.diagnosis.scale
    return {
        "run_id": run.run_id,
        "run_name": run.run_name,
        "experiment_id": run.experiment_id,
        "experiment": names.get(run.experiment_id, ""),
        "metrics": result.choice.pair.label if result.choice.pair else "",
        **result.diagnosis.as_record(),
        "n_train": _size(run, "n_train", settings.n_train),
        "n_dev": _size(run, "n_dev", settings.n_dev),
        "baseline_source": _baseline(run, scale, settings)[1],
        "tolerance": settings.tolerances[scale],
        "best_epoch": found.best_epoch,
        "last_epoch": found.last_epoch,
        "train_loss_falling": found.train_loss_falling,
        "diverged": found.diverged,
        "notes": "; ".join(found.notes()),
    }
