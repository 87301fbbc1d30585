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
    figure = map_figure(README_RUNS, 0.02, title)
    assert layout_problems(figure, title) == []


def test_one_run_hides_nothing() -> None:
    assert layout_problems(map_figure(README_RUNS.iloc[:1]), "Bias-variance map") == []


def test_draw_map_writes_a_png(tmp_path: Path) -> None:
    path = draw_map(README_RUNS, tmp_path / "map" / "map.png")
    assert path.read_bytes().startswith(b"\x89PNG")
