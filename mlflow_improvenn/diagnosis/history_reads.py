"""The metric histories ``diagnose`` reads, only where they change the answer, each once.

Epochs of other tools' runs are counted by their dev metric: the k-th evaluation ends epoch k
(1-based), whatever the tool numbered its steps (global steps for Lightning and Hugging Face,
0-based epochs for Keras, 1-based for skorch). A dev value of a whole epoch is never compared
with one batch's train value:

* a train metric with a ``_step``/``_batch`` suffix, or logged by a run that also logs an
  ``epoch`` metric (Lightning's ``MLFlowLogger`` and Hugging Face log against global steps),
  is read from its history and averaged over the last epoch's steps, an epoch ending at its
  dev evaluation;
* Lightning (its logger, or ``mlflow.pytorch.autolog``, tagged ``mlflow.autologging=pytorch``)
  logs a ``training_step`` metric as the value of the batch at hand, once per epoch or every
  few steps: one batch of a hundred rows or so. Its train value is the mean over the last
  :data:`SINGLE_BATCH_EPOCHS` epochs' logged values instead (measured on the recorded runs:
  the last batch alone read 0.012 for a train error of 0.034; five epochs' mean 0.027).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.diagnosis.metric_names import CURVE_ALIASES, MetricChoice
from mlflow_improvenn.diagnosis.verdicts import CurveFindings, Verdict
from mlflow_improvenn.tracking.queries import RunRecord, fetch_histories

#: A run that logs this metric logs against global steps (Lightning, Hugging Face): its train
#: metrics without an ``_epoch`` suffix are per batch.
EPOCH_METRIC = "epoch"
#: Epochs whose single-batch train values are averaged (Lightning's ``training_step`` logs).
SINGLE_BATCH_EPOCHS = 5
_AUTOLOG_TAG, _LIGHTNING_AUTOLOG = "mlflow.autologging", "pytorch"
_HF_MARKER = "train_runtime"
_HIGH_BIAS = (Verdict.HIGH_BIAS, Verdict.HIGH_BIAS_AND_VARIANCE)
_HIGH = (*_HIGH_BIAS, Verdict.HIGH_VARIANCE)


class Histories:
    """Metric histories fetched on demand, concurrently, and never twice."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self._fetched: dict[tuple[str, str], list[Metric]] = {}

    def get(self, requests: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Metric]]:
        requests = list(dict.fromkeys(requests))
        missing = [r for r in requests if r not in self._fetched]
        self._fetched |= fetch_histories(self._client, missing)
        return {r: self._fetched[r] for r in requests}


def is_ours(run: RunRecord) -> bool:
    """Our trainer's runs log their summary; their steps are 1-based epochs."""
    return "stopped_epoch" in run.metrics and run.stop_reason is not None


def per_step(run: RunRecord, choice: MetricChoice) -> bool:
    """Whether the chosen train metric holds batches' values rather than epoch means."""
    pair = choice.pair
    if pair is None or is_ours(run) or pair.train_upper_bound:
        return False
    named_epoch = pair.train.endswith("_epoch")
    return pair.per_step or (not named_epoch and (EPOCH_METRIC in run.metrics or _lightning(run)))


def _lightning(run: RunRecord) -> bool:
    """Lightning's logger (global steps with an ``epoch`` metric, no Hugging Face summary) or
    its autolog."""
    logger = EPOCH_METRIC in run.metrics and _HF_MARKER not in run.metrics
    return logger or run.tags.get(_AUTOLOG_TAG) == _LIGHTNING_AUTOLOG


def epoch_values(
    histories: Histories, runs: Sequence[RunRecord], choices: Sequence[MetricChoice]
) -> list[MetricChoice]:
    """Choices whose train metric is per batch, given the mean of its last epoch instead."""
    wanted = [i for i, (run, choice) in enumerate(zip(runs, choices, strict=True))
              if not choice.missing and per_step(run, choice)]
    fetched = histories.get(
        (runs[i].run_id, key) for i in wanted for key in (choices[i].pair.train,
                                                          choices[i].pair.dev)
    )
    updated = list(choices)
    for index in wanted:
        pair, run_id = choices[index].pair, runs[index].run_id
        epochs = SINGLE_BATCH_EPOCHS if _lightning(runs[index]) else 1
        value = last_epochs_mean(fetched[(run_id, pair.train)], fetched[(run_id, pair.dev)],
                                 epochs)
        if value is not None:
            updated[index] = replace(choices[index], train_error=pair.as_scale(value))
    return updated


def last_epochs_mean(train: Sequence[Metric], dev: Sequence[Metric], epochs: int) -> float | None:
    """The mean of the train values logged in the last ``epochs`` epochs (an epoch ending at a
    dev evaluation's step); None when none was.

    >>> from mlflow.entities import Metric
    >>> steps = [Metric("l", v, 0, s) for s, v in [(1, 4.0), (2, 2.0), (3, 1.0), (4, 1.0)]]
    >>> last_epochs_mean(steps, [Metric("v", 0.0, 0, 2), Metric("v", 0.0, 0, 4)], 1)
    1.0
    """
    ends = sorted({m.step for m in dev})
    if not ends:
        return None
    start = ends[-epochs - 1] if len(ends) > epochs else -math.inf
    values = [m.value for m in train if start < m.step <= ends[-1]]
    return math.fsum(values) / len(values) if values else None


