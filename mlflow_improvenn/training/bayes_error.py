"""The Bayes error of the generated data sets, computed from their generators.

The Bayes error is the error of the best possible classifier, the baseline against which
avoidable bias is measured. For the four generated sets it follows from the generator
itself: every class has a known density, so the exact posterior ``P(class | x)`` is known and
the Bayes error is ``E[1 - max_k P(k | x)]`` over the points the generator draws. The priors
are equal (the generators give the classes equal shares) and the densities are those of the
generators as :mod:`~mlflow_improvenn.training.data` calls them, ``noise`` being ``sigma``:

- ``moons`` (scikit-learn's ``make_moons``): class 0 on the upper half of the unit circle,
  class 1 on the lower half of the unit circle around (1, 0.5), positions evenly spread over
  the arc (``linspace``; uniform in the limit of many points), plus isotropic Gaussian noise.
  The density is the Gaussian averaged along the arc, by Gauss-Legendre quadrature.
- ``circles`` (``make_circles``, ``factor=0.5``): rings of radius 1 and 0.5, evenly spread,
  plus isotropic noise. Averaged over the whole ring the Gaussian has a closed form,
  ``exp(-(rho - r)**2 / (2 sigma**2)) * ive(0, rho r / sigma**2)`` up to a common factor.
- ``spiral``: radius uniform on [0, 1], angle ``2 pi k / 3 + 4 radius`` plus normal noise.
  The radius is observed exactly, so the class-conditional density is a wrapped normal of
  the observed angle around the arm's angle at that radius.
- ``planar``: flower angle ``a = 3.12 (k + uniform) + noise``, radius ``4 sin(4 a) + noise``.
  A point ``x`` is reached from every angle ``theta + m pi`` (the radius negative for odd
  ``m``), so its density sums over those branches: the angle's density (a uniform smoothed
  by the noise: a difference of normal CDFs) times the radius's normal density.

The common factors (the Jacobian of polar coordinates, the uniform density of the radius)
cancel in the posterior and are left out.

The expectation is estimated by randomised quasi-Monte Carlo: the generator's random numbers
(position, normal noise) are taken from a scrambled Sobol set of ``2**LOG2_POINTS`` points
(torch's ``SobolEngine``: linear matrix scrambling and a digital shift), the same set for
every class, and ``1 - max_k P(k|x)`` is averaged over the points. :data:`REPLICATES`
independent scrambles from the fixed :data:`SEED` (so the result is deterministic) give as
many unbiased means: the estimate is their average and its standard error their standard
deviation over ``sqrt(REPLICATES)`` (over 24 seeds the estimates spread as much as that).
For the same cost that error is 2 to 10 times smaller than plain Monte Carlo's (moons at
noise 0.5: 0.0001 against 0.0008). At ``noise=0`` the classes lie on curves that meet at most
in a point, so the Bayes error is exactly 0 and that is returned, with standard error 0.

Results are cached per (data set, noise) in the process and in a small JSON file in the
user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``mlflow-improvenn``); a cache
that cannot be read or written is ignored.

The tests hold the results to the product owner's reference values for moons (equal priors,
as generated; noise 0.1, 0.2, 0.3, 0.5 give 0.001, 0.030, 0.085, 0.175, which a fine grid
integration puts at about 0.0006, 0.029, 0.0855, 0.1767: they hold to 0.002), to the error of
the argmax-posterior classifier on fresh points of the real generators, to a grid
integration for circles and to the closed form of spiral's (the angle noise leaving the arc
of ``2 pi / 3`` around the arm: ``P(|wrapped noise| > pi / 3)``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from mlflow_improvenn.training import data

#: Randomised quasi-Monte Carlo: REPLICATES independently scrambled Sobol sets of
#: 2**LOG2_POINTS points per class, seeded from SEED.
LOG2_POINTS = 11
REPLICATES = 8
SEED = 20240611
#: Bump when the estimator changes, so that cached values computed the old way are ignored.
ESTIMATOR_VERSION = 1
_CACHE_FILE = "bayes_error.json"
_NODES_PER_PANEL = 8
_MAX_PANELS = 32
_ROWS_PER_BLOCK = 8192


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate of a Bayes error (a probability) and its standard error."""

    value: float
    standard_error: float


