"""The basic recipe for ML as pure functions: train and dev errors in, verdict and next step out.

Bias is measured against a baseline (human-level or Bayes error) rather than zero, because no
model beats the noise in its labels: ``avoidable_bias = train_error - baseline_error``.
Variance is the gap the model fails to carry over to unseen data:
``variance = dev_error - train_error``. A gap is *high* when it is strictly greater than
``tolerance`` (beyond floating-point rounding), an absolute amount in the units of the errors.

The default tolerance, :data:`DEFAULT_TOLERANCE` = 0.02, is two percentage points of error
rate: in the recipe's own examples a 0.5-point gap is left alone and a 2-point gap is acted
on, and with dev sets of a few hundred examples smaller gaps are mostly sampling noise. For
regression (errors in loss units) there is no universal scale: pass a tolerance that fits the
loss.

>>> diagnose_errors(train_error=0.15, dev_error=0.16, baseline_error=0.01).verdict.value
'high_bias'
>>> diagnose_errors(train_error=0.01, dev_error=0.11).verdict.value
'high_variance'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

DEFAULT_TOLERANCE = 0.02
#: Gaps within this of a limit count as equal to it, so 0.10 - 0.08 is not above 0.02.
ROUNDING = 1e-9


class Verdict(str, Enum):
    """The values of the ``improvenn.diagnosis`` tag (run schema)."""

    HIGH_BIAS = "high_bias"
    HIGH_VARIANCE = "high_variance"
    HIGH_BIAS_AND_VARIANCE = "high_bias_and_variance"
    GOOD_FIT = "good_fit"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class CurveFindings:
    """What a person reads off the learning curves; None where the curves were not read."""

    best_epoch: int | None = None  # where the dev loss (or the dev metric monitored) was best
    last_epoch: int | None = None
    train_loss_falling: bool | None = None
    diverged: bool = False

    @property
    def epochs_past_best(self) -> int | None:
        """How long training went on after the dev set was best."""
        if self.best_epoch is None or self.last_epoch is None:
            return None
        return self.last_epoch - self.best_epoch

    def notes(self) -> list[str]:
        """Short observations, for the report's ``notes`` column."""
        notes = []
        if self.diverged:
            notes.append("diverged (non-finite or rising train loss)")
        if self.epochs_past_best:
            notes.append(f"dev best at epoch {self.best_epoch} of {self.last_epoch}")
        if self.train_loss_falling:
            notes.append("train loss still falling at the end")
        elif self.train_loss_falling is False:
            notes.append("train loss had flattened")
        return notes


@dataclass(frozen=True)
class Diagnosis:
    """One run's place in the recipe. ``reason`` says what was missing when data fell short."""

    train_error: float | None
    dev_error: float | None
    baseline_error: float
    avoidable_bias: float | None
    variance: float | None
    verdict: Verdict
    recommendation: str
    reason: str = ""

    def as_record(self) -> dict[str, float | str | None]:
        """The fields under their report names (``diagnosis`` for the verdict's value)."""
        return {
            "train_error": self.train_error,
            "dev_error": self.dev_error,
            "baseline_error": self.baseline_error,
            "avoidable_bias": self.avoidable_bias,
            "variance": self.variance,
            "diagnosis": self.verdict.value,
            "recommendation": self.recommendation,
            "reason": self.reason,
        }


def check_settings(baseline_error: float, tolerance: float) -> None:
    """Refuse settings that would make every verdict meaningless."""
    if not (math.isfinite(baseline_error) and baseline_error >= 0):
        raise ValueError(f"baseline_error must be a finite number >= 0, got {baseline_error!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")


def classify(
    avoidable_bias: float, variance: float, tolerance: float = DEFAULT_TOLERANCE
) -> Verdict:
    """The verdict for two finite gaps: each is high when strictly above ``tolerance``.

    >>> classify(0.02, 0.021, tolerance=0.02).value
    'high_variance'
    """
    high_bias = exceeds(avoidable_bias, tolerance)
    high_variance = exceeds(variance, tolerance)
    if high_bias and high_variance:
        return Verdict.HIGH_BIAS_AND_VARIANCE
    if high_bias:
        return Verdict.HIGH_BIAS
    if high_variance:
        return Verdict.HIGH_VARIANCE
    return Verdict.GOOD_FIT


def exceeds(value: float, limit: float) -> bool:
    return value - limit > ROUNDING


def diagnose_errors(
    train_error: float | None,
    dev_error: float | None,
    baseline_error: float = 0.0,
    tolerance: float = DEFAULT_TOLERANCE,
    curves: CurveFindings | None = None,
    missing: str = "",
) -> Diagnosis:
    """Diagnose one run; ``missing`` (what the caller could not find) forces insufficient_data."""
    check_settings(baseline_error, tolerance)
    curves = curves or CurveFindings()
    reason = missing or _missing_values(train_error, dev_error)
    if reason:
        if not all(math.isfinite(v) for v in (train_error, dev_error) if v is not None):
            curves = replace(curves, diverged=True)
        step = recommend(Verdict.INSUFFICIENT_DATA, curves)
        return Diagnosis(
            train_error, dev_error, baseline_error, None, None, Verdict.INSUFFICIENT_DATA,
            step if curves.diverged else f"{reason}: {step}", reason,
        )
    assert train_error is not None and dev_error is not None
    bias = train_error - baseline_error
    variance = dev_error - train_error
    verdict = classify(bias, variance, tolerance)
    return Diagnosis(
        train_error, dev_error, baseline_error, bias, variance, verdict, recommend(verdict, curves)
    )


def _missing_values(train_error: float | None, dev_error: float | None) -> str:
    problems = []
    for name, value in (("train error", train_error), ("dev error", dev_error)):
        if value is None:
            problems.append(f"no {name}")
        elif not math.isfinite(value):
            problems.append(f"{name} is {value} (the run diverged)")
    return "; ".join(problems)


_RECIPE = {
    Verdict.HIGH_BIAS: "reduce bias: bigger network, train longer, better optimizer or "
    "schedule, less regularization",
    Verdict.HIGH_VARIANCE: "reduce variance: more data, stronger L2 or dropout, early stopping",
    Verdict.HIGH_BIAS_AND_VARIANCE: "bias first: bigger network, train longer, better optimizer;"
    " then variance: more data, stronger L2 or dropout",
    Verdict.GOOD_FIT: "good fit: both gaps within tolerance; confirm on the test set",
    Verdict.INSUFFICIENT_DATA: "log train and dev metrics (train_error and dev_error, or "
    "train_loss and dev_loss) to diagnose this run",
}

_DIVERGED = "lower the learning rate or clip gradients (the run diverged)"


def recommend(verdict: Verdict, curves: CurveFindings | None = None) -> str:
    """A one-line next step; curve findings sharpen the recipe where they decide it."""
    curves = curves or CurveFindings()
    step = _RECIPE[verdict]
    if verdict in (Verdict.HIGH_BIAS, Verdict.HIGH_BIAS_AND_VARIANCE):
        if curves.train_loss_falling:
            rest = step.split(": ", 1)[1].replace("train longer, ", "")
            step = f"train longer (train loss still falling), then {rest}"
        elif curves.train_loss_falling is False:
            step = step.replace("train longer, ", "")
    elif verdict is Verdict.HIGH_VARIANCE and curves.epochs_past_best:
        step += f" (dev was best at epoch {curves.best_epoch} of {curves.last_epoch})"
    if curves.diverged:
        return _DIVERGED if verdict is Verdict.INSUFFICIENT_DATA else f"{_DIVERGED}; then {step}"
    return step
