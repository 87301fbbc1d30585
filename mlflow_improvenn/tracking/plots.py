"""Learning-curve figures: what a person reads bias, variance and the best epoch from.

Top to bottom: the title, wrapped to the figure's width; a key that explains the line styles
once (train dashed, dev solid, a dot at the best epoch); for several runs, one legend entry
per run (its colour) in as many columns as fit; then the loss, error and learning-rate panels
on one epoch axis. Nothing sits on a curve, and the margins follow from the measured texts
(see :mod:`~mlflow_improvenn.tracking.figures`), so the PNG costs one draw.
"""

from __future__ import annotations

import threading
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from mlflow_improvenn.tracking.figures import DPI, PAD, figure_legend, new_figure, wrapped

WIDTH = 8.0  # inches
PANEL_HEIGHTS = {"loss": 2.4, "error": 2.4, "lr": 1.5}  # inches; the LR is context only
GAP = 14  # pixels between two panels: their tick labels must not touch
TICK_PAD = 4.0  # points between an axis and its tick labels (no tick marks: the grid shows)
LOG_LR_SPAN = 100  # the LR axis turns logarithmic when the LR spans two decades or more
LOG_LR_DEPTH = 1e5  # and shows at most five decades below the highest LR
KEY_GREY = "0.35"
_REUSED = threading.local()  # per thread: {panel count: figure}


def learning_curves(
    histories: dict[str, pd.DataFrame],
    path: Path,
    best_epochs: dict[str, int] | None = None,
    title: str = "Learning curves",
) -> Path:
    """Save the :func:`curves_figure` of the arguments as a PNG at ``path``; returns ``path``.

    The figure is drawn into this thread's figure from the previous call, cleared: building
    the axes and their ticks costs about as much as drawing them. Raises OSError when
    ``path`` cannot be written.
    """
    figure = _draw(_reused_figure(len(_kinds(histories)) + 1), histories, best_epochs, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 3})  # zlib's 6: 2x slower
    return path


def curves_figure(
    histories: dict[str, pd.DataFrame],
    best_epochs: dict[str, int] | None = None,
    title: str = "Learning curves",
) -> Figure:
    """Train/dev loss (and error, when logged) per epoch, the LR below, on one epoch axis.

    ``histories`` maps a label to a frame with the columns of ``history.csv`` (``epoch``,
    ``train_loss``, ``dev_loss``, ``lr``, and ``train_error``/``dev_error`` for
    classification); several labels share the axes, one colour each, so settings compare
    side by side. ``best_epochs`` maps a label to the epoch whose weights were kept: a dot
    on that run's dev curves (and, for one run, a dotted line across the panels). The LR
    axis is logarithmic when the LR spans two decades or more (step, exponential, one-cycle
    schedules), else linear from zero. The figure is 8 inches wide at 100 dpi; its height
    grows with the title and the legend. Raises ValueError when ``histories`` is empty.
    """
    return _draw(_panel_figure(len(_kinds(histories)) + 1), histories, best_epochs, title)


def run_colors(count: int) -> list[str]:
    """One colour per run: matplotlib's ten, or, for more, tab20's dark then light shades."""
    if count <= 10:
        return [f"C{i}" for i in range(count)]
    shades = matplotlib.colormaps["tab20"].colors
    palette = [*shades[0::2], *shades[1::2]]
    return [matplotlib.colors.to_hex(palette[i % len(palette)]) for i in range(count)]


def _kinds(histories: dict[str, pd.DataFrame]) -> list[str]:
    """The curves above the LR: the loss, and the error when any run is a classifier."""
    if not histories:
        raise ValueError("no learning curves to draw: histories is empty")
    return ["loss", "error"] if any("dev_error" in h for h in histories.values()) else ["loss"]


