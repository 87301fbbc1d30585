"""A learning-curve lesson: each variation a learning curve (a parent with a child per share
of the train rows), all under the lesson's parent, with one results table on it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import mlflow
import pandas as pd

from mlflow_improvenn.lessons.catalog import TAG_LESSON, TAG_VARIATION, Lesson
from mlflow_improvenn.runs.parents import log_table, parent_run
from mlflow_improvenn.search.learning_curve import CurveResult, run_learning_curve
from mlflow_improvenn.training.options import TrainConfig

if TYPE_CHECKING:
    from mlflow_improvenn.lessons.runner import LessonResult

CURVE_COLUMNS = ["variation", "verdict", "n_train", "train_error", "dev_error", "last_slope",
                 "dev_at_2x", "dev_at_10x", "run_id"]


def run_curve_lesson(
    lesson: Lesson, configs: Mapping[str, TrainConfig], experiment: str | None,
    on_run: Callable[[str], None] | None,
) -> LessonResult:
    """Run each variation's learning curve under the lesson's parent; log
    ``lesson/results.csv`` (:data:`CURVE_COLUMNS`, one row per variation) on it."""
    from mlflow_improvenn.lessons.runner import LessonResult

    tags = {TAG_LESSON: lesson.name}
    with parent_run(f"lesson-{lesson.name}", experiment, tags) as parent_id:
        rows = []
        for label, config in configs.items():
            if on_run is not None:
                on_run(label)
            result = run_learning_curve(config, lesson.fractions or ())
            client = mlflow.MlflowClient()
            for key, value in {**tags, TAG_VARIATION: label}.items():
                client.set_tag(result.parent_run_id, key, value)
            rows.append(_row(label, result))
        table = pd.DataFrame(rows, columns=CURVE_COLUMNS)
        log_table(parent_id, table, "lesson/results.csv")
    return LessonResult(lesson, parent_id, table)


def _row(label: str, result: CurveResult) -> dict:
    last = result.points.iloc[-1]
    far = {e.n_train // int(last["n_train"]): e.dev for e in result.verdict.extrapolations}
    return {"variation": label, "verdict": result.verdict.verdict.value,
            "n_train": int(last["n_train"]), "train_error": last["train"],
            "dev_error": last["dev"], "last_slope": result.verdict.last_slope,
            "dev_at_2x": far.get(2, math.nan), "dev_at_10x": far.get(10, math.nan),
            "run_id": result.parent_run_id}
