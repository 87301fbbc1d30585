"""The learning-curve figure hides nothing: one run or twelve, long labels, long titles.

Drawn from real training histories (see :mod:`tests.tracking.histories`) and checked with
the renderer that draws them (see :mod:`tests.layout_checks`).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from mlflow_improvenn.lessons.catalog import LESSONS
from mlflow_improvenn.tracking.plots import curves_figure, learning_curves
from tests.layout_checks import layout_problems
from tests.tracking.histories import tiny_history

Trained = tuple[pd.DataFrame, int]
CLASSIFICATION = ("constant", "step", "exponential", "early_stopped")
LONG_RUN_NAME = "mlp-256x256-l2=0.001-do=0.3-bn-sgd-momentum=0.9-lr=0.1-onecycle"


@pytest.fixture(scope="module")
def pool() -> dict[str, Trained]:
    """A few real runs: constant and decaying LRs, one stopped early, one regression."""
    return {
        "constant": tiny_history(),
        "step": tiny_history(scheduler="step", step_size=10, gamma=0.3),
        "exponential": tiny_history(scheduler="exponential", gamma=0.8),
        "early_stopped": tiny_history(hidden_units=(64, 64), lr=0.05, patience=3,
                                      max_epochs=60),
        "regression": tiny_history(dataset="diabetes", hidden_units=(32,), lr=0.01),
        "dropout": tiny_history(dropout=(0.3,)),  # the LR of "constant"
    }


def comparison(pool: dict[str, Trained], labels: list[str]) -> tuple[dict, dict]:
    """``labels`` over the classification runs in turn: histories and best epochs."""
    runs = dict(zip(labels, itertools.cycle(CLASSIFICATION)))
    return ({label: pool[name][0] for label, name in runs.items()},
            {label: pool[name][1] for label, name in runs.items()})


def check(histories: dict, best_epochs: dict, title: str) -> None:
    figure = curves_figure(histories, best_epochs, title)
    assert layout_problems(figure, title) == []


@pytest.mark.parametrize("name", [*CLASSIFICATION, "regression"])
def test_one_run_hides_nothing(pool: dict[str, Trained], name: str) -> None:
    history, best = pool[name]
    check({"run": history}, {"run": best}, LONG_RUN_NAME)


@pytest.mark.parametrize("lesson", LESSONS.values(), ids=list(LESSONS))
def test_a_lessons_runs_hide_nothing(pool: dict[str, Trained], lesson) -> None:
    """5 to 7 runs with labels like 'no early stopping, last weights', the question as title."""
    check(*comparison(pool, [v.name for v in lesson.variations]), lesson.question)


def test_twelve_recipe_steps_hide_nothing(pool: dict[str, Trained]) -> None:
    check(*comparison(pool, [f"step {n}" for n in range(1, 13)]),
          "The basic recipe, step by step")


def test_long_run_names_hide_nothing(pool: dict[str, Trained]) -> None:
    """``improvenn curves`` labels runs by their names, long ones included."""
    names = [LONG_RUN_NAME, "mlp-256x256-adam-lr=0.01", "mlp-256x256-no-early-stopping"]
    check(*comparison(pool, names), "Learning curves")


def test_one_legend_entry_per_run_and_the_line_styles_once(pool: dict[str, Trained]) -> None:
    histories, best = comparison(pool, [f"step {n}" for n in range(1, 13)])
    figure = curves_figure(histories, best, "twelve")
    legends = [*figure.legends, *(a.get_legend() for a in figure.axes if a.get_legend())]
    labels = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert len(labels) <= 12 + 3, labels  # runs; train, dev and best epoch
    assert sum("train" in label for label in labels) == 1, labels


def test_regression_has_no_error_panel(pool: dict[str, Trained]) -> None:
    history, best = pool["regression"]
    figure = curves_figure({"run": history}, {"run": best})
    assert [a.get_ylabel() for a in figure.axes] == ["loss", "learning rate"]


def test_the_lr_axis_is_logarithmic_when_the_lr_spans_decades(pool: dict[str, Trained]) -> None:
    scales = {name: curves_figure({"run": pool[name][0]}).axes[-1].get_yscale()
              for name in ("constant", "step", "exponential")}
    assert scales == {"constant": "linear", "step": "linear", "exponential": "log"}


def test_an_lr_all_runs_shared_is_drawn_once(pool: dict[str, Trained]) -> None:
    """Runs that stopped at different epochs still shared their LR up to there."""
    histories = {"a": pool["constant"][0], "b": pool["dropout"][0],
                 "c": pool["constant"][0].iloc[:12]}
    figure = curves_figure(histories, title="One LR")
    assert len(figure.axes[-1].lines) == 1
    assert figure.axes[-1].get_ylabel() == "learning rate (all runs)"
    assert layout_problems(figure, "One LR") == []


def test_a_constant_lr_is_drawn_inside_its_axis_from_zero(pool: dict[str, Trained]) -> None:
    history = pool["constant"][0]
    low, high = curves_figure({"run": history}).axes[-1].get_ylim()
    assert low == 0 < history["lr"].max() < high


def test_a_reused_figure_draws_what_a_new_one_does(pool: dict[str, Trained],
                                                   tmp_path: Path) -> None:
    """learning_curves draws into the figure of its previous call: nothing may carry over."""
    learning_curves(*_twelve_steps(pool, tmp_path / "before.png"))  # log LR, two legends
    history, best = pool["constant"]
    reused = learning_curves({"run": history}, tmp_path / "reused.png", {"run": best}, "one")
    fresh = tmp_path / "fresh.png"
    curves_figure({"run": history}, {"run": best}, "one").savefig(fresh, dpi=100)
    difference = abs(imread(reused) - imread(fresh))  # same size, or the subtraction fails
    assert difference.max() < 0.02  # antialiasing may differ by a shade, nothing more


def _twelve_steps(pool: dict[str, Trained], path: Path) -> tuple:
    histories, best = comparison(pool, [f"step {n}" for n in range(1, 13)])
    return histories, path, best, "twelve"


def test_learning_curves_writes_a_png(pool: dict[str, Trained], tmp_path: Path) -> None:
    history, best = pool["step"]
    path = learning_curves({"run": history}, tmp_path / "plots" / "curves.png", {"run": best})
    assert path.read_bytes().startswith(b"\x89PNG")


def test_no_histories_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="histories is empty"):
        curves_figure({})
