"""The data-size learning curve read the recipe's way: will more data help?

The same configuration trained on growing shares of the training rows gives, per share, a
train and a dev error (or unexplained variance, 1 - R^2, for regression) with their noise
intervals (:func:`mlflow_improvenn.diagnosis.gaps.measure`: Wilson, Newcombe, chi-square).
The verdict (Ng, "Machine Learning Yearning", chapters 28-32; the course's basic recipe):

* ``more_data_will_help``: at the most rows, the dev-train gap is high (above the tolerance
  and beyond noise) and the dev error is still falling: the fitted power law's exponent is
  above 0 with 95% confidence, and the last segment did not rise beyond noise (one noisy
  last point does not end a trend; a single segment's slope is mostly noise);
* ``more_data_will_not_help``: the curves have met (the gap is not high): above the baseline
  that is high bias (a bigger model, not more data), at it a good fit; or the gap is high
  but the dev error rose over the last segment beyond noise, or, with no trend, has stopped
  falling (regularize);
* ``inconclusive``: the gap is above the tolerance but within the dev split's noise, or it
  is high and the dev error falls, but not beyond noise.

The power law is ``dev - baseline = a * n ** -b`` (Hestness et al. 2017, "Deep learning
scaling is predictable, empirically"), fitted by least squares on logs (statsmodels' OLS),
its asymptote the baseline (0 where unknown); it extrapolates the dev error to 2x and 10x
the rows, with the confidence interval of the fitted mean.

>>> v = read_data_curve([100, 200, 400, 800], [0.0, 0.0, 0.01, 0.01],
...                     [0.30, 0.21, 0.15, 0.105], n_dev=2000)
>>> v.verdict.value, round(v.last_slope, 3)
('more_data_will_help', -0.045)
>>> read_data_curve([100, 200, 400], [0.30, 0.31, 0.31], [0.32, 0.31, 0.315],
...                 n_dev=2000).verdict.value
'more_data_will_not_help'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from mlflow_improvenn.diagnosis import intervals
from mlflow_improvenn.diagnosis.gaps import Measured, measure
from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCES, GapState, Scale, judge_gap

#: Multiples of the most rows the dev error is extrapolated to.
EXTRAPOLATE_TO = (2, 10)
MIN_POINTS = 3


class DataVerdict(str, Enum):
    """What the curve says about more data."""

    WILL_HELP = "more_data_will_help"
    WILL_NOT_HELP = "more_data_will_not_help"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Extrapolation:
    """The power law's dev error at ``n_train`` rows, and its confidence interval."""

    n_train: int
    dev: float
    low: float
    high: float


@dataclass(frozen=True)
class CurveVerdict:
    """The verdict, why, and the numbers behind it.

    ``points``: one :class:`~mlflow_improvenn.diagnosis.gaps.Measured` per share, in order
    of rows; ``last_slope``: the dev error's change per doubling of rows over the last
    segment; ``exponent`` (with its interval): the power law's ``b``, None where the dev
    error does not lie above the baseline at every point.
    """

    verdict: DataVerdict
    reason: str
    n_train: tuple[int, ...]
    points: tuple[Measured, ...]
    last_slope: float
    exponent: float | None
    exponent_interval: tuple[float, float] | None
    extrapolations: tuple[Extrapolation, ...]


def read_data_curve(
    n_train: Sequence[int],
    train: Sequence[float],
    dev: Sequence[float],
    n_dev: int,
    scale: Scale = Scale.ERROR_RATE,
    baseline: float | None = None,
    tolerance: float | None = None,
    confidence: float = intervals.DEFAULT_CONFIDENCE,
) -> CurveVerdict:
    """Read a learning curve: ``train`` and ``dev`` values at growing ``n_train``, on one
    dev split of ``n_dev`` rows.

    Raises:
        ValueError: fewer than 3 points, row counts not strictly growing, a value unknown.
    """
    rows = np.asarray(n_train, dtype=float)
    train_values, dev_values = np.asarray(train, dtype=float), np.asarray(dev, dtype=float)
    _check(rows, train_values, dev_values)
    tolerance = DEFAULT_TOLERANCES[scale] if tolerance is None else tolerance
    floor = 0.0 if baseline is None else baseline
    points = measure(scale, train_values, dev_values, np.full(len(rows), floor), rows,
                     np.full(len(rows), float(n_dev)), confidence)
    last_slope = float((dev_values[-1] - dev_values[-2]) / math.log2(rows[-1] / rows[-2]))
    ceiling = 1.0 if scale is Scale.ERROR_RATE else math.inf  # a rate's interval stops at 1
    fit = _power_law(rows, dev_values, floor, confidence, ceiling)
    rose = _rose(scale, dev_values, n_dev, confidence)
    verdict, reason = _verdict(points[-1], tolerance, last_slope, rose, fit)
    return CurveVerdict(
        verdict, reason, tuple(int(n) for n in rows), tuple(points), last_slope,
        fit[0] if fit else None, fit[1] if fit else None, fit[2] if fit else (),
    )


