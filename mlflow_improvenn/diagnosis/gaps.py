"""The two gaps of the basic recipe, measured with their sampling noise, for many runs at once.

:func:`measure` takes arrays (one entry per run, NaN where a value or a split size is not
known) and returns each run's values, gaps and confidence intervals; the verdict itself is
:func:`mlflow_improvenn.diagnosis.verdicts.decide`. :func:`diagnose_errors` does both for one
run.

>>> diagnose_errors(0.15, 0.16, baseline_error=0.01).verdict.value
'high_bias'
>>> diagnose_errors(0.01, 0.11).verdict.value
'high_variance'
>>> diagnose_errors(0.05, 0.08, 0.05, n_train=400, n_dev=100).verdict.value  # 3 points, 100 rows
'inconclusive'
>>> diagnose_errors(0.05, 0.08, 0.05, n_train=40_000, n_dev=10_000).verdict.value
'high_variance'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mlflow_improvenn.diagnosis import intervals
from mlflow_improvenn.diagnosis.verdicts import (
    DEFAULT_TOLERANCES,
    CurveFindings,
    Diagnosis,
    Estimate,
    Gap,
    Scale,
    check_settings,
    decide,
    missing_values,
)


@dataclass(frozen=True)
class Measured:
    """One run's train and dev values and its two gaps, with intervals where known."""

    train: Estimate
    dev: Estimate
    bias: Gap
    variance: Gap


def measure(
    scale: Scale,
    train: ArrayLike,
    dev: ArrayLike,
    baseline: ArrayLike,
    n_train: ArrayLike,
    n_dev: ArrayLike,
    confidence: float = intervals.DEFAULT_CONFIDENCE,
) -> list[Measured]:
    """Values, gaps and intervals of many runs on one ``scale`` (arrays of equal length).

    NaN marks what is unknown: a missing value, a baseline (the bias gap is then unknown),
    a split size (that interval is then unknown). On the ``loss`` scale gaps are relative
    and have no interval: per-example losses are not logged, so their spread is not known.
    """
    train, dev, baseline = (np.asarray(a, dtype=float) for a in (train, dev, baseline))
    n_train, n_dev = np.asarray(n_train, dtype=float), np.asarray(n_dev, dtype=float)
    if scale is Scale.LOSS:
        nothing = np.full(train.shape, np.nan)
        return _rows(train, (nothing, nothing), dev, (nothing, nothing),
                     _relative(train, baseline), (nothing, nothing),
                     _relative(dev, train), (nothing, nothing))
    one, difference = _interval_functions(scale)
    train_ci = _where_known(one, (train, n_train), confidence)
    dev_ci = _where_known(one, (dev, n_dev), confidence)
    variance_ci = _where_known(difference, (dev, n_dev, train, n_train), confidence)
    bias_ci = (train_ci[0] - baseline, train_ci[1] - baseline)
    return _rows(train, train_ci, dev, dev_ci, train - baseline, bias_ci, dev - train, variance_ci)


def diagnose_errors(
    train_error: float | None,
    dev_error: float | None,
    baseline_error: float | None = 0.0,
    tolerance: float | None = None,
    curves: CurveFindings | None = None,
    missing: str = "",
    *,
    scale: Scale = Scale.ERROR_RATE,
    n_train: int | None = None,
    n_dev: int | None = None,
    confidence: float = intervals.DEFAULT_CONFIDENCE,
) -> Diagnosis:
    """Diagnose one run. ``tolerance`` defaults to the scale's own (:data:`DEFAULT_TOLERANCES`).
    Without ``n_train``/``n_dev`` no interval is known and the tolerance alone decides;
    ``missing`` (what the caller could not find) forces insufficient_data.

    Raises:
        ValueError: a negative or non-finite baseline or tolerance.
    """
    tolerance = DEFAULT_TOLERANCES[scale] if tolerance is None else tolerance
    check_settings(baseline_error, tolerance)
    missing = missing or missing_values(train_error, dev_error)
    if missing:
        return decide(Estimate(train_error), Estimate(dev_error), Gap(None), Gap(None),
                      baseline_error, tolerance, scale, curves, missing)
    row = measure(scale, [_nan(train_error)], [_nan(dev_error)], [_nan(baseline_error)],
                  [_nan(n_train)], [_nan(n_dev)], confidence)[0]
    return decide(row.train, row.dev, row.bias, row.variance, baseline_error, tolerance, scale,
                  curves, missing)


def _interval_functions(scale: Scale):
    if scale is Scale.ERROR_RATE:
        return intervals.rate_interval, intervals.rate_difference_interval
    return intervals.variance_ratio_interval, intervals.variance_ratio_difference_interval


def _where_known(function, arrays: tuple[np.ndarray, ...], confidence: float):
    """``function`` of the rows where every input is finite and sizes positive; NaN elsewhere."""
    known = np.all([np.isfinite(a) for a in arrays], axis=0)
    for size in arrays[1::2]:
        known &= np.where(np.isfinite(size), size, 0) > 0
    low, high = np.full(known.shape, np.nan), np.full(known.shape, np.nan)
    if known.any():
        low[known], high[known] = function(*(a[known] for a in arrays), confidence)
    return low, high


def _relative(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``value / reference - 1``; above a zero reference, a positive value is infinitely above;
    NaN where either is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        above_zero = np.where(value > reference, np.inf, 0.0)
        ratio = np.where(reference > 0, value / reference - 1, above_zero)
    return np.where(np.isnan(value) | np.isnan(reference), np.nan, ratio)


def _rows(train, train_ci, dev, dev_ci, bias, bias_ci, variance, variance_ci) -> list[Measured]:
    return [
        Measured(_estimate(Estimate, train[i], train_ci, i), _estimate(Estimate, dev[i], dev_ci, i),
                 _estimate(Gap, bias[i], bias_ci, i), _estimate(Gap, variance[i], variance_ci, i))
        for i in range(len(train))
    ]


def _estimate(kind: type[Estimate], value: float, interval: tuple[np.ndarray, np.ndarray],
              index: int) -> Estimate:
    return kind(_none(value), _none(interval[0][index]), _none(interval[1][index]))


def _none(value: float) -> float | None:
    """NaN back to None (unknown); infinities stay: a diverged run's error is infinite."""
    return None if math.isnan(value) else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
