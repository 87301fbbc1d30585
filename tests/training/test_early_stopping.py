"""The stopping decision, pure: strict improvement, min_delta, patience, non-finite values."""

from __future__ import annotations

import math

from mlflow_improvenn.training.early_stopping import EarlyStopping


def feed(stopper: EarlyStopping, values: list[float]) -> int | None:
    """The epoch at which ``stopper`` says stop, or None."""
    for epoch, value in enumerate(values, start=1):
        if stopper.update(epoch, value):
            return epoch
    return None


def test_stops_patience_epochs_after_the_best() -> None:
    stopper = EarlyStopping(patience=3)
    stopped = feed(stopper, [1.0, 0.8, 0.9, 0.85, 0.95, 0.7])
    assert (stopper.best_epoch_, stopped) == (2, 5)
    assert stopped - stopper.best_epoch_ == 3


def test_equal_value_is_not_an_improvement() -> None:
    stopper = EarlyStopping(patience=2)
    assert feed(stopper, [1.0, 1.0, 1.0]) == 3
    assert stopper.best_epoch_ == 1


def test_min_delta_requires_a_larger_drop() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    feed(stopper, [1.0, 0.95, 0.85])
    assert stopper.best_epoch_ == 3  # 0.95 is within min_delta of 1.0; 0.85 is not


def test_patience_zero_never_stops_but_tracks_the_best() -> None:
    stopper = EarlyStopping(patience=0)
    assert feed(stopper, [1.0, 0.5, 0.9, 0.9, 0.9, 0.9]) is None
    assert stopper.best_epoch_ == 2


def test_non_finite_values_never_become_the_best() -> None:
    stopper = EarlyStopping(patience=5)
    feed(stopper, [1.0, math.nan, math.inf, -math.inf])
    assert (stopper.best_epoch_, stopper.best_value_) == (1, 1.0)


def test_max_mode_looks_for_increases() -> None:
    stopper = EarlyStopping(patience=1, mode="max")
    assert feed(stopper, [0.1, 0.5, 0.4]) == 3
    assert stopper.best_epoch_ == 2


def test_state_round_trip_continues_the_same_count() -> None:
    first = EarlyStopping(patience=3)
    feed(first, [1.0, 0.5, 0.6])
    resumed = EarlyStopping(patience=3)
    resumed.load_state_dict(first.state_dict())
    assert resumed.update(4, 0.7) is False
    assert resumed.update(5, 0.7) is True
