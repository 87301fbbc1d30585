"""The basic recipe for ML as pure functions: two gaps in, a verdict and the next step out.

Bias is measured against a baseline (human-level or Bayes error) rather than zero, because no
model beats the noise in its labels: ``avoidable_bias = train - baseline``. Variance is what
the model fails to carry over to unseen data: ``variance = dev - train``. Both are measured on
one :class:`Scale`, and each has its own tolerance (:data:`DEFAULT_TOLERANCES`):

* ``error_rate`` (classification error, 1 - accuracy): absolute gaps, tolerance 0.02, two
  points of error: the recipe's own examples leave a 0.5-point gap alone and act on 2 points.
* ``unexplained_variance`` (regression: mean squared error over the target's variance,
  1 - R^2): absolute gaps, tolerance 0.05, a twentieth of the target's variance, so a model
  with R^2 0.97 on both splits is a good fit.
* ``loss`` (a loss in the model's own units, which says nothing about how good is possible):
  relative gaps (``dev / train - 1``, ``train / baseline - 1``), tolerance 0.25. The bias
  gap needs a baseline loss; without one it is ``unknown``, never ``high``.

A gap is **high** only when it is above its tolerance (beyond floating-point rounding) *and*
beyond sampling noise: the lower bound of its confidence interval (see
:mod:`mlflow_improvenn.diagnosis.intervals`) is above zero. A gap above the tolerance that
noise could explain is ``within_noise``; where no interval is known (no split sizes, or a
loss), the tolerance alone decides. The verdict follows the high gaps; with none high, any
gap ``within_noise`` or ``unknown`` makes it ``inconclusive`` rather than ``good_fit``.

:func:`mlflow_improvenn.diagnosis.gaps.diagnose_errors` measures one run's gaps and judges
them here; the report measures many runs at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

#: Gaps within this of a limit count as equal to it, so 0.10 - 0.08 is not above 0.02.
ROUNDING = 1e-9


class Verdict(str, Enum):
    """The values of the ``improvenn.diagnosis`` tag (run schema)."""

    HIGH_BIAS = "high_bias"
    HIGH_VARIANCE = "high_variance"
    HIGH_BIAS_AND_VARIANCE = "high_bias_and_variance"
    GOOD_FIT = "good_fit"
    INCONCLUSIVE = "inconclusive"
    INSUFFICIENT_DATA = "insufficient_data"


class Scale(str, Enum):
    """What the train and dev numbers measure."""

    ERROR_RATE = "error_rate"
    UNEXPLAINED_VARIANCE = "unexplained_variance"
    LOSS = "loss"


DEFAULT_TOLERANCES: Mapping[Scale, float] = {
    Scale.ERROR_RATE: 0.02,
    Scale.UNEXPLAINED_VARIANCE: 0.05,
    Scale.LOSS: 0.25,
}
DEFAULT_TOLERANCE = DEFAULT_TOLERANCES[Scale.ERROR_RATE]


class GapState(str, Enum):
    """What one gap says."""

    HIGH = "high"
    WITHIN_TOLERANCE = "within_tolerance"
    WITHIN_NOISE = "within_noise"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Estimate:
    """A measured value and its confidence interval, where the split sizes give one."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Gap(Estimate):
    """A gap between two estimates (or an estimate and the baseline), and what it says."""

    state: GapState = GapState.UNKNOWN


def judge_gap(value: float | None, low: float | None, tolerance: float) -> GapState:
    """High only above the tolerance and beyond noise (``low`` > 0; None: not known).

    >>> judge_gap(0.03, -0.01, 0.02).value, judge_gap(0.03, 0.005, 0.02).value
    ('within_noise', 'high')
    """
    if value is None or math.isnan(value):
        return GapState.UNKNOWN
    if not exceeds(value, tolerance):
        return GapState.WITHIN_TOLERANCE
    if low is not None and not math.isnan(low) and low <= ROUNDING:
        return GapState.WITHIN_NOISE
    return GapState.HIGH


def verdict_for(bias: GapState, variance: GapState,
                total: GapState = GapState.UNKNOWN) -> Verdict:
    """The recipe's verdict from the states of its two gaps.

    ``total`` is the dev error's distance to the baseline (bias + variance), where a run's
    pair is a loss pair but it also logged a dev error: within the tolerance, nothing is left
    to gain, however the gaps of the losses split it.
    """
    high_bias, high_variance = bias is GapState.HIGH, variance is GapState.HIGH
    if high_bias and high_variance:
        return Verdict.HIGH_BIAS_AND_VARIANCE
    if high_bias:
        return Verdict.HIGH_BIAS
    if high_variance:
        return Verdict.HIGH_VARIANCE
    if GapState.WITHIN_NOISE in (bias, variance) or GapState.UNKNOWN in (bias, variance):
        return Verdict.GOOD_FIT if total is GapState.WITHIN_TOLERANCE else Verdict.INCONCLUSIVE
    return Verdict.GOOD_FIT