def _draw(
    figure: Figure,
    histories: dict[str, pd.DataFrame],
    best_epochs: dict[str, int] | None,
    title: str,
) -> Figure:
    """Draw into ``figure``'s empty panels (see :func:`curves_figure`) and lay it out."""
    kinds = _kinds(histories)
    axes = figure.axes
    colors = run_colors(len(histories))
    best_epochs = best_epochs or {}
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=True))
        axis.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    for (label, history), color in zip(histories.items(), colors, strict=True):
        for axis, kind in zip(axes, kinds, strict=False):
            _pair(axis, history, kind, color, best_epochs.get(label))
    _learning_rates(axes[-1], histories, colors)
    for axis, name in zip(axes[:-1], ("loss", "error rate"), strict=False):
        axis.set_ylabel(name)
    axes[-1].set_xlabel("epoch")
    if len(histories) == 1:
        best = best_epochs.get(next(iter(histories)))
        for axis in axes if best else ():
            axis.axvline(best, color=colors[0], linestyle=":", linewidth=1)
        _arrange(figure, title, _style_key(colors[0], best), [])
    else:
        runs = [(f"{label} (best epoch {best_epochs[label]})" if best_epochs.get(label)
                 else label, color) for label, color in zip(histories, colors, strict=True)]
        _arrange(figure, title, _style_key(KEY_GREY, None), runs)
    return figure


def _panel_figure(count: int) -> Figure:
    """A figure of ``count`` axes sharing the epoch axis, which only the lowest labels."""
    figure = new_figure((WIDTH, 1.0), layout=None)  # sized by _arrange
    first = figure.add_axes((0, 0, 1, 1))
    for _ in range(count - 1):
        figure.add_axes((0, 0, 1, 1), sharex=first)
    for axis in figure.axes:
        axis.grid(alpha=0.3)
        axis.tick_params(length=0, pad=TICK_PAD, labelbottom=axis is figure.axes[-1])
    return figure


def _reused_figure(count: int) -> Figure:
    """This thread's figure of ``count`` panels, emptied of the previous call's artists."""
    figures = vars(_REUSED).setdefault("figures", {})
    if count not in figures:
        figures[count] = _panel_figure(count)
    figure = figures[count]
    for artist in [*figure.texts, *figure.legends, *(x for a in figure.axes for x in a.lines)]:
        artist.remove()
    for axis in figure.axes:
        axis.set_yscale("linear")
        axis.relim()
        axis.autoscale()
    return figure


def _pair(axis: Axes, history: pd.DataFrame, kind: str, color: str, best: int | None) -> None:
    """Train dashed, dev solid, a dot on dev at the best epoch. No labels: the key explains.
    (A loop of the user's may log a dev error without a train error.)"""
    if f"dev_{kind}" not in history:
        return
    if f"train_{kind}" in history:
        axis.plot(history["epoch"], history[f"train_{kind}"], color=color, linestyle="--")
    axis.plot(history["epoch"], history[f"dev_{kind}"], color=color)
    at_best = history.loc[history["epoch"] == best, f"dev_{kind}"]
    if len(at_best):
        axis.plot([best], at_best.iloc[:1], color=color, marker="o", markersize=5, zorder=3)
    axis.ticklabel_format(axis="y", useOffset=False)


def _learning_rates(axis: Axes, histories: dict[str, pd.DataFrame], colors: list[str]) -> None:
    """Each run's LR, or one line when all runs shared it (up to the epoch each stopped)."""
    series = [h.set_index("epoch")["lr"] for h in histories.values()]
    longest = max(series, key=len)
    shared = all(s.equals(longest.reindex(s.index)) for s in series)
    lines = [(longest, colors[0] if len(series) == 1 else KEY_GREY)] if shared else \
        list(zip(series, colors, strict=True))
    for lr, color in lines:
        axis.plot(lr.index, lr.to_numpy(), color=color, drawstyle="steps-post")
    values = np.concatenate([s.to_numpy(dtype=float) for s in series])
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) and positive.max() >= LOG_LR_SPAN * positive.min():
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(LogLocator(numticks=4))
        axis.yaxis.set_minor_locator(NullLocator())
        low = max(positive.min(), positive.max() / LOG_LR_DEPTH)  # not a cosine's last 1e-9
        axis.set_ylim(low / 2, positive.max() * 2)
    else:
        axis.set_ylim(0, 1.15 * (positive.max() if len(positive) else 1.0))
        axis.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
        axis.ticklabel_format(axis="y", useOffset=False)
    axis.set_ylabel("learning rate" + (" (all runs)" if shared and len(series) > 1 else ""))


