"""``improvenn diagnose`` and ``improvenn curves``: parse, call the library, render.

Nothing heavy is imported at module level, so ``--help`` stays fast and never loads torch.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCES, Scale

_TABLE_COLUMNS = {
    "experiment": "experiment",
    "run_name": "run",
    "scale": "scale",
    "train_error": "train",
    "dev_error": "dev",
    "baseline_error": "baseline",
    "avoidable_bias": "bias",
    "variance": "variance",
    "variance_interval": "variance CI",
    "diagnosis": "diagnosis",
    "recommendation": "next step",
}
_WORDS = ("experiment", "run_name", "scale", "variance_interval", "diagnosis", "recommendation")
_SCALES = ", ".join(scale.value for scale in Scale)
_NON_NEGATIVE = click.FloatRange(min=0.0)


class BaselineType(click.ParamType):
    """``auto`` or a number from 0 to 1 (an error rate, or a share of unexplained variance)."""

    name = "auto|NUMBER"

    def convert(self, value: Any, param: Any, ctx: Any) -> float | str:
        if isinstance(value, float) or value == "auto":
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor a number", param, ctx)
        if not 0 <= number <= 1:  # NaN fails too
            self.fail(f"{value!r} is not a number from 0 to 1 (a rate)", param, ctx)
        return number


class ToleranceType(click.ParamType):
    """``NUMBER`` (the error-rate scale's) or ``SCALE=NUMBER``; numbers finite and >= 0."""

    name = "[SCALE=]NUMBER"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        scale, _, number = value.rpartition("=")
        scale = scale or Scale.ERROR_RATE.value
        if scale not in {s.value for s in Scale}:
            self.fail(f"{scale!r} is not a scale; the scales are: {_SCALES}", param, ctx)
        try:
            amount = float(number)
        except ValueError:
            self.fail(f"{number!r} is not a number", param, ctx)
        if not (math.isfinite(amount) and amount >= 0):
            self.fail(f"{number!r} is not a finite number >= 0", param, ctx)
        return scale, amount


def judging_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--baseline-error`` and ``--tolerance`` as the commands that train and then judge
    (the recipe, the learning curve) take them: the error-rate scale's."""
    command = click.option(
        "--tolerance", type=click.FloatRange(min=0), default=None,
        help="A gap of error rate above this (and beyond noise) is high (default 0.02).",
    )(command)
    return click.option(
        "--baseline-error", type=BaselineType(), default="auto", show_default=True,
        help="Bayes (or human-level) error that bias is measured against; auto: the run's "
        "logged bayes_error (generated data sets), else 0.",
    )(command)


@click.command()
@click.option("--experiment", "experiments", multiple=True, metavar="NAME_OR_ID",
              help="Experiment to diagnose (repeatable). Default: every active experiment.")
@click.option("--run-id", "run_ids", multiple=True, metavar="ID",
              help="Only this run (repeatable).")
@click.option("--filter", "filter_string", default=None, metavar="MLFLOW_FILTER",
              help="MLflow search filter, e.g. \"params.dropout = '0.2'\".")
@click.option("--baseline-error", type=BaselineType(), default="auto", show_default=True,
              help="Bayes (or human-level) error on the run's scale; auto: the run's logged "
              "bayes_error (generated data sets), else 0.")
@click.option("--baseline-loss", type=_NON_NEGATIVE, default=None,
              help="Best possible loss, for runs judged on their losses (else their bias is "
              "unknown).")
@click.option("--tolerance", "tolerances", type=ToleranceType(), multiple=True,
              help="A gap above this (and beyond sampling noise) is high. NUMBER sets the "
              "error-rate scale's, SCALE=NUMBER any scale's (repeatable). Defaults: "
              + ", ".join(f"{k.value}={v:g}" for k, v in DEFAULT_TOLERANCES.items()) + ".")
@click.option("--train-metric", default=None, help="Train metric to use instead of detecting it.")
@click.option("--dev-metric", default=None, help="Dev metric to use (with --train-metric).")
@click.option("--metric-kind", type=click.Choice(["accuracy", "error", "r2", "loss"]),
              default=None, help="What --train-metric/--dev-metric hold, where the names do "
              "not say.")
@click.option("--n-train", type=click.IntRange(min=1), default=None,
              help="Train split size, for runs that did not log n_train (other tools').")
@click.option("--n-dev", type=click.IntRange(min=1), default=None,
              help="Dev split size, for runs that did not log n_dev: without it no noise "
              "interval is known.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Confidence of the noise intervals.")
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
    baseline_error: float | str, baseline_loss: float | None,
    tolerances: tuple[tuple[str, float], ...], train_metric: str | None,
    dev_metric: str | None, metric_kind: str | None, n_train: int | None, n_dev: int | None,
    confidence: float, output_format: str, tag: bool, plot: Path | None, curves: bool,
    tracking_uri: str | None,
) -> None:
    """Diagnose bias versus variance for MLflow runs, by the basic recipe for ML.

    avoidable bias = train error - baseline error; variance = dev error - train error, each
    high only above its tolerance and beyond the sampling noise of the splits.
    """
    if (train_metric is None) != (dev_metric is None):
        raise click.UsageError("give --train-metric and --dev-metric together")
    if metric_kind is not None and train_metric is None:
        raise click.UsageError("--metric-kind says what --train-metric/--dev-metric hold: "
                               "give them too")
    if plot is not None:
        _check_writable(plot, "'--plot'")  # before any run is read or tagged
    from mlflow_improvenn.cli.session import check_given_store
    from mlflow_improvenn.diagnosis.report import diagnose as run_diagnosis

    check_given_store(tracking_uri)

    try:
        frame = run_diagnosis(
            list(experiments), list(run_ids), filter_string, baseline_error, dict(tolerances),
            tracking_uri, train_metric=train_metric, dev_metric=dev_metric,
            metric_kind=metric_kind, baseline_loss=baseline_loss, n_train=n_train, n_dev=n_dev,
            confidence=confidence, curves=curves, tag=tag,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(render(frame, output_format))
    if output_format == "table":
        _learning_curves(experiments, run_ids, baseline_error, tolerances, tracking_uri)
    if plot is not None:
        from mlflow_improvenn.diagnosis.bias_variance_map import draw_map

        with _reported_as_file_error(plot):
            draw_map(frame, plot)
        click.echo(f"Bias-variance map written to {plot}", err=True)


def _learning_curves(experiments: tuple[str, ...], run_ids: tuple[str, ...],
                     baseline_error: float | str, tolerances: tuple[tuple[str, float], ...],
                     tracking_uri: str | None) -> None:
    """The verdicts of the learning-curve parents selected (``improvenn learning-curve``)."""
    from mlflow_improvenn.diagnosis.curve_runs import diagnose_learning_curves

    tolerance = dict(tolerances)
    frame = diagnose_learning_curves(list(experiments), list(run_ids), baseline_error,
                                     tolerance.get("error_rate"), tracking_uri)
    for row in frame.itertuples():
        click.echo(f"Learning curve {row.run_id}: {row.verdict} ({row.reason}); at "
                   f"{row.n_train} rows train {row.train:.4f}, dev {row.dev:.4f}, "
                   f"{row.last_slope:+.4f} per doubling; dev at 2x {row.dev_at_2x:.4f}, "
                   f"at 10x {row.dev_at_10x:.4f}")


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
        from mlflow_improvenn.tracking.tables import csv_safe

        return csv_safe(frame).to_csv(index=False).rstrip("\n")
    if frame.empty:
        return "No runs matched."
    return _table(frame)


def _table(frame: Any) -> str:
    """Names and words left-aligned, numbers right-aligned to 4 decimals, gaps as '-'.

    The experiment and scale columns appear only where rows differ in them."""
    frame = frame.assign(variance_interval=[
        _interval(low, high) for low, high in zip(frame["variance_low"], frame["variance_high"],
                                                  strict=True)
    ])
    columns = []
    for name, header in _TABLE_COLUMNS.items():
        values = frame[name].tolist()
        if name in ("experiment", "scale") and len(set(values)) < 2:
            continue
        numeric = name not in _WORDS
        cells = [_cell(v, numeric) for v in values]
        width = max(len(header), *(len(c) for c in cells))
        align = str.rjust if numeric else str.ljust
        columns.append([align(header, width)] + [align(c, width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _cell(value: Any, numeric: bool) -> str:
    if numeric:
        return "-" if value is None or math.isnan(value) else f"{value:.4f}"
    from mlflow_improvenn.tracking.tables import printable

    return printable(str(value))


def _interval(low: float, high: float) -> str:
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "-"
    return f"[{low:.3f}, {high:.3f}]"


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
    from mlflow_improvenn.cli.session import check_given_store
    from mlflow_improvenn.diagnosis.curves import curve_frames
    from mlflow_improvenn.tracking import plots
    from mlflow_improvenn.tracking.queries import client_for, get_runs

    _check_writable(output, "'--output'")
    check_given_store(tracking_uri)
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
