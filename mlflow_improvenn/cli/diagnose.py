"""``improvenn diagnose`` and ``improvenn curves``: parse, call the library, render.

Nothing heavy is imported at module level, so ``--help`` stays fast and never loads torch.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCE

_TABLE_COLUMNS = {
    "run_name": "run",
    "train_error": "train",
    "dev_error": "dev",
    "avoidable_bias": "bias",
    "variance": "variance",
    "diagnosis": "diagnosis",
    "recommendation": "next step",
}

_NON_NEGATIVE = click.FloatRange(min=0.0)


@click.command()
@click.option("--experiment", "experiments", multiple=True, metavar="NAME_OR_ID",
              help="Experiment to diagnose (repeatable). Default: every active experiment.")
@click.option("--run-id", "run_ids", multiple=True, metavar="ID",
              help="Only this run (repeatable).")
@click.option("--filter", "filter_string", default=None, metavar="MLFLOW_FILTER",
              help="MLflow search filter, e.g. \"params.dropout = '0.2'\".")
@click.option("--baseline-error", type=_NON_NEGATIVE, default=0.0, show_default=True,
              help="Human-level or Bayes error (loss units for regression).")
@click.option("--tolerance", type=_NON_NEGATIVE, default=DEFAULT_TOLERANCE, show_default=True,
              help="A gap strictly above this is high (absolute; 0.02 = two points of error).")
@click.option("--train-metric", default=None, help="Train metric to use instead of detecting it.")
@click.option("--dev-metric", default=None, help="Dev metric to use (with --train-metric).")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--tag", is_flag=True,
              help="Write improvenn.diagnosis and improvenn.recommendation onto each run.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the bias-variance map as a PNG here.")
@click.option("--curves/--no-curves", default=True, show_default=True,
              help="Read loss histories where they sharpen the advice (--no-curves: one search).")
@click.option("--tracking-uri", default=None,
              help="MLflow tracking URI. Default: MLflow's (MLFLOW_TRACKING_URI, ...).")
def diagnose(
    experiments: tuple[str, ...], run_ids: tuple[str, ...], filter_string: str | None,
    baseline_error: float, tolerance: float, train_metric: str | None, dev_metric: str | None,
    output_format: str, tag: bool, plot: Path | None, curves: bool, tracking_uri: str | None,
) -> None:
    """Diagnose bias versus variance for MLflow runs, by the basic recipe for ML.

    avoidable bias = train error - baseline error; variance = dev error - train error.
    """
    if (train_metric is None) != (dev_metric is None):
        raise click.UsageError("give --train-metric and --dev-metric together")
    if plot is not None:
        _check_writable(plot, "'--plot'")  # before any run is read or tagged
    from mlflow_improvenn.diagnosis.report import diagnose as run_diagnosis

    try:
        frame = run_diagnosis(
            list(experiments), list(run_ids), filter_string, baseline_error, tolerance,
            tracking_uri, train_metric=train_metric, dev_metric=dev_metric, curves=curves,
            tag=tag,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(render(frame, output_format))
    if plot is not None:
        from mlflow_improvenn.diagnosis.bias_variance_map import draw_map

        with _reported_as_file_error(plot):
            draw_map(frame, plot, tolerance)
        click.echo(f"Bias-variance map written to {plot}", err=True)


def _check_writable(path: Path, param_hint: str) -> None:
    """Refuse an output file that cannot be written, by trying (as root, permissions alone
    say nothing): a usage error up front instead of a traceback after the work is done."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as error:
        raise click.BadParameter(f"cannot write {path}: {error.strerror or error}",
                                 param_hint=param_hint) from error
    if not existed:
        path.unlink()


@contextlib.contextmanager
def _reported_as_file_error(path: Path) -> Iterator[None]:
    """A file that could be written a moment ago but not now (a full disk): one line."""
    try:
        yield
    except OSError as error:
        raise click.FileError(str(path), hint=error.strerror or str(error)) from error


def render(frame: Any, output_format: str) -> str:
    """The DataFrame as a table for people, or JSON/CSV for programs."""
    if output_format == "json":
        return json.dumps([_jsonable(row) for row in frame.to_dict("records")], indent=2)
    if output_format == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if frame.empty:
        return "No runs matched."
    return _table(frame)


def _table(frame: Any) -> str:
    """Names and words left-aligned, numbers right-aligned to 4 decimals, gaps as '-'."""
    columns = []
    for name, header in _TABLE_COLUMNS.items():
        values = frame[name].tolist()
        numeric = name not in ("run_name", "diagnosis", "recommendation")
        cells = [_cell(v, numeric) for v in values]
        width = max(len(header), *(len(c) for c in cells))
        align = str.rjust if numeric else str.ljust
        columns.append([align(header, width)] + [align(c, width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _cell(value: Any, numeric: bool) -> str:
    if numeric:
        return "-" if value is None or math.isnan(value) else f"{value:.4f}"
    return str(value)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """NaN, NA and numpy scalars become what JSON has: null and plain numbers."""
    import pandas as pd

    clean = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        missing = not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)
        infinite = isinstance(value, float) and math.isinf(value)
        clean[key] = None if missing or infinite else value
    return clean


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("learning_curves.png"), show_default=True, help="PNG to write.")
@click.option("--title", default="Learning curves", show_default=True)
@click.option("--tracking-uri", default=None,
              help="MLflow tracking URI. Default: MLflow's (MLFLOW_TRACKING_URI, ...).")
def curves(run_ids: tuple[str, ...], output: Path, title: str, tracking_uri: str | None) -> None:
    """Draw the learning curves of several runs on shared axes (train, dev, learning rate)."""
    from mlflow_improvenn.diagnosis.curves import curve_frames
    from mlflow_improvenn.tracking import plots
    from mlflow_improvenn.tracking.queries import client_for, get_runs

    _check_writable(output, "'--output'")
    try:
        client = client_for(tracking_uri)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    try:
        runs = get_runs(client, list(dict.fromkeys(run_ids)))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'RUN_IDS...'") from error
    without = [run.run_id for run in runs if not _has_losses(run.metrics)]
    if without:
        raise click.BadParameter(
            f"no train and dev loss logged in run(s) {', '.join(without)}",
            param_hint="'RUN_IDS...'",
        )
    frames = curve_frames(client, runs)
    best = {label: int(run.metrics["best_epoch"]) for label, run in zip(frames, runs, strict=True)
            if math.isfinite(run.metrics.get("best_epoch", math.nan))}
    with _reported_as_file_error(output):
        plots.learning_curves(frames, output, best_epochs=best, title=title)
    click.echo(f"Learning curves of {len(runs)} run(s) written to {output}")


def _has_losses(metrics: dict[str, float]) -> bool:
    from mlflow_improvenn.diagnosis.metric_names import CURVE_ALIASES

    return all(any(k in metrics for k in CURVE_ALIASES[c]) for c in ("train_loss", "dev_loss"))
