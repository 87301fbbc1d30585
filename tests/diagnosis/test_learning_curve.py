"""The data-size learning curve's verdict on planted curves."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_improvenn.diagnosis.learning_curve import DataVerdict, read_data_curve
from mlflow_improvenn.diagnosis.verdicts import Scale

ROWS = [100, 200, 400, 700, 1000]


def test_a_falling_dev_curve_far_above_train_says_more_data_will_help() -> None:
    dev = 0.02 + 0.8 * np.array(ROWS) ** -0.5
    found = read_data_curve(ROWS, [0.0] * 5, dev, n_dev=2000, baseline=0.02)
    assert found.verdict is DataVerdict.WILL_HELP
    assert found.exponent == pytest.approx(0.5) and found.last_slope < 0
    at_2x, at_10x = found.extrapolations
    assert (at_2x.n_train, at_10x.n_train) == (2000, 10000)
    assert at_2x.dev == pytest.approx(0.02 + 0.8 * 2000**-0.5)  # an exact power law
    assert at_10x.low <= at_10x.dev <= at_10x.high


def test_curves_that_met_above_the_baseline_say_it_will_not_help() -> None:
    found = read_data_curve(ROWS, [0.40, 0.42, 0.43, 0.43, 0.44], [0.47, 0.45, 0.45, 0.44, 0.45],
                            n_dev=500, baseline=0.05)
    assert found.verdict is DataVerdict.WILL_NOT_HELP and "high bias" in found.reason


def test_a_high_gap_whose_dev_error_stopped_falling_will_not_be_closed_by_data() -> None:
    found = read_data_curve(ROWS, [0.0] * 5, [0.30, 0.22, 0.20, 0.21, 0.22], n_dev=2000)
    assert found.verdict is DataVerdict.WILL_NOT_HELP and "stopped falling" in found.reason
    assert found.exponent_interval[0] < 0 < found.exponent_interval[1]


def test_one_noisy_last_point_does_not_end_a_falling_trend() -> None:
    """Digits at 60 epochs: the last share's dev error is 2 examples of 539 above the one
    before, inside its noise; the curve as a whole still falls."""
    found = read_data_curve([90, 180, 360, 629, 899], [0.0] * 5,
                            [0.1317, 0.0798, 0.0464, 0.0278, 0.0315], n_dev=539)
    assert found.last_slope > 0 and found.verdict is DataVerdict.WILL_HELP


def test_a_dev_error_that_rose_beyond_noise_will_not_be_lowered_by_data() -> None:
    found = read_data_curve(ROWS, [0.0] * 5, [0.30, 0.20, 0.15, 0.10, 0.16], n_dev=5000)
    assert found.verdict is DataVerdict.WILL_NOT_HELP and "rose" in found.reason


def test_a_gap_within_the_noise_of_a_small_dev_split_is_inconclusive() -> None:
    found = read_data_curve(ROWS, [0.02] * 5, [0.12, 0.10, 0.09, 0.08, 0.07], n_dev=30)
    assert found.verdict is DataVerdict.INCONCLUSIVE and "noise" in found.reason


def test_regression_reads_unexplained_variance() -> None:
    found = read_data_curve(ROWS, [0.1] * 5, [0.9, 0.7, 0.5, 0.4, 0.35], n_dev=300,
                            scale=Scale.UNEXPLAINED_VARIANCE)
    assert found.verdict is DataVerdict.WILL_HELP
    assert found.points[-1].variance.low > 0


@pytest.mark.parametrize(("rows", "message"), [
    ([100, 200], "at least 3 points"),
    ([100, 100, 200], "must grow"),
])
def test_too_few_or_unordered_points_are_refused(rows: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_data_curve(rows, [0.1] * len(rows), [0.2] * len(rows), n_dev=100)


def test_an_error_rates_extrapolation_never_passes_one() -> None:
    """Seen: 'dev 0.0782 [0.0300, 86.1677]' at 2x the rows of a three-point moons curve."""
    found = read_data_curve([100, 200, 400], [0.1, 0.1, 0.1], [0.5, 0.1, 0.3], n_dev=80)
    assert all(point.high <= 1 and point.dev <= 1 for point in found.extrapolations)
