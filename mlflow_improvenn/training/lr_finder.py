"""The learning-rate range test (Smith 2017, "Cyclical learning rates", section 3.3) and its
suggestion rule. No MLflow here: :mod:`mlflow_improvenn.runs.lr_find` logs it.

The test trains on mini-batches with the learning rate growing exponentially from
``start_lr`` to ``end_lr``, one step per batch, and records each batch's loss; it stops early
when the smoothed loss passes ``divergence`` times its minimum, or a loss is not finite. The
model's weights, the optimizer's state, the schedule and every random state are restored
afterwards, so training starts as if the test never ran (the finder must leave the model as
it was: OHDSI DeepPatientLevelPrediction #141).

The suggestion reads a smoothed curve: an exponential moving average with bias correction
(fastai's ``SmoothenValue``), started after a burn-in of ``burn_in`` steps, so an early spike
neither stops the test nor tricks the rule (Lightning #1767; the steepest point of the raw
curve is noise, pytorch-lr-finder #86). The rule is fastai's ``valley``: the middle of the
longest descending stretch of the smoothed curve (its longest decreasing subsequence, each
step at least :data:`VALLEY_STEP` of the first smoothed loss below the one before).
Its neighbours are reported too: the minimum's learning rate divided by 10 (fastai's
``minimum``) and the steepest descent of the smoothed curve against log(lr) (``steep``).
How close it lands is measured in docs/lr_table.md (scripts/lr_table.py): alone, within 10%
of the best of 7 rates around it in 10 set-ups of 15, off by up to a decade, either way, in
the rest; none of the other rules the README lists did better there. So a short race
between rates around the valley, judged on dev loss, follows the test
(:mod:`~mlflow_improvenn.training.lr_race`, ``race_epochs``; 0 leaves the valley).

>>> import numpy as np
>>> lrs = np.logspace(-6, 0, 60)
>>> losses = 1 + np.tanh(np.log10(lrs) + 3) * -0.5 + (lrs > 0.1) * 50 * lrs  # falls, then rises
>>> s = suggest(lrs, losses, RangeTestSettings(num_steps=60, burn_in=5, smoothing=0.5))
>>> 1e-4 < s.lr < 1e-2
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlflow_improvenn.training.loop import Trainer
from mlflow_improvenn.training.lr_race import RaceResult, race
from mlflow_improvenn.training.range_test import RangeTestSettings

#: A valley step must fall by this share of the first smoothed loss: a flat stretch whose
#: noise happens to wander downwards is not a valley (with fastai's 0, on a range test that
#: is flat over five decades, the valley's middle lands in the flat part).
VALLEY_STEP = 0.01
#: ``on_step(step, lr, loss)``: step from 0, its learning rate and raw loss.
OnStep = Callable[[int, float, float], None]


@dataclass(frozen=True)
class Suggestion:
    """The suggested learning rate (``valley``) and its neighbours (``min_div10``,
    ``steepest``); ``index`` is the step of the suggestion. NaN rates where the smoothed
    curve is too short to read."""

    lr: float
    min_div10: float
    steepest: float
    index: int


@dataclass(frozen=True)
class RangeTestResult:
    """Per-step learning rates, raw and smoothed losses (NaN during the burn-in), why the test
    ended (``completed``, ``diverged``, ``non_finite``), the valley and its neighbours, and
    the race around the valley (None when ``race_epochs`` is 0 or there is no valley)."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stop: str
    suggestion: Suggestion
    race: RaceResult | None = None

    @property
    def suggested_lr(self) -> float:
        """The rate to train with: the race's winner, else the valley (NaN when none)."""
        return self.race.lr if self.race is not None else self.suggestion.lr


def range_test(trainer: Trainer, settings: RangeTestSettings,
               on_step: OnStep | None = None) -> RangeTestResult:
    """Run the range test on ``trainer``'s model, optimizer and data, then the race around
    its valley (:func:`~mlflow_improvenn.training.lr_race.race`, ``settings.race_epochs``
    epochs a candidate), and restore them all.

    The optimizer is the run's own (its kind, momentum, betas and L2, its penalty too), and
    each batch steps through :meth:`Trainer.train_batch`, as training does. ``on_step``
    sees each step's index, learning rate and raw loss (for progress output).
    """
    with trainer.trial():
        lrs, losses, stop = _sweep(trainer, settings, on_step)
    smoothed = smooth(losses, settings.smoothing, settings.burn_in)
    suggestion = suggest(lrs, losses, settings)
    raced = None
    if settings.race_epochs > 0 and math.isfinite(suggestion.lr):
        raced = race(trainer, suggestion.lr, settings.race_epochs)
    return RangeTestResult(lrs, losses, smoothed, stop, suggestion, raced)


