"""The lessons' results as Markdown: the table the README carries, made by code, not by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from mlflow_improvenn.lessons.runner import LessonResult

#: Result column to Markdown header; ``epochs_to_target`` only where a lesson has a target.
_HEADERS = {
    "variation": "run", "diagnosis": "regime diagnosed", "variance_interval": "variance (95% CI)",
    "verdict": "learning curve says", "n_train": "train rows", "train_error": "train error",
    "dev_error": "dev error", "last_slope": "dev change per doubling of rows",
    "dev_at_2x": "dev at 2x rows (power law)", "dev_at_10x": "dev at 10x rows",
    "test_error": "test error", "dev_loss": "dev loss",
    "test_loss": "test loss", "best_epoch": "best epoch", "stopped_epoch": "epochs trained",
    "epochs_to_target": "epochs to dev loss target",
}


def markdown_table(table: pd.DataFrame) -> str:
    """One lesson's results as a Markdown table (errors and losses to 3 decimals).

    >>> print(markdown_table(pd.DataFrame({"variation": ["a"], "dev_error": [0.1234]})))
    | run | dev error |
    | --- | --- |
    | a | 0.123 |
    """
    if {"variance", "variance_low", "variance_high"} <= set(table.columns):
        table = table.assign(variance_interval=[
            _interval(v, low, high) for v, low, high in
            zip(table["variance"], table["variance_low"], table["variance_high"], strict=True)
        ])
    columns = [c for c in _HEADERS if c in table and not table[c].isna().all()]
    lines = ["| " + " | ".join(_HEADERS[c] for c in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def _interval(value: float, low: float, high: float) -> str:
    """``0.120 [0.051, 0.190]``; the value alone where no interval is known."""
    if value is None or math.isnan(value):
        return "-"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def lessons_markdown(results: Sequence[LessonResult], header: str) -> str:
    """Every lesson's question, set-up and table under ``header`` (a paragraph of Markdown)."""
    parts = [header]
    for result in results:
        lesson = result.lesson
        target = (f" Dev loss target: {lesson.dev_loss_target:g}."
                  if lesson.dev_loss_target is not None else "")
        parts += [
            f"### `{lesson.name}`",
            f"{lesson.question}{target} Set-up: {_setup(lesson.base)}.",
            markdown_table(result.table),
        ]
    return "\n\n".join(parts) + "\n"


def _setup(base: object) -> str:
    from mlflow_improvenn.training.options import format_value

    return ", ".join(f"`{k}={format_value(v)}`" for k, v in dict(base).items())