@dataclass(frozen=True)
class _Arc:
    """Points ``center + radius (cos s, sin s)``, ``s`` uniform on [start, stop]."""

    center: tuple[float, float]
    radius: float
    start: float
    stop: float

    @property
    def is_full_circle(self) -> bool:
        return math.isclose(self.stop - self.start, 2 * math.pi)

    def points(self, uniforms: np.ndarray, noise: float) -> np.ndarray:
        """Noisy points (n, 2) from uniforms (n, 3): position along the arc, noise in x, y."""
        angle = self.start + uniforms[:, 0] * (self.stop - self.start)
        exact = self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return np.asarray(self.center) + exact + noise * special.ndtri(uniforms[:, 1:])


_ARCS = {
    "moons": (_Arc((0.0, 0.0), 1.0, 0.0, math.pi), _Arc((1.0, 0.5), 1.0, math.pi, 2 * math.pi)),
    "circles": (_Arc((0.0, 0.0), 1.0, 0.0, 2 * math.pi),
                _Arc((0.0, 0.0), data.CIRCLES_FACTOR, 0.0, 2 * math.pi)),
}
#: Classes and random numbers per point of each generator.
_SHAPES = {"moons": (2, 3), "circles": (2, 3), "spiral": (data.SPIRAL_ARMS, 2), "planar": (2, 3)}
_memory: dict[tuple[str, float], Estimate] = {}


def bayes_error(dataset: str, noise: float) -> float | None:
    """The Bayes error (a probability in [0, 1)) of the generated set ``dataset`` at
    ``noise``, or None for a data set without a known generator.

    Raises:
        ValueError: ``noise`` is negative, NaN or infinite.

    >>> bayes_error("circles", 0.0), bayes_error("digits", 0.2)
    (0.0, None)
    """
    estimate = bayes_error_estimate(dataset, noise)
    return None if estimate is None else estimate.value


def bayes_error_estimate(dataset: str, noise: float) -> Estimate | None:
    """:func:`bayes_error` with its Monte Carlo standard error; cached in the process and on
    disk, so that only the first call for a (data set, noise) pair does the work."""
    noise = _checked_noise(noise)
    if dataset not in data.GENERATED:
        return None
    if noise == 0.0:
        return Estimate(0.0, 0.0)
    key = (dataset, noise)
    if key not in _memory:
        _memory[key] = _from_disk_or_computed(dataset, noise)
    return _memory[key]


def posteriors(dataset: str, noise: float, x: np.ndarray) -> np.ndarray:
    """The exact ``P(class | x)`` of the generated set ``dataset`` at ``noise > 0``, for
    points ``x`` of shape (n, 2): an array of shape (n, n_classes) whose rows sum to 1.

    Raises:
        ValueError: ``noise`` is not a finite number above 0, or ``dataset`` is not generated.
    """
    sigma = _checked_noise(noise)
    if sigma == 0.0 or dataset not in data.GENERATED:
        raise ValueError(f"posteriors need a generated data set and noise > 0, "
                         f"got {dataset!r} at noise {noise!r}")
    return special.softmax(_log_densities(dataset, sigma, np.asarray(x, dtype=float)), axis=1)


def cache_file() -> Path:
    """Where the computed Bayes errors are kept between processes."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    folder = Path(root) if os.path.isabs(root) else Path.home() / ".cache"
    return folder / "mlflow-improvenn" / _CACHE_FILE


def _checked_noise(noise: float) -> float:
    value = float(noise)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return value


def _estimate(dataset: str, noise: float) -> Estimate:
    """The mean of ``1 - max_k P(k | x)`` over each replicate's points, and the spread of
    the replicate means (independent scrambles: an unbiased variance estimate)."""
    means = [_error_probabilities(_log_densities(dataset, noise, x)).mean()
             for x in _replicates(dataset, noise)]
    spread = np.std(means, ddof=1) / math.sqrt(len(means))
    return Estimate(float(np.mean(means)), float(spread))


def _replicates(dataset: str, noise: float) -> Iterator[np.ndarray]:
    """Points (n_classes * 2**LOG2_POINTS, 2) of the generator's distribution, the classes in
    equal shares, from one scrambled Sobol set per replicate."""
    import torch  # loaded by every training run; scipy.stats would take a second to import

    n_classes, dimensions = _SHAPES[dataset]
    for replicate in range(REPLICATES):
        sobol = torch.quasirandom.SobolEngine(dimensions, scramble=True, seed=SEED + replicate)
        drawn = sobol.draw(2**LOG2_POINTS, dtype=torch.float64).numpy()
        uniforms = np.clip(drawn, 2.0**-53, 1 - 2.0**-53)  # ndtri(0) is -inf
        yield _points(dataset, np.repeat(np.arange(n_classes), len(uniforms)),
                      np.tile(uniforms, (n_classes, 1)), noise)


def _points(dataset: str, labels: np.ndarray, uniforms: np.ndarray, noise: float) -> np.ndarray:
    """The generator's points (n, 2) for labels (n,) and its random numbers as uniforms."""
    if dataset in _ARCS:
        arcs = _ARCS[dataset]
        return np.concatenate([arcs[k].points(uniforms[labels == k], noise)
                               for k in range(len(arcs))])
    normals = noise * special.ndtri(uniforms[:, 1:])
    if dataset == "spiral":
        return data.spiral_points(labels, uniforms[:, 0], normals[:, 0])
    return data.planar_points(labels, uniforms[:, 0], normals[:, 0], normals[:, 1])


