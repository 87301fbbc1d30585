"""The race after the range test: each candidate trains from the same start, the lowest dev
loss wins (the valley on a near tie), and everything is left as it was."""

from __future__ import annotations

import math

import numpy as np

from mlflow_improvenn.training.loop import evaluate
from mlflow_improvenn.training.lr_race import RACE_FACTORS, RACE_MARGIN, pick, race
from tests.training.test_lr_finder import same, trainer


def best_dev_loss_alone(lr: float, epochs: int) -> float:
    """A fresh trainer at ``lr`` for ``epochs`` epochs, as if the race ran this one only."""
    alone = trainer()
    for group in alone.optimizer.param_groups:
        group["lr"] = lr
    losses = []
    for _ in range(epochs):
        alone.train_epoch()
        losses.append(evaluate(alone.model, alone.splits["dev"], alone.objective)[0])
    return min(losses)


def test_a_valley_far_too_low_loses_to_the_highest_candidate() -> None:
    """Planted: Adam at 1e-3 on 120 rows (two batches an epoch) has barely begun after 5
    epochs, so ten times more must win."""
    raced = trainer()
    before = raced.checkpoint(0)
    result = race(raced, 1e-3, epochs=5)
    assert same(raced.checkpoint(0), before)  # weights, optimizer, random states
    assert np.allclose(result.lrs, 1e-3 * np.asarray(RACE_FACTORS))
    assert result.winner == len(RACE_FACTORS) - 1 and math.isclose(result.lr, 1e-2)
    assert np.all(np.diff(result.dev_losses) < 0)  # the faster, the lower, this far down


def test_every_candidate_starts_from_the_same_weights_and_batches() -> None:
    result = race(trainer(), 0.01, epochs=2)
    for lr, loss in zip(result.lrs, result.dev_losses, strict=True):
        assert loss == best_dev_loss_alone(float(lr), 2)
    lowest = int(np.argmin(result.dev_losses))
    valley = RACE_FACTORS.index(1.0)
    assert result.winner in (lowest, valley)
    if result.winner == valley:
        assert result.dev_losses[valley] <= result.dev_losses[lowest] * (1 + RACE_MARGIN)


def test_a_diverging_candidate_is_out_and_a_near_tie_keeps_the_valley() -> None:
    assert pick(np.array([0.30, 0.40, 0.302, np.inf, np.inf]), preferred=2) == 2
    assert pick(np.array([0.20, 0.40, 0.302, np.inf, np.inf]), preferred=2) == 0
    result = race(trainer(optimizer="sgd"), 1e30, epochs=1)  # float32 overflows at once
    assert np.all(np.isinf(result.dev_losses)) and result.winner == RACE_FACTORS.index(1.0)
