"""The figures of the two diagnostics that are not a training run: the learning-rate range
test (loss against learning rate) and the data-size learning curve (error against rows).

Both use :func:`~mlflow_improvenn.tracking.figures.new_figure` (a private Agg canvas, no
pyplot state) with matplotlib's constrained layout: one axes (and the range test's race on
a second y axis) and a short legend each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlflow_improvenn.tracking.figures import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: The race for the figure: candidates' learning rates, their dev losses, the winner's index
#: and the epochs each trained.
RaceMarks = tuple[np.ndarray, np.ndarray, int, int]


def draw_lr_find(
    lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray, marks: Mapping[str, float],
    path: Path, title: str, race: RaceMarks | None = None,
) -> None:
    """Raw and smoothed loss against the learning rate (log axis), each of ``marks`` (label
    to learning rate; the first is the suggestion, drawn solid) as a vertical line, and the
    race's candidates (``race``) as points on a second axis, the winner a star."""
    figure = new_figure((7, 5.5))
    axes = figure.add_subplot()
    axes.plot(lrs, losses, color="0.7", linewidth=1, label="loss per batch")
    axes.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed")
    for index, (label, lr) in enumerate(marks.items()):
        if np.isfinite(lr):
            axes.axvline(lr, color=f"C{index + 1}", linestyle="-" if index == 0 else ":",
                         linewidth=1.5, label=f"{label}: {lr:.2g}")
    axes.set_xscale("log")
    axes.set_ylim(*_loss_limits(losses, smoothed))
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("training loss")
    axes.grid(True, which="major", alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    if race is not None:
        handles += _draw_race(axes.twinx(), race)
        labels += [handle.get_label() for handle in handles[len(labels):]]
    figure.legend(handles, labels, fontsize="small", loc="outside lower center", ncols=2)
    figure.suptitle(title, fontsize="medium")
    figure.savefig(path)


def _draw_race(axes: Axes, race: RaceMarks) -> list:
    """The candidates' dev losses on ``axes`` (the right-hand axis); returns legend handles."""
    lrs, dev_losses, winner, epochs = race
    finite = np.isfinite(dev_losses)
    line = axes.plot(lrs[finite], dev_losses[finite], "o--", color="C5", markersize=5,
                     linewidth=1, label=f"race: best dev loss in {epochs} epochs")[0]
    axes.set_ylabel("race: dev loss", color="C5")
    axes.tick_params(axis="y", colors="C5")
    if not finite[winner]:  # every candidate diverged: the valley stands, without a star
        return [line]
    star = axes.plot([lrs[winner]], [dev_losses[winner]], "*", color="C5", markersize=14,
                     markeredgecolor="black", label=f"race winner: {lrs[winner]:.2g}")[0]
    return [line, star]


def _loss_limits(losses: np.ndarray, smoothed: np.ndarray) -> tuple[float, float]:
    """From below the lowest loss to a little above the first smoothed value's double: the
    diverged tail would otherwise flatten the part that matters."""
    finite = losses[np.isfinite(losses)]
    known = smoothed[np.isfinite(smoothed)]
    top = 2.0 * known[0] if len(known) else float(np.max(finite))
    low = float(min(np.min(finite), np.min(known) if len(known) else np.inf))
    return low - 0.05 * (top - low), top


def draw_data_curve(
    n_train: Sequence[int],
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: Path,
    title: str,
    ylabel: str,
    baseline: float | None = None,
    extrapolated: Mapping[int, tuple[float, float, float]] | None = None,
) -> None:
    """Each curve (label to value, band low, band high per point of ``n_train``) as a line
    over its band; ``baseline`` as a dashed line; ``extrapolated`` dev values (rows to value,
    low, high) as points with error bars."""
    figure = new_figure((7, 4.5))
    axes = figure.add_subplot()
    rows = np.asarray(n_train, dtype=float)
    for index, (label, (value, low, high)) in enumerate(curves.items()):
        color = f"C{index}"
        axes.plot(rows, value, marker="o", color=color, label=label)
        axes.fill_between(rows, low, high, color=color, alpha=0.2, linewidth=0)
    for count, (value, low, high) in (extrapolated or {}).items():
        axes.errorbar([count], [value], yerr=[[value - low], [high - value]], fmt="s",
                      color="C1", mfc="white", capsize=3)
    if extrapolated:
        axes.plot([], [], "s", color="C1", mfc="white", label="dev, extrapolated (power law)")
    if baseline is not None:
        axes.axhline(baseline, color="0.3", linestyle="--", linewidth=1,
                     label=f"baseline {baseline:.3g}")
    axes.set_xscale("log")
    axes.set_xlabel("training rows (log scale)")
    axes.set_ylabel(ylabel)
    top = axes.get_ylim()[1]
    axes.set_ylim(-0.03 * top, top)  # a train curve at 0 stays in sight above the axis
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.suptitle(title, fontsize="medium")
    figure.savefig(path)
