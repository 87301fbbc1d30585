"""The bias-variance map hides nothing: its legend beside the map, long titles wrapped.

The runs are the five of the README's ``diagnose`` example (their real gaps) and one run
with insufficient data, so the title also carries the count of runs not shown.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mlflow_improvenn.diagnosis.bias_variance_map import draw_map, map_figure
from mlflow_improvenn.lessons.catalog import LESSONS
from tests.layout_checks import layout_problems

README_RUNS = pd.DataFrame({
    "run_id": ["a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32, "f" * 32],
    "run_name": ["mlp-256x256-l2=0.001-do=0.3-adam-lr=0.01", "mlp-256x256-adam-lr=0.01",
                 "mlp-256x256-no-early-stopping", "mlp-4-adam-lr=0.001",
                 "mlp-linear-adam-lr=0.01", "regression-run"],
    "avoidable_bias": [0.0167, 0.0125, -0.0250, 0.1417, 0.0875, math.nan],
    "variance": [-0.0167, 0.0000, 0.0375, 0.0083, -0.0250, math.nan],
})


@pytest.mark.parametrize("title", ["Bias-variance map", LESSONS["dropout"].question])
def test_the_map_hides_nothing(title: str) -> None:
    figure = map_figure(README_RUNS, title)
    assert layout_problems(figure, title) == []


def test_one_run_hides_nothing() -> None:
    assert layout_problems(map_figure(README_RUNS.iloc[:1]), "Bias-variance map") == []


def test_draw_map_writes_a_png(tmp_path: Path) -> None:
    path = draw_map(README_RUNS, tmp_path / "map" / "map.png")
    assert path.read_bytes().startswith(b"\x89PNG")


MIXED = pd.DataFrame({
    "run_id": ["a" * 32, "b" * 32, "c" * 32, "d" * 32],
    "run_name": ["keras-fit", "lightning-over", "hf-loss-only", "regression"],
    "scale": ["error_rate", "error_rate", "loss", "unexplained_variance"],
    "tolerance": [0.02, 0.02, 0.25, 0.05],
    "diagnosis": ["inconclusive", "high_variance", "high_variance", "good_fit"],
    "avoidable_bias": [0.01, -0.02, 0.4, 0.03],
    "avoidable_bias_low": [-0.01, -0.03, math.nan, 0.02],
    "avoidable_bias_high": [0.03, -0.01, math.nan, 0.04],
    "variance": [0.03, 0.15, 2.0, 0.01],
    "variance_low": [-0.01, 0.09, math.nan, -0.01],
    "variance_high": [0.07, 0.21, math.nan, 0.03],
})


def test_scales_never_share_axes() -> None:
    """Error rates, unexplained variance and relative loss gaps get a panel each, each shaded
    by its own tolerance, with the intervals as error bars."""
    figure = map_figure(MIXED, "Several tools")
    panels = [axis for axis in figure.axes if axis.get_xlabel()]
    assert [axis.get_xlabel().split("=")[1].strip() for axis in panels] == [
        "train error - baseline error", "train (1 - R²) - baseline",
        "train loss / baseline loss - 1",
    ]
    assert [axis.get_title() for axis in panels] == [
        "error rate (tolerance 0.02)", "unexplained variance (tolerance 0.05)",
        "loss (tolerance 0.25)",
    ]
    error_rate = panels[0]
    bars = [c for c in error_rate.collections if c.__class__.__name__ == "LineCollection"]
    assert bars, "intervals are drawn as error bars"
    assert layout_problems(figure, "Several tools") == []


def test_a_point_has_its_verdicts_colour_whatever_region_it_sits_in() -> None:
    """The regions follow the tolerance alone: a high-bias run whose 4-point variance is
    within the noise sits in the bias-and-variance region, and must not look decided there."""
    from matplotlib.colors import to_hex

    frame = pd.DataFrame({
        "run_id": ["a" * 32, "b" * 32], "run_name": ["tiny", "big"],
        "diagnosis": ["high_bias", "high_bias_and_variance"],
        "avoidable_bias": [0.10, 0.10], "variance": [0.04, 0.04],
        "variance_low": [-0.01, 0.03], "variance_high": [0.09, 0.05],
    })
    axis = map_figure(frame).axes[0]
    fills = {to_hex(line.get_markerfacecolor()) for line in axis.lines
             if line.get_marker() == "o"}
    _, labels = axis.get_legend_handles_labels()
    assert "run: high_bias" in labels and "run: high_bias_and_variance" in labels
    assert len(fills) == 2, fills
