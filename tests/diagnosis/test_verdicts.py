"""The pure verdict logic of the recipe, at every boundary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.diagnosis.gaps import diagnose_errors
from mlflow_improvenn.diagnosis.verdicts import (
    DEFAULT_TOLERANCE,
    ROUNDING,
    CurveFindings,
    Verdict,
    check_settings,
    classify,
    recommend,
)

# Binary fractions, so "exactly at the tolerance" is exact in floating point.
TOL = 0.125


@pytest.mark.parametrize(
    ("bias", "variance", "expected"),
    [
        (0.0, 0.0, Verdict.GOOD_FIT),
        (TOL, TOL, Verdict.GOOD_FIT),  # at the tolerance is not above it
        (TOL + 2**-20, 0.0, Verdict.HIGH_BIAS),
        (0.0, TOL + 2**-20, Verdict.HIGH_VARIANCE),
        (TOL + 2**-20, TOL + 2**-20, Verdict.HIGH_BIAS_AND_VARIANCE),
        (TOL, TOL + 2**-20, Verdict.HIGH_VARIANCE),
        (TOL + 2**-20, TOL, Verdict.HIGH_BIAS),
        (-0.5, -0.5, Verdict.GOOD_FIT),  # better than baseline, dev better than train
        (-0.5, 0.5, Verdict.HIGH_VARIANCE),
        (0.5, -0.5, Verdict.HIGH_BIAS),
    ],
)
def test_classify_boundaries(bias: float, variance: float, expected: Verdict) -> None:
    assert classify(bias, variance, TOL) is expected


def test_zero_tolerance_flags_any_positive_gap() -> None:
    assert classify(0.0, 0.0, 0.0) is Verdict.GOOD_FIT
    assert classify(1e-6, 1e-6, 0.0) is Verdict.HIGH_BIAS_AND_VARIANCE
    assert classify(1e-12, 1e-12, 0.0) is Verdict.GOOD_FIT  # rounding noise, not a gap


def test_default_tolerance_is_two_points_of_error() -> None:
    assert DEFAULT_TOLERANCE == 0.02
    assert diagnose_errors(0.125, 0.125 + 0.015625, 0.125).verdict is Verdict.GOOD_FIT
    assert diagnose_errors(0.125, 0.125 + 0.03125, 0.125).verdict is Verdict.HIGH_VARIANCE


def test_gaps_equal_to_the_tolerance_up_to_rounding_are_not_high() -> None:
    assert 0.10 - 0.08 > 0.02  # what floating point says
    assert diagnose_errors(0.08, 0.10, baseline_error=0.06).verdict is Verdict.GOOD_FIT


def test_gaps_are_measured_from_the_baseline() -> None:
    result = diagnose_errors(train_error=0.25, dev_error=0.375, baseline_error=0.125, tolerance=TOL)
    assert (result.avoidable_bias, result.variance) == (0.125, 0.125)
    assert result.verdict is Verdict.GOOD_FIT
    assert result.baseline_error == 0.125
    assert diagnose_errors(0.25, 0.375, 0.0, TOL).verdict is Verdict.HIGH_BIAS


def test_recipe_examples() -> None:
    """The classic examples: 1% vs 11% is variance; 15% vs 16% is bias (human 0%)."""
    assert diagnose_errors(0.01, 0.11).verdict is Verdict.HIGH_VARIANCE
    assert diagnose_errors(0.15, 0.16).verdict is Verdict.HIGH_BIAS
    assert diagnose_errors(0.15, 0.30).verdict is Verdict.HIGH_BIAS_AND_VARIANCE
    assert diagnose_errors(0.005, 0.01).verdict is Verdict.GOOD_FIT
    assert diagnose_errors(0.08, 0.10, baseline_error=0.075).verdict is Verdict.GOOD_FIT


@given(
    train=st.floats(0, 1), dev=st.floats(0, 1), baseline=st.floats(0, 1), tol=st.floats(0, 1)
)
def test_verdict_agrees_with_the_gaps(
    train: float, dev: float, baseline: float, tol: float
) -> None:
    result = diagnose_errors(train, dev, baseline, tol)
    high_bias = result.verdict in (Verdict.HIGH_BIAS, Verdict.HIGH_BIAS_AND_VARIANCE)
    high_variance = result.verdict in (Verdict.HIGH_VARIANCE, Verdict.HIGH_BIAS_AND_VARIANCE)
    assert high_bias == (train - baseline - tol > ROUNDING)
    assert high_variance == (dev - train - tol > ROUNDING)
    assert result.recommendation and not result.reason


@pytest.mark.parametrize(
    ("train", "dev", "words"),
    [
        (None, 0.1, "no train error"),
        (0.1, None, "no dev error"),
        (None, None, "no train error; no dev error"),
        (math.nan, 0.1, "train error is nan (the run diverged)"),
        (0.1, math.inf, "dev error is inf"),
    ],
)
def test_missing_or_non_finite_errors_are_insufficient(
    train: float | None, dev: float | None, words: str
) -> None:
    result = diagnose_errors(train, dev)
    assert result.verdict is Verdict.INSUFFICIENT_DATA
    assert words in result.reason
    assert result.avoidable_bias is None and result.variance is None
    if train is None or dev is None:  # says what is missing, then how to fix it
        assert result.recommendation.startswith(words)
        assert "log train and dev metrics" in result.recommendation
    else:
        assert result.recommendation.startswith("lower the learning rate")


def test_caller_reason_forces_insufficient_data() -> None:
    result = diagnose_errors(0.1, 0.2, missing="has loss but no val_loss")
    assert result.verdict is Verdict.INSUFFICIENT_DATA
    assert result.reason == "has loss but no val_loss"


@pytest.mark.parametrize(
    ("baseline", "tolerance"), [(-0.01, 0.02), (0.0, -1e-9), (math.nan, 0.02), (0.0, math.inf)]
)
def test_bad_settings_are_refused(baseline: float, tolerance: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        check_settings(baseline, tolerance)
    with pytest.raises(ValueError):
        diagnose_errors(0.1, 0.1, baseline, tolerance)


def test_recommendations_follow_the_recipe() -> None:
    assert "bigger network" in recommend(Verdict.HIGH_BIAS)
    assert "less regularization" in recommend(Verdict.HIGH_BIAS)
    assert "more data" in recommend(Verdict.HIGH_VARIANCE)
    assert "stronger L2 or dropout" in recommend(Verdict.HIGH_VARIANCE)
    assert recommend(Verdict.HIGH_BIAS_AND_VARIANCE).startswith("bias first")
    assert recommend(Verdict.GOOD_FIT).startswith("good fit")


def test_curves_sharpen_the_bias_advice() -> None:
    falling = recommend(Verdict.HIGH_BIAS, CurveFindings(train_loss_falling=True))
    assert falling.startswith("train longer (train loss still falling)")
    assert falling.count("train longer") == 1
    flat = recommend(Verdict.HIGH_BIAS, CurveFindings(train_loss_falling=False))
    assert "train longer" not in flat and "bigger network" in flat
    both = recommend(Verdict.HIGH_BIAS_AND_VARIANCE, CurveFindings(train_loss_falling=True))
    assert both.startswith("train longer")


def test_variance_advice_names_the_best_epoch() -> None:
    past = CurveFindings(best_epoch=12, last_epoch=40)
    assert past.epochs_past_best == 28
    assert "dev was best at epoch 12 of 40" in recommend(Verdict.HIGH_VARIANCE, past)
    at_end = CurveFindings(best_epoch=40, last_epoch=40)
    assert "epoch" not in recommend(Verdict.HIGH_VARIANCE, at_end)


def test_diverged_runs_get_the_learning_rate_advice_first() -> None:
    diverged = CurveFindings(diverged=True)
    assert recommend(Verdict.HIGH_BIAS, diverged).startswith("lower the learning rate")
    assert recommend(Verdict.INSUFFICIENT_DATA, diverged) == (
        "lower the learning rate or clip gradients (the run diverged)"
    )
    assert "diverged" in diverged.notes()[0]


def test_read_curves_finds_the_best_dev_epoch() -> None:
    found = read_curves([1.0, 0.8, 0.7, 0.6, 0.5], [1.0, 0.7, 0.9, 0.95, 0.97])
    assert (found.best_epoch, found.last_epoch, found.epochs_past_best) == (2, 5, 3)
    assert "dev best at epoch 2 of 5" in found.notes()


@pytest.mark.parametrize(
    ("train", "falling"),
    [
        ([2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], False),  # flat over the last 5 epochs
        ([2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.99], False),  # exactly 1 % is not more than 1 %
        ([2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.989], True),
        ([1.0, 0.5, 0.25], True),  # short runs use the epochs they have
    ],
)
def test_train_loss_still_falling(train: list[float], falling: bool) -> None:
    assert read_curves(train).train_loss_falling is falling


def test_too_short_to_judge() -> None:
    found = read_curves([1.0, 0.5])
    assert found.train_loss_falling is None and not found.diverged
    assert read_curves([]).last_epoch is None


def test_divergence() -> None:
    assert read_curves([1.0, 2.0, 4.0]).diverged
    assert not read_curves([1.0, 2.0, 4.0]).train_loss_falling
    assert read_curves([1.0, 0.5, math.nan]).diverged
    assert read_curves([1.0, 0.5, 0.4], [1.0, math.inf, 0.9]).diverged
    assert not read_curves([1.0, 0.5, 1.0]).diverged  # back to the start is not worse


def test_curves_at_their_own_steps() -> None:
    found = read_curves([3.0, 2.0, 1.0], [3.0, 1.0], epochs=[0, 1, 2], dev_epochs=[0, 2])
    assert (found.best_epoch, found.last_epoch) == (2, 2)
