"""The data and the three set-ups every peer tool is run in, and how to tell a run landed.

Two tasks whose Bayes error is known, so that "high bias" is measured against the truth:

- ``moons``: scikit-learn's two moons, ``noise=0.2``. Its Bayes error, 0.029, comes from
  the Bayes rule (the class whose arc, smeared by the Gaussian noise, is likelier at x),
  averaged by :func:`bayes_error_moons` over 200,000 points; each split also records the Bayes
  rule's error on its own rows, since a finite split is a little easier or harder. The
  over-fit set-up appends ``nuisance`` standard-normal features: they carry nothing about the
  label, so the Bayes error stays 0.029, but a big net on few rows fits them too (on the two
  moon features alone even 12 rows generalise to about 6 % error: a gap too small to be sure).
- ``tokens``: sequences of 10 tokens; the clean label says whether keyword token 4 or 5
  appears, and exactly 5 % of the labels are flipped, so the Bayes error is 0.05 on every
  split (the clean rule errs exactly on the flipped rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from sklearn.datasets import make_moons

SetupName = Literal["under_fit", "over_fit", "good_fit"]
EXPECTED = {"under_fit": "high_bias", "over_fit": "high_variance", "good_fit": "good_fit"}
MOONS_NOISE = 0.2
BAYES_ERROR_MOONS = 0.029
TOKEN_FLIP_RATE = 0.05
TOKEN_VOCAB, TOKEN_LENGTH, TOKEN_KEYWORDS = 32, 10, (4, 5)
CLS_TOKEN, FIRST_CONTENT_TOKEN = 1, 4
TRAIN_SEED, DEV_SEED = 1, 3  # seeds whose 2000-row moons splits sit at the Bayes error
#: A set-up lands when its gaps clear these (absolute error units): a high gap at least
#: LARGE, a small one at most SMALL. With 2000 dev rows at 3 % error the standard error of
#: a train/dev difference is about 0.5 points, so 5 points is beyond noise and 1.5 within it.
LARGE, SMALL = 0.05, 0.015


@dataclass(frozen=True)
class Setup:
    """One set-up: how much data, which model size, how long to train."""

    name: SetupName
    n_train: int
    n_dev: int
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    nuisance: int = 0  # label-free features appended to the moons

    @property
    def expected(self) -> str:
        return EXPECTED[self.name]

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)


@dataclass(frozen=True)
class Split:
    """Train and dev rows, with the task's Bayes error and the Bayes rule's error per split."""

    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    baseline_error: float
    bayes_rule_error: dict[str, float]


@dataclass(frozen=True)
class PeerRun:
    """A finished run of a tool and the errors measured by predicting with its model."""

    run_id: str
    train_error: float
    dev_error: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """One way of using a tool: the set-ups it runs in and how to make one run."""

    tool: str
    name: str
    setups: dict[str, Setup]
    data: Callable[[Setup], Split]
    make: Callable[[Setup, Split], PeerRun]
    #: The smallest run that still logs every metric key (for the live tests).
    tiny: Setup

    def run(self, setup: Setup) -> tuple[Split, PeerRun]:
        split = self.data(setup)
        return split, self.make(setup, split)


#: The set-ups of the neural-net tools on moons (Lightning, skorch, Keras, plain PyTorch):
#: a linear model cannot bend round the moons (about 13 % error against 2.9 %); 256x256 on
#: 40 rows with 8 nuisance features memorises them; 32x32 on 2000 rows reaches the Bayes error.
MOONS_SETUPS: dict[str, Setup] = {
    "under_fit": Setup("under_fit", 2000, 2000, (), epochs=10, batch_size=128, lr=0.05),
    "over_fit": Setup("over_fit", 40, 2000, (256, 256), epochs=60, batch_size=40, lr=0.01,
                      nuisance=8),
    "good_fit": Setup("good_fit", 2000, 2000, (32, 32), epochs=20, batch_size=128, lr=0.01),
}
#: A set-up small enough for a live test of a tool's metric names (not of its verdict).
TINY = Setup("good_fit", 64, 64, (8,), epochs=2, batch_size=16, lr=0.01)


def moons(setup: Setup) -> Split:
    """Moons rows for ``setup``: float32 features (n, 2 + nuisance), int64 labels (n,)."""
    return _moons(setup.n_train, setup.n_dev, setup.nuisance)


@lru_cache
def _moons(n_train: int, n_dev: int, nuisance: int) -> Split:
    x_train, y_train = _moons_rows(n_train, nuisance, TRAIN_SEED)
    x_dev, y_dev = _moons_rows(n_dev, nuisance, DEV_SEED)
    errors = {"train": _moons_bayes_rule_error(x_train[:, :2], y_train),
              "dev": _moons_bayes_rule_error(x_dev[:, :2], y_dev)}
    task = f"moons(noise={MOONS_NOISE})" + (f" + {nuisance} nuisance features" if nuisance else "")
    return Split(task, x_train, y_train, x_dev, y_dev, BAYES_ERROR_MOONS, errors)


def _moons_rows(n: int, nuisance: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_moons(n, noise=MOONS_NOISE, random_state=seed)
    extra = np.random.default_rng(seed).standard_normal((n, nuisance))
    return np.concatenate([x, extra], axis=1).astype(np.float32), y.astype(np.int64)


def tokens(setup: Setup) -> Split:
    """Token-task rows: ids (n, 11) starting with the CLS token, labels (n,)."""
    x_train, y_train = _token_rows(setup.n_train, TRAIN_SEED)
    x_dev, y_dev = _token_rows(setup.n_dev, DEV_SEED)
    task = f"tokens(any of {TOKEN_KEYWORDS} in {TOKEN_LENGTH}, {TOKEN_FLIP_RATE:.0%} flipped)"
    errors = {"train": _flipped_count(setup.n_train) / setup.n_train,
              "dev": _flipped_count(setup.n_dev) / setup.n_dev}
    return Split(task, x_train, y_train, x_dev, y_dev, TOKEN_FLIP_RATE, errors)


def error_rate(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted).reshape(-1) != labels))


def misses(setup: Setup, baseline: float, train_error: float, dev_error: float) -> list[str]:
    """Why a run did not land where its set-up meant it to (empty when it did)."""
    bias, gap = train_error - baseline, dev_error - train_error
    wanted = {
        "under_fit": [(bias >= LARGE, "avoidable bias"), (abs(gap) <= SMALL, "small gap")],
        "over_fit": [(bias <= SMALL, "train error near the baseline"), (gap >= LARGE, "gap")],
        "good_fit": [(bias <= SMALL, "train error near the baseline"),
                     (abs(gap) <= SMALL, "small gap")],
    }[setup.name]
    return [f"{setup.name}: no {what} (bias {bias:+.3f}, gap {gap:+.3f})"
            for ok, what in wanted if not ok]


def bayes_error_moons(n: int = 200_000, noise: float = MOONS_NOISE, seed: int = 0) -> float:
    """The moons' Bayes error: the mean over x of the smaller class posterior."""
    x, _ = make_moons(n, noise=noise, random_state=seed)
    outer, inner = _moons_likelihoods(x, noise)
    return float(np.mean(np.minimum(outer, inner) / (outer + inner)))


