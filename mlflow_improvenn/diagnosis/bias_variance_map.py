"""The bias-variance map: runs placed by avoidable bias and variance, regions shaded by verdict.

One picture answers "which of my runs should I fix first, and how": the further right a run,
the more a bigger or longer-trained network helps; the higher, the more data or
regularization helps; the good-fit corner is the square of side ``tolerance``. A run whose
error bars cross into the good-fit corner is one the splits cannot tell apart from a good fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCES, Scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_REGIONS = (  # verdict, color, x-side, y-side (True: beyond the tolerance)
    ("good_fit", "#d8f0d8", False, False),
    ("high_bias", "#f8e0c0", True, False),
    ("high_variance", "#d8e4f8", False, True),
    ("high_bias_and_variance", "#f4d0d8", True, True),
)
_AXIS_LABELS = {
    Scale.ERROR_RATE: ("avoidable bias = train error - baseline error",
                       "variance = dev error - train error"),
    Scale.UNEXPLAINED_VARIANCE: ("avoidable bias = train (1 - R²) - baseline",
                                 "variance = dev (1 - R²) - train (1 - R²)"),
    Scale.LOSS: ("avoidable bias = train loss / baseline loss - 1",
                 "variance = dev loss / train loss - 1"),
}
_MAX_LABELS = 30
#: A point's fill: its verdict, in a darker shade of that verdict's region.
_POINT_COLORS = {"good_fit": "#2e8b57", "high_bias": "#d2691e", "high_variance": "#2f5fbf",
                 "high_bias_and_variance": "#c0392b", "inconclusive": "white"}


def draw_map(frame: pd.DataFrame, path: Path, title: str = "Bias-variance map") -> Path:
    """Save :func:`map_figure` of the arguments as a PNG at ``path``."""
    figure = map_figure(frame, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def map_figure(frame: pd.DataFrame, title: str = "Bias-variance map") -> Figure:
    """The map of ``frame`` (a :func:`~mlflow_improvenn.diagnosis.report.diagnose` result).

    One panel per scale (error rates, unexplained variance, losses are never on one pair of
    axes), each shaded by its own tolerance (the frame's ``tolerance`` column). A run's
    interval bounds, where known, are drawn as error bars; a point has its verdict's colour
    (the regions follow the tolerance alone), an ``inconclusive`` run is hollow. Runs
    without both gaps (insufficient data, or a loss without a baseline) cannot be placed;
    the title counts them.
    """
    from mlflow_improvenn.tracking.figures import PAD, new_figure, wrapped

    panels = _panels(frame)
    figure = new_figure((9, 6 if len(panels) < 2 else 4.2 * len(panels)))
    axes = figure.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    for axis, (scale, tolerance, rows) in zip(axes, panels or [_EMPTY], strict=True):
        _draw_panel(axis, rows, scale, tolerance, several=len(panels) > 1)
    skipped = len(frame) - sum(len(rows) for _, _, rows in panels)
    suffix = f" ({skipped} run(s) without both gaps not shown)" if skipped else ""
    heading = figure.suptitle("", fontsize="medium")  # centred on the figure, wrapped to it
    heading.set_text(wrapped(f"{title}{suffix}", heading, figure.canvas.get_renderer(),
                             figure.bbox.width - 2 * PAD))
    axes[0].legend(handles=_legend_handles(axes[0]), loc="upper left",
                   bbox_to_anchor=(1.01, 1), fontsize="small")
    return figure


_EMPTY = (Scale.ERROR_RATE, DEFAULT_TOLERANCES[Scale.ERROR_RATE], pd.DataFrame(
    columns=["run_id", "run_name", "avoidable_bias", "variance"]))


def _panels(frame: pd.DataFrame) -> list[tuple[Scale, float, pd.DataFrame]]:
    """(scale, tolerance, placeable rows) for each scale present, in the scales' order."""
    gaps = frame[["avoidable_bias", "variance"]].astype(float)
    placed = frame[np.isfinite(gaps).all(axis=1)]
    scales = placed["scale"] if "scale" in placed else pd.Series(Scale.ERROR_RATE.value,
                                                                  index=placed.index)
    panels = []
    for scale in Scale:
        rows = placed[scales == scale.value]
        if len(rows):
            tolerance = (float(rows["tolerance"].iloc[0]) if "tolerance" in rows
                         else DEFAULT_TOLERANCES[scale])
            panels.append((scale, tolerance, rows))
    return panels


def point_labels(rows: pd.DataFrame) -> list[str]:
    """Each point's label: its run's name (its id's start without one); where names repeat,
    the experiment before it, then the id's start after it, so no two points read alike.

    >>> point_labels(pd.DataFrame({"run_id": ["a1b2c3d4e5", "f6a7b8c9d0"],
    ...     "run_name": ["mlp-64", "mlp-64"], "experiment": ["qs", "big100"]}))
    ['qs: mlp-64', 'big100: mlp-64']
    """
    names = [name or run_id[:8] for name, run_id in zip(rows["run_name"], rows["run_id"],
                                                         strict=True)]
    if len(set(names)) < len(names) and "experiment" in rows:
        names = [f"{experiment}: {name}" for experiment, name in zip(rows["experiment"], names,
                                                                     strict=True)]
    if len(set(names)) < len(names):
        names = [f"{name} ({run_id[:6]})" for name, run_id in zip(names, rows["run_id"],
                                                                  strict=True)]
    return names


def _draw_panel(axis: Axes, rows: pd.DataFrame, scale: Scale, tolerance: float,
                several: bool) -> None:
    (x_low, x_high), (y_low, y_high) = _limits(rows, tolerance)
    for verdict, color, right, up in _REGIONS:
        axis.fill_between(
            [tolerance, x_high] if right else [x_low, tolerance],
            tolerance if up else y_low, y_high if up else tolerance,
            color=color, label=verdict, zorder=0,
        )
    _points(axis, rows)
    if len(rows) <= _MAX_LABELS:
        middle = (x_low + x_high) / 2
        for row, label in zip(rows.itertuples(), point_labels(rows), strict=True):
            left = row.avoidable_bias > middle  # label towards the centre, so it stays inside
            axis.annotate(label, (row.avoidable_bias, row.variance),
                          textcoords="offset points", xytext=(-4 if left else 4, 4),
                          ha="right" if left else "left", fontsize="small")
    axis.set_xlim(x_low, x_high)
    axis.set_ylim(y_low, y_high)
    x_label, y_label = _AXIS_LABELS[scale]
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    if several:
        axis.set_title(f"{scale.value.replace('_', ' ')} (tolerance {tolerance:g})",
                       fontsize="small")
    else:
        axis.set_title(f"tolerance {tolerance:g}", fontsize="small")
    axis.grid(alpha=0.3, zorder=1)


def _points(axis: Axes, rows: pd.DataFrame) -> None:
    """Each run in the colour of its own verdict, inconclusive ones hollow, with intervals as
    error bars. The regions follow the tolerance alone, the verdict also the noise: a run
    whose variance is beyond the tolerance but within the noise sits in a variance region in
    its bias colour, its error bar crossing the line."""
    verdicts = rows["diagnosis"] if "diagnosis" in rows else pd.Series("", index=rows.index)
    for verdict in dict.fromkeys(verdicts):
        part = rows[verdicts == verdict]
        axis.errorbar(
            part["avoidable_bias"], part["variance"],
            xerr=_bars(part, "avoidable_bias"), yerr=_bars(part, "variance"),
            fmt="o", markersize=6, color="black", mfc=_POINT_COLORS.get(verdict, "black"),
            ecolor="#555555", elinewidth=0.8, capsize=2, zorder=2,
            label=f"run: {verdict}" if verdict else "run",
        )


def _bars(rows: pd.DataFrame, column: str) -> np.ndarray | None:
    """Distances to the interval's ends, 0 where no interval is known; None without any."""
    low, high = f"{column}_low", f"{column}_high"
    if low not in rows or rows[low].isna().all():
        return None
    value = rows[column].astype(float)
    below = (value - rows[low].astype(float)).fillna(0).clip(lower=0)
    above = (rows[high].astype(float) - value).fillna(0).clip(lower=0)
    return np.vstack([below.to_numpy(), above.to_numpy()])


def _legend_handles(axis: Axes) -> list:
    handles, labels = axis.get_legend_handles_labels()
    return [handle for handle, _ in sorted(zip(handles, labels, strict=True),
                                           key=lambda pair: pair[1].startswith("run"))]


def _limits(placed: pd.DataFrame, tolerance: float) -> tuple[tuple[float, float], ...]:
    """Axes that show every run and its interval, and at least twice the tolerance on each
    side of zero."""
    span = max(2 * tolerance, 0.05)
    limits = []
    for column in ("avoidable_bias", "variance"):
        values = placed[column].astype(float)
        ends = [values] + [placed[f"{column}{end}"].astype(float) for end in ("_low", "_high")
                           if f"{column}{end}" in placed]
        low = min([-span / 2] + [float(v.min()) for v in ends if v.notna().any()])
        high = max([span] + [float(v.max()) for v in ends if v.notna().any()])
        margin = 0.08 * (high - low)
        limits.append((low - margin, high + margin))
    return tuple(limits)