def _sweep(trainer: Trainer, settings: RangeTestSettings,
           on_step: OnStep | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Step through the exponential schedule; losses are read once per step (the test
    decides after each step whether to go on)."""
    trainer.model.train()
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    for step, batch in enumerate(_endless_batches(trainer)):
        if step == settings.num_steps:
            break
        lr = settings.lr_at(step)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        loss = float(trainer.train_batch(*batch)[0])
        lrs.append(lr)
        losses.append(loss)
        if on_step is not None:
            on_step(step, lr, loss)
        if not math.isfinite(loss):
            return np.array(lrs), np.array(losses), "non_finite"
        if step < settings.burn_in:
            continue
        average = settings.smoothing * average + (1 - settings.smoothing) * loss
        value = average / (1 - settings.smoothing ** (step - settings.burn_in + 1))
        best = min(best, value)
        if value > settings.divergence * best:
            return np.array(lrs), np.array(losses), "diverged"
    return np.array(lrs), np.array(losses), "completed"


def _endless_batches(trainer: Trainer):
    """Shuffled mini-batches of the train split, epoch after epoch, as training draws them."""
    train = trainer.splits["train"]
    while True:
        yield from train.train_batches(trainer.generator, trainer.config.batch_size)


def smooth(losses: np.ndarray, beta: float, burn_in: int) -> np.ndarray:
    """Bias-corrected exponential moving average of ``losses`` from step ``burn_in`` on
    (NaN before): ``avg_t = beta avg_{t-1} + (1 - beta) loss_t``, divided by ``1 - beta^k``
    after ``k`` steps, so the first value is the first loss itself.

    >>> np.round(smooth(np.array([9.0, 1.0, 3.0]), 0.5, 1), 4).tolist()
    [nan, 1.0, 2.3333]
    """
    smoothed = np.full(len(losses), np.nan)
    average = 0.0
    for k, index in enumerate(range(burn_in, len(losses)), start=1):
        average = beta * average + (1 - beta) * losses[index]
        smoothed[index] = average / (1 - beta**k)
    return smoothed


def suggest(lrs: np.ndarray, losses: np.ndarray, settings: RangeTestSettings) -> Suggestion:
    """The valley rule on the smoothed curve after the burn-in, and its two neighbours."""
    curve = smooth(np.asarray(losses, dtype=float), settings.smoothing, settings.burn_in)
    known = np.flatnonzero(np.isfinite(curve))
    if len(known) < 3:
        return Suggestion(math.nan, math.nan, math.nan, -1)
    values, rates = curve[known], np.asarray(lrs, dtype=float)[known]
    chain = longest_descent(values, VALLEY_STEP * abs(values[0]))
    middle = int(chain[len(chain) // 2])
    slopes = np.gradient(values, np.log(rates))
    return Suggestion(
        lr=float(rates[middle]),
        min_div10=float(rates[int(np.argmin(values))] / 10),
        steepest=float(rates[int(np.argmin(slopes))]),
        index=int(known[middle]),
    )


def longest_descent(values: np.ndarray, step: float = 0.0) -> np.ndarray:
    """Indices of the longest decreasing subsequence of ``values`` whose every element is more
    than ``step`` below the one before (fastai's ``valley`` has ``step`` 0; the earliest one
    on a tie). O(n^2), for the few hundred steps of a range test.

    >>> longest_descent(np.array([3.0, 5.0, 4.0, 3.0, 2.0, 6.0, 1.0])).tolist()
    [1, 2, 3, 4, 6]
    >>> longest_descent(np.array([1.0, 0.999, 0.998, 0.997, 0.9, 0.8, 0.7]), step=0.01).tolist()
    [0, 4, 5, 6]
    """
    n = len(values)
    length = np.ones(n, dtype=int)
    before = np.full(n, -1)
    for i in range(1, n):
        above = np.flatnonzero(values[:i] > values[i] + step)
        if len(above):
            best = above[np.argmax(length[above])]
            length[i], before[i] = length[best] + 1, best
    chain = [int(np.argmax(length))]
    while before[chain[-1]] >= 0:
        chain.append(int(before[chain[-1]]))
    return np.array(chain[::-1])