def _moons_bayes_rule_error(x: np.ndarray, y: np.ndarray) -> float:
    outer, inner = _moons_likelihoods(x, MOONS_NOISE)
    return error_rate((inner > outer).astype(int), y)


def _moons_likelihoods(x: np.ndarray, noise: float, points: int = 500,
                       chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """p(x | class) up to a shared factor: Gaussian noise around a uniform point of each arc."""
    t = np.linspace(0.0, np.pi, points)
    arcs = (np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    likelihoods = []
    for arc in arcs:
        parts = [np.exp(-((x[i:i + chunk, None, :] - arc[None]) ** 2).sum(-1) / (2 * noise**2))
                 .mean(1) for i in range(0, len(x), chunk)]
        likelihoods.append(np.concatenate(parts))
    return likelihoods[0], likelihoods[1]


def _token_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    content = rng.integers(FIRST_CONTENT_TOKEN, TOKEN_VOCAB, (n, TOKEN_LENGTH))
    labels = np.isin(content, TOKEN_KEYWORDS).any(axis=1).astype(np.int64)
    flipped = rng.choice(n, _flipped_count(n), replace=False)
    labels[flipped] = 1 - labels[flipped]
    ids = np.concatenate([np.full((n, 1), CLS_TOKEN), content], axis=1)
    return ids.astype(np.int64), labels


def _flipped_count(n: int) -> int:
    return round(TOKEN_FLIP_RATE * n)