def _error_probabilities(logs: np.ndarray) -> np.ndarray:
    """``1 - max_k P(k | x)`` per row of log densities (n, n_classes), computed as
    ``s / (1 + s)`` with ``s`` the other classes' odds so that tiny errors keep their
    digits."""
    relative = np.exp(logs - logs.max(axis=1, keepdims=True))
    relative[np.arange(len(logs)), logs.argmax(axis=1)] = 0.0
    odds = relative.sum(axis=1)
    return odds / (1.0 + odds)


def _log_densities(dataset: str, noise: float, x: np.ndarray) -> np.ndarray:
    """Log class-conditional densities at ``x`` (n, 2), up to a term common to the classes:
    shape (n, n_classes). Computed in blocks of rows to bound the memory used."""
    blocks = np.array_split(x, max(1, math.ceil(len(x) / _ROWS_PER_BLOCK)))
    return np.concatenate([_block_log_densities(dataset, noise, block) for block in blocks])


def _block_log_densities(dataset: str, noise: float, x: np.ndarray) -> np.ndarray:
    if dataset in _ARCS:
        return np.stack([_log_arc_density(arc, noise, x) for arc in _ARCS[dataset]], axis=1)
    radius, angle = _polar(x)
    if dataset == "spiral":
        return _spiral_log_densities(radius, angle, noise)
    return _planar_log_densities(radius, angle, noise)


def _polar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radius and angle as the generators use them: ``x = radius (sin angle, cos angle)``."""
    return np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 0], x[:, 1])


def _log_arc_density(arc: _Arc, noise: float, x: np.ndarray) -> np.ndarray:
    """Log of the Gaussian kernel averaged along ``arc``: in closed form for a full circle
    (von Mises normaliser, Bessel I0), else by Gauss-Legendre quadrature."""
    offset = x - np.asarray(arc.center)
    if arc.is_full_circle:
        rho = np.hypot(offset[:, 0], offset[:, 1])
        concentration = rho * arc.radius / noise**2
        return -((rho - arc.radius) ** 2) / (2 * noise**2) + np.log(special.ive(0, concentration))
    angles, weights = _arc_nodes(arc, noise)
    along = np.outer(offset[:, 0], np.cos(angles)) + np.outer(offset[:, 1], np.sin(angles))
    squared = (offset**2).sum(axis=1) + arc.radius**2
    return _log_sum_exp(along * (arc.radius / noise**2), weights) - squared / (2 * noise**2)


def _arc_nodes(arc: _Arc, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes along ``arc``, 8 per panel, weights summing to 1 (the mean over
    the arc). Panels at most 2 ``noise`` long keep the posteriors of the generator's points
    within 1e-11 of those from 16 nodes per ``noise / 8`` (measured at noise 0.001 to 0.5).
    At most 32 panels, to bound the cost: below noise pi / 64 they get longer, which changes
    nothing at the generator's points (the moons are 0.5 apart, many ``noise`` there) but
    makes the posteriors of points far from both moons approximate."""
    length = (arc.stop - arc.start) * arc.radius
    panels = min(max(4, math.ceil(length / (2 * noise))), _MAX_PANELS)
    unit_nodes, unit_weights = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
    edges = np.linspace(arc.start, arc.stop, panels + 1)
    half = np.diff(edges)[:, None] / 2
    angles = (edges[:-1, None] + half * (unit_nodes + 1)).ravel()
    weights = (half * unit_weights).ravel() / (arc.stop - arc.start)
    return angles, weights


