"""The bias-variance map: runs placed by avoidable bias and variance, regions shaded by verdict.

One picture answers "which of my runs should I fix first, and how": the further right a run,
the more a bigger or longer-trained network helps; the higher, the more data or
regularization helps; the good-fit corner is the square of side ``tolerance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_REGIONS = (  # verdict, color, x-side, y-side (True: beyond the tolerance)
    ("good_fit", "#d8f0d8", False, False),
    ("high_bias", "#f8e0c0", True, False),
    ("high_variance", "#d8e4f8", False, True),
    ("high_bias_and_variance", "#f4d0d8", True, True),
)
_MAX_LABELS = 30


def draw_map(
    frame: pd.DataFrame,
    path: Path,
    tolerance: float = DEFAULT_TOLERANCE,
    title: str = "Bias-variance map",
) -> Path:
    """Save :func:`map_figure` of the arguments as a PNG at ``path``."""
    figure = map_figure(frame, tolerance, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def map_figure(
    frame: pd.DataFrame,
    tolerance: float = DEFAULT_TOLERANCE,
    title: str = "Bias-variance map",
) -> Figure:
    """The map of ``frame`` (a :func:`~mlflow_improvenn.diagnosis.report.diagnose` result).

    Runs without finite gaps (insufficient data) cannot be placed; the title counts them.
    """
    from mlflow_improvenn.tracking.figures import PAD, new_figure, wrapped

    gaps = frame[["avoidable_bias", "variance"]].astype(float)
    placed = frame[np.isfinite(gaps).all(axis=1)]
    (x_low, x_high), (y_low, y_high) = _limits(placed, tolerance)
    figure = new_figure((9, 6))
    axis = figure.subplots()
    for verdict, color, right, up in _REGIONS:
        axis.fill_between(
            [tolerance, x_high] if right else [x_low, tolerance],
            tolerance if up else y_low, y_high if up else tolerance,
            color=color, label=verdict, zorder=0,
        )
    axis.scatter(placed["avoidable_bias"], placed["variance"], color="black", s=20, zorder=2)
    if len(placed) <= _MAX_LABELS:
        middle = (x_low + x_high) / 2
        for row in placed.itertuples():
            left = row.avoidable_bias > middle  # label towards the centre, so it stays inside
            axis.annotate(row.run_name or row.run_id[:8], (row.avoidable_bias, row.variance),
                          textcoords="offset points", xytext=(-4 if left else 4, 4),
                          ha="right" if left else "left", fontsize="small")
    axis.set_xlim(x_low, x_high)
    axis.set_ylim(y_low, y_high)
    axis.set_xlabel("avoidable bias = train error - baseline error")
    axis.set_ylabel("variance = dev error - train error")
    skipped = len(frame) - len(placed)
    suffix = f"; {skipped} run(s) with insufficient data not shown" if skipped else ""
    heading = figure.suptitle("", fontsize="medium")  # centred on the figure, wrapped to it
    heading.set_text(wrapped(f"{title} (tolerance {tolerance:g}{suffix})", heading,
                             figure.canvas.get_renderer(), figure.bbox.width - 2 * PAD))
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    axis.grid(alpha=0.3, zorder=1)
    return figure


def _limits(placed: pd.DataFrame, tolerance: float) -> tuple[tuple[float, float], ...]:
    """Axes that show every run and at least twice the tolerance on each side of zero."""
    span = max(2 * tolerance, 0.05)
    limits = []
    for column in ("avoidable_bias", "variance"):
        values = placed[column].astype(float)
        low = min(-span / 2, values.min() if len(values) else 0.0)
        high = max(span, values.max() if len(values) else 0.0)
        margin = 0.08 * (high - low)
        limits.append((low - margin, high + margin))
    return tuple(limits)
