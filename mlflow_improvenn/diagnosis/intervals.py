"""How far sampling noise can move a measured error: confidence intervals from split sizes.

An error rate measured on ``n`` examples is a binomial proportion; its interval is Wilson's
score interval (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the normal
approximation for small ``n`` and rates near 0), from statsmodels' ``proportion_confint``.
The interval of a difference of two independent rates (dev minus train) is Newcombe's hybrid
score interval, method 10 of Newcombe (1998), "Interval estimation for the difference
between independent proportions", Statistics in Medicine 17: 873-890; it combines the two
Wilson intervals and stays inside [-1, 1].

For regression, the unexplained variance (mean squared error over the target's variance) is
taken as a scaled chi-square with ``n`` degrees of freedom (Gaussian residuals: the usual
interval for a variance), and the difference of two by the normal approximation with
variances ``2 u**2 / n``.

Every function takes arrays (or scalars) and works element-wise, so the report computes the
intervals of a thousand runs in one call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

DEFAULT_CONFIDENCE = 0.95

Interval = tuple[np.ndarray, np.ndarray]


def rate_interval(
    rate: ArrayLike, n: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> Interval:
    """Wilson interval of an error rate ``rate`` (in [0, 1]) measured on ``n`` examples.

    >>> low, high = rate_interval(0.03, 100)
    >>> round(float(low), 4), round(float(high), 4)
    (0.0103, 0.0845)
    """
    rate, n = np.asarray(rate, dtype=float), np.asarray(n, dtype=float)
    low, high = proportion_confint(np.round(rate * n), n, alpha=1 - confidence, method="wilson")
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def rate_difference_interval(
    dev: ArrayLike, n_dev: ArrayLike, train: ArrayLike, n_train: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Newcombe's interval of ``dev - train``, two error rates on ``n_dev`` and ``n_train``.

    >>> low, high = rate_difference_interval(0.08, 100, 0.05, 400)
    >>> bool(low < 0 < high)  # a 3-point gap on 100 dev rows: noise could explain it
    True
    >>> low, high = rate_difference_interval(0.08, 10_000, 0.05, 40_000)
    >>> bool(low > 0)  # on 10,000 dev rows it cannot
    True
    """
    dev, train = np.asarray(dev, dtype=float), np.asarray(train, dtype=float)
    dev_low, dev_high = rate_interval(dev, n_dev, confidence)
    train_low, train_high = rate_interval(train, n_train, confidence)
    gap = dev - train
    low = gap - np.sqrt((dev - dev_low) ** 2 + (train_high - train) ** 2)
    high = gap + np.sqrt((dev_high - dev) ** 2 + (train - train_low) ** 2)
    return low, high


def variance_ratio_interval(
    value: ArrayLike, n: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> Interval:
    """Interval of an unexplained variance ``value`` (MSE / Var(y)) measured on ``n`` rows.

    ``value * n / truth`` is taken as chi-square with ``n`` degrees of freedom.
    """
    value, n = np.asarray(value, dtype=float), np.asarray(n, dtype=float)
    alpha = 1 - confidence
    return value * n / stats.chi2.ppf(1 - alpha / 2, n), value * n / stats.chi2.ppf(alpha / 2, n)


def variance_ratio_difference_interval(
    dev: ArrayLike, n_dev: ArrayLike, train: ArrayLike, n_train: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Normal-approximation interval of ``dev - train``, two unexplained variances."""
    dev, train = np.asarray(dev, dtype=float), np.asarray(train, dtype=float)
    n_dev, n_train = np.asarray(n_dev, dtype=float), np.asarray(n_train, dtype=float)
    spread = np.sqrt(2 * dev**2 / n_dev + 2 * train**2 / n_train)
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return dev - train - z * spread, dev - train + z * spread