def _spiral_log_densities(radius: np.ndarray, angle: np.ndarray, noise: float) -> np.ndarray:
    """Log wrapped-normal density of the observed angle around each arm's angle at the
    observed radius, summed over enough windings to reach 10 ``noise`` past half a turn."""
    arms = np.arange(data.SPIRAL_ARMS) * (2 * np.pi / data.SPIRAL_ARMS)
    from_arm = angle[:, None] - arms[None, :] - data.SPIRAL_TURN * radius[:, None]
    wrapped = np.remainder(from_arm + np.pi, 2 * np.pi) - np.pi
    reach = math.ceil((math.pi + 10 * noise) / (2 * math.pi))
    windings = np.arange(-reach, reach + 1)
    distances = wrapped[..., None] + 2 * np.pi * windings
    return _log_sum_exp(-(distances**2) / (2 * noise**2))


def _planar_log_densities(radius: np.ndarray, angle: np.ndarray, noise: float) -> np.ndarray:
    """Log density of the flower's classes, summed over the branches ``angle + m pi`` whose
    flower angle the class can reach (within 10 ``noise`` of its span)."""
    span = data.PETAL_SPAN
    lowest = math.floor((-10 * noise - math.pi) / math.pi)
    highest = math.ceil((2 * span + 10 * noise + math.pi) / math.pi)
    branches = np.arange(lowest, highest + 1)
    flower_angle = angle[:, None] + math.pi * branches  # (n, branches)
    signed_radius = radius[:, None] * np.where(branches % 2, -1.0, 1.0)
    petal = data.PETAL_LENGTH * np.sin(data.PETAL_FREQUENCY * angle)[:, None]
    log_radius = -((signed_radius - petal) ** 2) / (2 * noise**2)
    logs = [
        _log_sum_exp(_log_smoothed_uniform(flower_angle, k * span, span, noise) + log_radius)
        for k in range(2)
    ]
    return np.stack(logs, axis=1)


def _log_smoothed_uniform(
    value: np.ndarray, start: float, width: float, noise: float
) -> np.ndarray:
    """Log density (times ``width``) of a uniform on [start, start + width] plus normal noise:
    ``log(Phi(upper) - Phi(lower))``, taken on the side of the normal where it keeps its
    digits."""
    upper = (value - start) / noise
    lower = upper - width / noise
    flip = upper + lower > 0
    upper, lower = np.where(flip, -lower, upper), np.where(flip, -upper, lower)
    log_upper = special.log_ndtr(upper)
    return log_upper + np.log(-np.expm1(special.log_ndtr(lower) - log_upper))


def _log_sum_exp(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``log(sum(weights * exp(values)))`` over the last axis, without overflow; scipy's
    ``logsumexp`` takes ten times as long on these shapes."""
    peak = values.max(axis=-1, keepdims=True)
    scaled = np.exp(values - peak)
    total = scaled.sum(axis=-1) if weights is None else scaled @ weights
    return np.log(total) + peak[..., 0]


def _from_disk_or_computed(dataset: str, noise: float) -> Estimate:
    """The cached estimate, else a fresh one written back (a bad cache never fails a run)."""
    path = cache_file()
    entries = _read_cache(path)
    key = f"{dataset}:{noise!r}"
    cached = entries.get(key)
    if _is_estimate(cached):
        return Estimate(*cached)
    estimate = _estimate(dataset, noise)
    entries[key] = [estimate.value, estimate.standard_error]
    _write_cache(path, entries)
    return estimate


def _read_cache(path: Path) -> dict:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("version") != ESTIMATOR_VERSION:
        return {}
    entries = content.get("estimates")
    return entries if isinstance(entries, dict) else {}


def _is_estimate(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in value))


def _write_cache(path: Path, entries: dict) -> None:
    """Write atomically (a temporary file renamed over the old one), or give up quietly."""
    content = json.dumps({"version": ESTIMATOR_VERSION, "estimates": entries}, indent=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".bayes-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
