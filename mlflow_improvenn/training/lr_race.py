"""The range test's second stage: a short race between learning rates around the valley,
judged on dev loss, the quantity a learning rate is finally judged by.

The range test reads the training loss of some hundred mini-batches while the rate grows;
training is judged by the dev loss after many epochs at one rate, and the two disagree by
up to a decade either way (docs/lr_table.md). So, as Smith's range test read accuracy over
epochs ("Cyclical learning rates for training neural networks", 2017, section 3.3, whose
test runs several epochs), and as successive halving compares configurations on a small
budget before training the best (Jamieson and Talwalkar, "Non-stochastic best arm
identification and hyperparameter optimization", 2016), each candidate, the valley times
each of :data:`RACE_FACTORS`, trains ``epochs`` epochs from the same weights, optimizer state
and batches, and the lowest best dev loss wins. A short race can favour the wrong rate
(Wu et al., "Understanding short-horizon bias in stochastic meta-optimization", 2018): how
often it helps is measured in docs/lr_table.md. Everything is restored afterwards, as by the
range test (:meth:`~mlflow_improvenn.training.loop.Trainer.trial`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlflow_improvenn.training.loop import Trainer, evaluate

#: The candidates: the valley times these, half a decade apart (the step of the grid that
#: docs/lr_table.md checks against); the valley itself is the one at 1.
RACE_FACTORS = (0.1, 10**-0.5, 1.0, 10**0.5, 10.0)
#: Another candidate beats the valley only by more than this share of dev loss: a near tie is
#: noise, and then the range test's own rule stands.
RACE_MARGIN = 0.02


@dataclass(frozen=True)
class RaceResult:
    """Each candidate's learning rate and its best dev loss within ``epochs`` epochs (infinite
    where a loss turned non-finite); ``winner`` indexes the suggested one."""

    lrs: np.ndarray
    dev_losses: np.ndarray
    winner: int
    epochs: int

    @property
    def lr(self) -> float:
        return float(self.lrs[self.winner])


def race(trainer: Trainer, valley: float, epochs: int) -> RaceResult:
    """Train each candidate around ``valley`` for ``epochs`` epochs at a constant rate (no
    schedule, no early stopping) and pick the winner (:func:`pick`); ``trainer`` is left as
    it was."""
    lrs = valley * np.asarray(RACE_FACTORS)
    losses = np.array([_best_dev_loss(trainer, float(lr), epochs) for lr in lrs])
    return RaceResult(lrs, losses, pick(losses, RACE_FACTORS.index(1.0)), epochs)


def _best_dev_loss(trainer: Trainer, lr: float, epochs: int) -> float:
    with trainer.trial():
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        best = math.inf
        for _ in range(epochs):
            train_loss, _ = trainer.train_epoch()
            dev_loss, _ = evaluate(trainer.model, trainer.splits["dev"], trainer.objective)
            if not (math.isfinite(train_loss) and math.isfinite(dev_loss)):
                return math.inf  # a rate that diverges is out, whatever it reached before
            best = min(best, dev_loss)
        return best


def pick(dev_losses: np.ndarray, preferred: int, margin: float = RACE_MARGIN) -> int:
    """The index of the lowest dev loss, but ``preferred`` unless that is more than
    ``margin`` (a share) below it.

    >>> pick(np.array([0.5, 0.295, 0.3, 0.6]), preferred=2)
    2
    >>> pick(np.array([0.5, 0.2, 0.3, np.inf]), preferred=2)
    1
    >>> pick(np.array([np.inf, np.inf, np.inf]), preferred=1)
    1
    """
    best = int(np.argmin(dev_losses))
    return preferred if dev_losses[preferred] <= dev_losses[best] * (1 + margin) else best
