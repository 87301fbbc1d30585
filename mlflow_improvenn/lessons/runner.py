"""Run a lesson: every variation a child run of one parent, then the comparison on the parent.

On the parent goes what a person came for: learning curves on shared axes, the bias-variance
map, the diagnosis table and a results table (``lesson/results.csv``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlflow_improvenn.lessons.catalog import TAG_LESSON, TAG_VARIATION, Lesson, get_lesson
from mlflow_improvenn.lessons.curves import run_curve_lesson
from mlflow_improvenn.runs.parents import log_comparison, log_table, parent_run, train_child

RESULT_COLUMNS = [
    "variation", "diagnosis", "baseline_error", "avoidable_bias", "avoidable_bias_low",
    "avoidable_bias_high", "variance", "variance_low", "variance_high",
    "train_error", "dev_error", "test_error", "dev_loss",
    "test_loss", "best_epoch", "stopped_epoch", "epochs_to_target", "seconds", "run_id",
]


@dataclass(frozen=True)
class LessonResult:
    """The parent run and one row per variation (:data:`RESULT_COLUMNS`)."""

    lesson: Lesson
    parent_run_id: str
    table: pd.DataFrame


def run_lesson(
    name: str,
    smoke: bool = False,
    experiment: str | None = None,
    on_run: Callable[[str], None] | None = None,
) -> LessonResult:
    """Train every variation of lesson ``name`` under one parent run and log the comparison.

    ``on_run`` is told each variation's name before it trains (for progress output).
    """
    lesson = get_lesson(name)
    configs = lesson.configs(smoke)
    tags = {TAG_LESSON: name}
    if lesson.fractions is not None:
        return run_curve_lesson(lesson, configs, experiment, on_run)
    with parent_run(f"lesson-{name}", experiment, tags) as parent_id:
        outcomes, seconds = {}, {}
        for label, config in configs.items():
            if on_run is not None:
                on_run(label)
            started = time.perf_counter()
            outcomes[label] = train_child(config, {**tags, TAG_VARIATION: label})
            seconds[label] = time.perf_counter() - started
        diagnosis = log_comparison(parent_id, outcomes, "lesson", lesson.question)
        table = _results(lesson, outcomes, seconds, diagnosis)
        log_table(parent_id, table, "lesson/results.csv")
    return LessonResult(lesson, parent_id, table)


def _results(
    lesson: Lesson, outcomes: Mapping[str, Any], seconds: Mapping[str, float],
    diagnosis: pd.DataFrame,
) -> pd.DataFrame:
    diagnosed = diagnosis.set_index("run_id")
    rows = []
    for label, outcome in outcomes.items():
        summary, verdict = outcome.summary, diagnosed.loc[outcome.run_id]
        rows.append({
            "variation": label,
            "diagnosis": verdict["diagnosis"],
            "baseline_error": verdict["baseline_error"],
            **{f"avoidable_bias{end}": verdict[f"avoidable_bias{end}"]
               for end in ("", "_low", "_high")},
            "variance": verdict["variance"],
            "variance_low": verdict["variance_low"],
            "variance_high": verdict["variance_high"],
            "train_error": summary.get("best_train_error"),
            "dev_error": summary.get("best_dev_error"),
            "test_error": summary.get("test_error"),
            "dev_loss": summary.get("best_dev_loss"),
            "test_loss": summary.get("test_loss"),
            "best_epoch": outcome.best_epoch,
            "stopped_epoch": outcome.stopped_epoch,
            "epochs_to_target": epochs_to_target(outcome.history, lesson.dev_loss_target),
            "seconds": seconds[label],
            "run_id": outcome.run_id,
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def epochs_to_target(history: pd.DataFrame, target: float | None) -> float:
    """First epoch whose dev loss is at most ``target``; NaN if never (or no target).

    >>> epochs_to_target(pd.DataFrame({"epoch": [1, 2, 3], "dev_loss": [0.9, 0.4, 0.2]}), 0.5)
    2.0
    """
    if target is None:
        return math.nan
    reached = history.loc[history["dev_loss"] <= target, "epoch"]
    return float(reached.iloc[0]) if len(reached) else math.nan