def epoch_means(train: Sequence[Metric], dev: Sequence[Metric]) -> list[tuple[int, float]]:
    """(epoch, mean train value) of each epoch that logged one, an epoch ending at a dev
    evaluation's step and numbered by it (1-based).

    >>> from mlflow.entities import Metric
    >>> steps = [Metric("l", v, 0, s) for s, v in [(1, 4.0), (2, 2.0), (4, 1.0)]]
    >>> epoch_means(steps, [Metric("v", 0.0, 0, s) for s in (2, 3, 4)])
    [(1, 3.0), (3, 1.0)]
    """
    ends = sorted({m.step for m in dev})
    means, start = [], -math.inf
    for epoch, end in enumerate(ends, start=1):
        values = [m.value for m in train if start < m.step <= end]
        if values:
            means.append((epoch, math.fsum(values) / len(values)))
        start = end
    return means


def summary_curves(run: RunRecord) -> CurveFindings:
    """Curve findings from our trainer's summary alone (no history calls).

    ``best_epoch`` is where the monitored metric was best: a dev epoch only when early
    stopping watched the dev set.
    """
    best = run.metrics.get("best_epoch") if _monitors_dev(run) else None
    last = run.metrics.get("stopped_epoch")
    ran_out = run.stop_reason in (None, "max_epochs")
    falling = run.metrics.get("train_loss_falling") if ran_out else None
    return CurveFindings(
        best_epoch=_as_epoch(best),
        last_epoch=_as_epoch(last),
        train_loss_falling=None if falling is None else bool(falling),
        diverged=run.stop_reason == "non_finite_loss" or run.metrics.get("train_loss_rose") == 1,
        stopped_early=run.stop_reason == "early_stopping",
    )


def curves_change_advice(run: RunRecord, verdict: Verdict) -> bool:
    """Whether reading the run's loss curves can change its advice.

    Ours: only a high-bias run that ran out of epochs without logging its train-loss trend
    (is it still falling?). Other tools': a high bias (the trend) or high variance (where
    the dev loss was best) verdict.
    """
    if _loss_keys(run) is None:
        return False
    if is_ours(run):
        return (verdict in _HIGH_BIAS and run.stop_reason == "max_epochs"
                and "train_loss_falling" not in run.metrics)
    return verdict in _HIGH


def read_loss_curves(histories: Histories, runs: Sequence[RunRecord]) -> list[CurveFindings]:
    """Each run's loss curves read per epoch (see the module's rule for other tools)."""
    keys = {run.run_id: _loss_keys(run) for run in runs}
    fetched = histories.get(
        (run_id, key) for run_id, pair in keys.items() for key in (pair.train, pair.dev) if key
    )
    found = []
    for run in runs:
        pair = keys[run.run_id]
        train = fetched[(run.run_id, pair.train)]
        dev = fetched[(run.run_id, pair.dev)] if pair.dev else []
        found.append(_read(run, train, dev))
    return found


def merge(summary: CurveFindings, read: CurveFindings) -> CurveFindings:
    """The trainer's summary wins where it has a value: it names the restored epoch."""
    return CurveFindings(
        best_epoch=summary.best_epoch if summary.best_epoch is not None else read.best_epoch,
        last_epoch=summary.last_epoch if summary.last_epoch is not None else read.last_epoch,
        train_loss_falling=read.train_loss_falling,
        diverged=summary.diverged or read.diverged,
        stopped_early=summary.stopped_early,
    )


@dataclass(frozen=True)
class _LossKeys:
    train: str
    dev: str | None


def _loss_keys(run: RunRecord) -> _LossKeys | None:
    """The loss histories to read: the dev loss only where no summary names the best epoch."""
    train = next((k for k in CURVE_ALIASES["train_loss"] if k in run.metrics), None)
    dev = None
    if "best_epoch" not in run.metrics or not _monitors_dev(run):
        dev = next((k for k in CURVE_ALIASES["dev_loss"] if k in run.metrics), None)
    return _LossKeys(train, dev) if train else None


def _read(run: RunRecord, train: list[Metric], dev: list[Metric]) -> CurveFindings:
    if is_ours(run) or not dev:
        return read_curves([m.value for m in train], [m.value for m in dev],
                           epochs=[m.step for m in train], dev_epochs=[m.step for m in dev])
    per_epoch, evaluations = epoch_means(train, dev), _one_per_step(dev)
    return read_curves([mean for _, mean in per_epoch], [m.value for m in evaluations],
                       epochs=[epoch for epoch, _ in per_epoch],
                       dev_epochs=list(range(1, len(evaluations) + 1)))


def _one_per_step(metrics: Sequence[Metric]) -> list[Metric]:
    """The last value logged at each step (a tool may log one twice: sklearn's evaluate)."""
    return list({m.step: m for m in metrics}.values())


def _monitors_dev(run: RunRecord) -> bool:
    return run.monitor is None or run.monitor.startswith("dev_")


def _as_epoch(value: float | None) -> int | None:
    return int(value) if value is not None and math.isfinite(value) else None