def classify(
    avoidable_bias: float, variance: float, tolerance: float = DEFAULT_TOLERANCE
) -> Verdict:
    """The verdict for two finite gaps without intervals: high when above ``tolerance``.

    >>> classify(0.02, 0.021, tolerance=0.02).value
    'high_variance'
    """
    return verdict_for(judge_gap(avoidable_bias, None, tolerance),
                       judge_gap(variance, None, tolerance))


def exceeds(value: float, limit: float) -> bool:
    return value - limit > ROUNDING


@dataclass(frozen=True)
class CurveFindings:
    """What a person reads off the learning curves; None where the curves were not read.

    Epochs count from 1 (the first epoch trained), whatever a tool numbered its steps.
    """

    best_epoch: int | None = None  # where the dev loss (or the dev metric monitored) was best
    last_epoch: int | None = None
    train_loss_falling: bool | None = None
    diverged: bool = False
    stopped_early: bool = False

    @property
    def epochs_past_best(self) -> int | None:
        """How long training went on after the dev set was best."""
        if self.best_epoch is None or self.last_epoch is None:
            return None
        return self.last_epoch - self.best_epoch

    @property
    def past_its_optimum(self) -> bool:
        """Stopped early, or went on well after the dev optimum (3 epochs and 10% of the run):
        training longer would not help such a run."""
        past = self.epochs_past_best
        return self.stopped_early or (
            past is not None and past >= max(3, 0.1 * (self.last_epoch or 0))
        )

    def notes(self) -> list[str]:
        """Short observations, for the report's ``notes`` column."""
        notes = []
        if self.diverged:
            notes.append("diverged (non-finite or rising train loss)")
        if self.stopped_early:
            notes.append("stopped early")
        if self.epochs_past_best:
            notes.append(f"dev best at epoch {self.best_epoch} of {self.last_epoch}")
        if self.train_loss_falling:
            notes.append("train loss still falling at the end")
        elif self.train_loss_falling is False:
            notes.append("train loss had flattened")
        return notes


@dataclass(frozen=True)
class Diagnosis:
    """One run's place in the recipe, on one scale, with the evidence for it.

    ``train``/``dev`` are the values on ``scale`` with their intervals; ``baseline_error`` is
    None where unknown. ``reason`` says what was missing when data fell short, or why a gap
    could not be judged.
    """

    train: Estimate
    dev: Estimate
    baseline_error: float | None
    bias_gap: Gap
    variance_gap: Gap
    verdict: Verdict
    recommendation: str
    reason: str = ""
    scale: Scale = Scale.ERROR_RATE

    @property
    def train_error(self) -> float | None:
        return self.train.value

    @property
    def dev_error(self) -> float | None:
        return self.dev.value

    @property
    def avoidable_bias(self) -> float | None:
        return self.bias_gap.value

    @property
    def variance(self) -> float | None:
        return self.variance_gap.value

    def as_record(self) -> dict[str, float | str | None]:
        """The fields under their report names (``diagnosis`` for the verdict's value)."""
        return {
            "scale": self.scale.value,
            **_columns("train_error", self.train),
            **_columns("dev_error", self.dev),
            "baseline_error": self.baseline_error,
            **_columns("avoidable_bias", self.bias_gap),
            "bias_gap": self.bias_gap.state.value,
            **_columns("variance", self.variance_gap),
            "variance_gap": self.variance_gap.state.value,
            "diagnosis": self.verdict.value,
            "recommendation": self.recommendation,
            "reason": self.reason,
        }


def _columns(name: str, estimate: Estimate) -> dict[str, float | None]:
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


def check_settings(baseline: float | None, tolerance: float) -> None:
    """Refuse settings that would make every verdict meaningless."""
    if baseline is not None and not (math.isfinite(baseline) and baseline >= 0):
        raise ValueError(f"baseline_error must be a finite number >= 0, got {baseline!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")


def decide(
    train: Estimate,
    dev: Estimate,
    bias: Gap,
    variance: Gap,
    baseline: float | None,
    tolerance: float,
    scale: Scale = Scale.ERROR_RATE,
    curves: CurveFindings | None = None,
    missing: str = "",
    train_upper_bound: bool = False,
    total: Gap | None = None,
) -> Diagnosis:
    """Judge one run's measured gaps (states are set here); ``missing`` forces
    ``insufficient_data``.

    ``train_upper_bound``: the train value only bounds the last epoch's from above (a mean
    over epochs of a falling loss), so a bias gap can only be judged within the tolerance and
    a variance gap only high; what the bound cannot tell is ``unknown``. ``total``: see
    :func:`verdict_for` (its tolerance is that of the error-rate scale).
    """
    curves = curves or CurveFindings()
    reason = missing or missing_values(train.value, dev.value)
    if reason:
        if not all(math.isfinite(v) for v in (train.value, dev.value) if v is not None):
            curves = replace(curves, diverged=True)
        step = recommend(Verdict.INSUFFICIENT_DATA, curves)
        return Diagnosis(
            train, dev, baseline, Gap(None), Gap(None), Verdict.INSUFFICIENT_DATA,
            step if curves.diverged else f"{reason}: {step}", reason, scale,
        )
    bias = replace(bias, state=judge_gap(bias.value, bias.low, tolerance))
    variance = replace(variance, state=judge_gap(variance.value, variance.low, tolerance))
    if train_upper_bound:
        bias, variance = _bounded(bias, variance)
    total_state = GapState.UNKNOWN if total is None else judge_gap(
        total.value, total.low, DEFAULT_TOLERANCES[Scale.ERROR_RATE])
    verdict = verdict_for(bias.state, variance.state, total_state)
    reason, settle = _doubts(bias, variance, scale)
    if train_upper_bound:
        reason = "; ".join(filter(None, [_BOUND, reason]))
    if verdict is Verdict.GOOD_FIT and reason:
        reason = f"{reason}; but the dev error is within tolerance of the baseline"
    step = settle if verdict is Verdict.INCONCLUSIVE else recommend(verdict, curves)
    return Diagnosis(train, dev, baseline, bias, variance, verdict, step, reason, scale)