def _check(rows: np.ndarray, train: np.ndarray, dev: np.ndarray) -> None:
    if len(rows) < MIN_POINTS:
        raise ValueError(f"a learning curve needs at least {MIN_POINTS} points, got {len(rows)}")
    if not (len(train) == len(dev) == len(rows)):
        raise ValueError("give one train and one dev value per point")
    if np.any(np.diff(rows) <= 0):
        raise ValueError(f"training rows must grow from point to point: {rows.tolist()}")
    if not (np.isfinite(train).all() and np.isfinite(dev).all()):
        raise ValueError("every point needs a finite train and dev value")


def _power_law(rows: np.ndarray, dev: np.ndarray, floor: float, confidence: float,
               ceiling: float):
    """``(b, (b_low, b_high), extrapolations)`` of ``dev - floor = a n^-b``, each
    extrapolated value and bound at most ``ceiling``; None where a point lies at or below the
    floor (its log is not defined)."""
    import statsmodels.api as sm

    above = dev - floor
    if np.any(above <= 0):
        return None
    design = sm.add_constant(np.log(rows))
    fitted = sm.OLS(np.log(above), design).fit()
    alpha = 1 - confidence
    slope_low, slope_high = fitted.conf_int(alpha)[1]
    targets = np.array([rows[-1] * k for k in EXTRAPOLATE_TO])
    predicted = fitted.get_prediction(sm.add_constant(np.log(targets), has_constant="add"))
    mean, bounds = predicted.predicted_mean, predicted.conf_int(alpha=alpha)
    extrapolations = tuple(
        Extrapolation(int(n), *(min(ceiling, floor + math.exp(v)) for v in (m, lo, hi)))
        for n, m, (lo, hi) in zip(targets, mean, bounds, strict=True)
    )
    return -float(fitted.params[1]), (-float(slope_high), -float(slope_low)), extrapolations


def _rose(scale: Scale, dev: np.ndarray, n_dev: int, confidence: float) -> bool:
    """Whether the dev error rose over the last segment beyond noise (the interval of the
    difference of two values measured on ``n_dev`` rows each lies above 0)."""
    difference = (intervals.rate_difference_interval if scale is Scale.ERROR_RATE
                  else intervals.variance_ratio_difference_interval)
    low, _ = difference(dev[-1], n_dev, dev[-2], n_dev, confidence)
    return bool(low > 0)


def _verdict(last: Measured, tolerance: float, last_slope: float, rose: bool,
             fit) -> tuple[DataVerdict, str]:
    gap = judge_gap(last.variance.value, last.variance.low, tolerance)
    bias = judge_gap(last.bias.value, last.bias.low, tolerance)
    if gap is not GapState.HIGH and bias is GapState.HIGH:
        return DataVerdict.WILL_NOT_HELP, ("the curves have met above the baseline: high "
                                           "bias; grow the model instead")
    if gap is GapState.WITHIN_NOISE:
        return DataVerdict.INCONCLUSIVE, (f"the gap ({last.variance.value:.3g}) is within the "
                                          "noise of the dev split: a larger one would tell")
    if gap is not GapState.HIGH:
        return DataVerdict.WILL_NOT_HELP, "the curves have met near the baseline: a good fit"
    falling = fit is not None and fit[1][0] > 0
    if falling and not rose:
        return DataVerdict.WILL_HELP, (f"the gap is high and the dev error still falls (as "
                                       f"rows^-{fit[0]:.2g}, exponent above 0 beyond noise)")
    if rose:
        return DataVerdict.WILL_NOT_HELP, ("the gap is high but the dev error rose over the "
                                           "last segment: regularize instead")
    if last_slope >= 0:
        return DataVerdict.WILL_NOT_HELP, ("the gap is high but the dev error has stopped "
                                           "falling: regularize instead")
    return DataVerdict.INCONCLUSIVE, ("the gap is high and the dev error falls, but not "
                                      "beyond noise: add a larger share, or more rows")