def _style_key(color: str, best: int | None) -> list[tuple[Line2D, str]]:
    """The line styles, explained once for all runs."""
    dot = Line2D([], [], color=color, marker="o", markersize=5,
                 linestyle=":" if best else "none", linewidth=1)
    return [(Line2D([], [], color=color, linestyle="--"), "train"),
            (Line2D([], [], color=color), "dev"),
            (dot, f"best epoch {best}" if best else "best epoch (weights kept)")]


def _arrange(
    figure: Figure, title: str, key: list[tuple[Line2D, str]], runs: list[tuple[str, str]]
) -> None:
    """Size the figure and place the title, legends and panels from measured text sizes."""
    axes = figure.axes
    renderer = figure.canvas.get_renderer()
    width = figure.bbox.width
    heading = figure.text(0.5, 1, "", ha="center", va="top", fontsize="large")
    heading.set_text(wrapped(title, heading, renderer, width - 2 * PAD))
    handles, labels = zip(*key, strict=True)
    legends = [figure_legend(figure, handles, labels, "upper center", width - 2 * PAD)]
    if runs:
        handles = [Line2D([], [], color=color, linewidth=2) for _, color in runs]
        legends.append(figure_legend(figure, handles, [label for label, _ in runs],
                                     "upper center", width - 2 * PAD))
    tops = [PAD, 1.5 * PAD + heading.get_window_extent(renderer).height]
    for legend in legends:
        tops.append(tops[-1] + legend.get_window_extent(renderer).height)
    tick_labels = max(_widest(a.get_yticklabels(), renderer) for a in axes)
    label_width = max(a.yaxis.label.get_window_extent(renderer).width for a in axes)  # turned
    left = PAD + label_width + PAD / 2 + tick_labels + TICK_PAD * DPI / 72
    right = PAD + _widest(axes[-1].get_xticklabels(), renderer) / 2
    x_labels = axes[-1].get_xticklabels()[0].get_window_extent(renderer).height
    bottom = PAD + axes[-1].xaxis.label.get_window_extent(renderer).height + PAD / 2 \
        + x_labels + TICK_PAD * DPI / 72
    heights = [PANEL_HEIGHTS[k] * DPI for k in ("loss", "error")[:len(axes) - 1]]
    heights.append(PANEL_HEIGHTS["lr"] * DPI)
    total = tops[-1] + GAP + sum(heights) + GAP * (len(axes) - 1) + bottom
    figure.set_size_inches(WIDTH, total / DPI)
    heading.set_y(1 - tops[0] / total)
    for legend, top in zip(legends, tops[1:], strict=False):
        legend.set_bbox_to_anchor((0.5, 1 - top / total), transform=figure.transFigure)
    y = total - tops[-1] - GAP
    for axis, height in zip(axes, heights, strict=True):
        y -= height
        axis.set_position((left / width, y / total, (width - left - right) / width,
                           height / total))
        axis.yaxis.set_label_coords((PAD + label_width) / width, 0.5,
                                    blended_transform_factory(figure.transFigure, axis.transAxes))
        y -= GAP
    axes[-1].xaxis.set_label_coords(
        0.5, PAD / total, blended_transform_factory(axes[-1].transAxes, figure.transFigure))
    axes[-1].xaxis.label.set_verticalalignment("bottom")


def _widest(texts: list[Text], renderer: RendererBase) -> float:
    return max((t.get_window_extent(renderer).width for t in texts if t.get_text()), default=0)