def missing_values(train: float | None, dev: float | None) -> str:
    """What keeps two values from being judged (absent, or non-finite); empty when nothing."""
    problems = []
    for name, value in (("train error", train), ("dev error", dev)):
        if value is None:
            problems.append(f"no {name}")
        elif not math.isfinite(value):
            problems.append(f"{name} is {value} (the run diverged)")
    return "; ".join(problems)


_BOUND = "the train value is a mean over all epochs, an upper bound of the last epoch's"


def _bounded(bias: Gap, variance: Gap) -> tuple[Gap, Gap]:
    """What an upper bound of the train value still tells: a bias within tolerance (the true
    one is lower), a high variance (the true one is higher); nothing else."""
    if bias.state is not GapState.WITHIN_TOLERANCE:
        bias = replace(bias, state=GapState.UNKNOWN)
    if variance.state is not GapState.HIGH:
        variance = replace(variance, state=GapState.UNKNOWN)
    return bias, variance


def _doubts(bias: Gap, variance: Gap, scale: Scale) -> tuple[str, str]:
    """Why a gap could not be judged, and what would settle it; empty when both were."""
    reasons, steps = [], []
    for name, gap, split in (("avoidable bias", bias, "train"), ("variance", variance, "dev")):
        if gap.state is GapState.WITHIN_NOISE:
            reasons.append(f"{name} {gap.value:.3g} is above the tolerance but within sampling "
                           f"noise (interval {gap.low:.3g} to {gap.high:.3g})")
            steps.append(f"measure on a bigger {split} split before changing the model")
    if bias.state is GapState.UNKNOWN and bias.value is None:
        what = "a baseline loss (--baseline-loss)" if scale is Scale.LOSS else "a baseline"
        reasons.append(f"avoidable bias is unknown without {what}")
        steps.append(f"give {what} or log an error or accuracy metric to judge bias")
    elif bias.state is GapState.UNKNOWN:
        reasons.append("avoidable bias is unknown")
        steps.append("log the train metric every epoch to judge bias")
    if variance.state is GapState.UNKNOWN and variance.value is not None:
        reasons.append("variance is unknown")
        steps.append("log the train metric every epoch to judge variance")
    return "; ".join(reasons), "; ".join(dict.fromkeys(steps))


_RECIPE = {
    Verdict.HIGH_BIAS: "reduce bias: bigger network, train longer, better optimizer or "
    "schedule, less regularization",
    Verdict.HIGH_VARIANCE: "reduce variance: more data, stronger L2 or dropout, early stopping",
    Verdict.HIGH_BIAS_AND_VARIANCE: "bias first: bigger network, train longer, better optimizer;"
    " then variance: more data, stronger L2 or dropout",
    Verdict.GOOD_FIT: "good fit: both gaps within tolerance; confirm on the test set",
    Verdict.INCONCLUSIVE: "no gap is clearly high; measure on bigger splits",
    Verdict.INSUFFICIENT_DATA: "log train and dev metrics (train_error and dev_error, or "
    "train_loss and dev_loss), or name them with --train-metric/--dev-metric",
}

_DIVERGED = "lower the learning rate or clip gradients (the run diverged)"


def recommend(verdict: Verdict, curves: CurveFindings | None = None) -> str:
    """A one-line next step; curve findings sharpen the recipe where they decide it.

    "Train longer" is advised only while the train loss still falls, and never to a run that
    stopped early or went well past its dev optimum.
    """
    curves = curves or CurveFindings()
    step = _RECIPE[verdict]
    if verdict in (Verdict.HIGH_BIAS, Verdict.HIGH_BIAS_AND_VARIANCE):
        if curves.past_its_optimum or curves.train_loss_falling is False:
            step = step.replace("train longer, ", "")
        elif curves.train_loss_falling:
            rest = step.split(": ", 1)[1].replace("train longer, ", "")
            step = f"train longer (train loss still falling), then {rest}"
    elif verdict is Verdict.HIGH_VARIANCE and curves.epochs_past_best:
        step += f" (dev was best at epoch {curves.best_epoch} of {curves.last_epoch})"
    if curves.diverged:
        return _DIVERGED if verdict is Verdict.INSUFFICIENT_DATA else f"{_DIVERGED}; then {step}"
    return step
