"""The lessons' results as Markdown: the table the README carries, made by code, not by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from mlflow_improvenn.lessons.runner import LessonResult

#: Result column to Markdown header; ``epochs_to_target`` only where a lesson has a target.
_HEADERS = {
    "variation": "run", "diagnosis": "regime diagnosed", "verdict": "learning curve says",
    "n_train": "train rows", "train_error": "train error", "dev_error": "dev error",
    "last_slope": "dev change per doubling of rows", "dev_at_2x": "dev at 2x rows (power law)",
    "dev_at_10x": "dev at 10x rows", "avoidable_bias_interval": "avoidable bias (95% CI)",
    "variance_interval": "variance (95% CI)", "test_error": "test error", "dev_loss": "dev loss",
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
    for gap in ("avoidable_bias", "variance"):
        if {gap, f"{gap}_low", f"{gap}_high"} <= set(table.columns):
            table = table.assign(**{f"{gap}_interval": [
                _interval(*values) for values in
                zip(table[gap], table[f"{gap}_low"], table[f"{gap}_high"], strict=True)
            ]})
    columns = [c for c in _HEADERS if c in table and not table[c].isna().all()]
    lines = ["| " + " | ".join(_HEADERS[c] for c in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    """``0.120 [0.051, 0.190]``; the value alone where no interval is known.

    >>> _interval(-0.0004, -0.0004, 0.0101), _interval(0.02, None, None)
    ('0.000 [0.000, 0.010]', '0.020')
    """
    if _unknown(value):
        return "-"
    if _unknown(low) or _unknown(high):
        return _decimals(value)
    return f"{_decimals(value)} [{_decimals(low)}, {_decimals(high)}]"


def _unknown(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _decimals(value: float) -> str:
    """Three decimals, without the ``-0.000`` of a value that rounds to zero from below."""
    return f"{round(value, 3) + 0.0:.3f}"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else _decimals(value)
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
            f"{lesson.question}{target} Set-up: {_setup(lesson.base)}.{_baseline(result.table)}",
            markdown_table(result.table),
        ]
    return "\n\n".join(parts) + "\n"


def _baseline(table: pd.DataFrame) -> str:
    """The baseline the verdicts were judged against, where all runs share one.

    >>> _baseline(pd.DataFrame({"baseline_error": [0.0809, 0.0809]}))
    ' Baseline (Bayes error): 0.081.'
    """
    values = set(table["baseline_error"].dropna()) if "baseline_error" in table else set()
    return f" Baseline (Bayes error): {values.pop():.3f}." if len(values) == 1 else ""


def _setup(base: object) -> str:
    from mlflow_improvenn.training.options import format_value

    return ", ".join(f"`{k}={format_value(v)}`" for k, v in dict(base).items())


def parse_tables(markdown: str) -> dict[str, pd.DataFrame]:
    """The tables of :func:`lessons_markdown` read back, by lesson name, with the result
    columns they came from (an interval cell ``0.120 [0.051, 0.190]`` gives three; ``-`` is
    NaN), so the published numbers can be checked against the lessons' stories.

    >>> table = pd.DataFrame({"variation": ["a"], "diagnosis": ["good_fit"], "variance": [0.1],
    ...                       "variance_low": [-0.05], "variance_high": [0.2]})
    >>> parsed = parse_tables("### `x`\\n\\n" + markdown_table(table))["x"]
    >>> parsed.at[0, "variation"], parsed[["variance", "variance_low"]].iloc[0].tolist()
    ('a', [0.1, -0.05])
    """
    columns = {header: column for column, header in _HEADERS.items()}
    tables = {}
    for section in ("\n" + markdown).split("\n### `")[1:]:
        rows = [line.strip("| ").split(" | ") for line in section.splitlines()
                if line.startswith("| ")]
        frame = pd.DataFrame(rows[2:], columns=[columns[h] for h in rows[0]])
        tables[section.split("`", 1)[0]] = _numbers(frame)
    return tables


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells of a parsed table as numbers; an interval column split into its three."""
    for column in list(frame.columns):
        if column.endswith("_interval"):
            gap = column.removesuffix("_interval")
            values = [_read_interval(cell) for cell in frame.pop(column)]
            for i, part in enumerate((gap, f"{gap}_low", f"{gap}_high")):
                frame[part] = [value[i] for value in values]
        elif column not in ("variation", "diagnosis"):
            frame[column] = [_read_number(cell) for cell in frame[column]]
    return frame


def _read_number(cell: str) -> float:
    return math.nan if cell == "-" else float(cell)


def _read_interval(cell: str) -> tuple[float, float, float]:
    value, _, interval = cell.partition(" [")
    low, _, high = interval.rstrip("]").partition(", ")
    return _read_number(value), _read_number(low or "-"), _read_number(high or "-")
