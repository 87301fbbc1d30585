"""A learning-curve parent in MLflow: its children read back as points, the verdict logged
on it, and ``diagnose``'s way to find such parents and report them.

The points come from the children themselves (their restored best weights' train and dev
errors, or 1 - R^2 for regression, and their ``n_train``/``n_dev``/``bayes_error`` params),
so the parent's verdict can be read again with another baseline or tolerance.
"""

from __future__ import annotations

import math
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.learning_curve import CurveVerdict, read_data_curve
from mlflow_improvenn.diagnosis.verdicts import Scale
from mlflow_improvenn.tracking.finder_plots import draw_data_curve
from mlflow_improvenn.tracking.queries import client_for, resolve_experiments
from mlflow_improvenn.tracking.tables import write_csv
from mlflow_improvenn.tracking.tracker import SUMMARY_STEP

#: On a learning curve's parent: ``true``.
TAG_LEARNING_CURVE = "improvenn.learning_curve"
#: On each child: the share of the train rows it trained on.
TAG_SHARE = "improvenn.train_share"
TAG_VERDICT = "improvenn.learning_curve_verdict"
TAG_REASON = "improvenn.learning_curve_reason"
PLOT = "plots/learning_curve.png"
POINTS = "learning_curve/points.csv"
POINT_COLUMNS = ["fraction", "n_train", "n_dev", "train", "dev", "scale", "bayes_error",
                 "run_id"]
_LABELS = {Scale.ERROR_RATE: "error rate",
           Scale.UNEXPLAINED_VARIANCE: "unexplained variance (1 - R^2)"}


def points_of(client: MlflowClient, parent_run_id: str) -> pd.DataFrame:
    """One row per child of the parent (:data:`POINT_COLUMNS`), by growing ``n_train``."""
    parent = client.get_run(parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
        max_results=1000,
    )
    rows = [_point(run) for run in children if TAG_SHARE in run.data.tags]
    return pd.DataFrame(rows, columns=POINT_COLUMNS).sort_values("n_train", ignore_index=True)


def _point(run) -> dict:
    metrics, params = run.data.metrics, run.data.params
    if "best_dev_error" in metrics:
        scale, train, dev = Scale.ERROR_RATE, metrics.get("best_train_error"), metrics[
            "best_dev_error"]
    else:
        scale = Scale.UNEXPLAINED_VARIANCE
        train, dev = (1 - metrics[k] if k in metrics else math.nan
                      for k in ("best_train_r2", "best_dev_r2"))
    return {
        "fraction": float(run.data.tags[TAG_SHARE]), "n_train": int(params["n_train"]),
        "n_dev": int(params["n_dev"]), "train": train, "dev": dev, "scale": scale.value,
        "bayes_error": float(params.get("bayes_error", "nan")), "run_id": run.info.run_id,
    }


def read_curve(
    client: MlflowClient, parent_run_id: str, baseline_error: float | str = "auto",
    tolerance: float | None = None,
) -> tuple[pd.DataFrame, CurveVerdict]:
    """The parent's points and their verdict. ``baseline_error`` ``auto``: the Bayes error
    the children logged (generated data sets), else none.

    Raises:
        ValueError: fewer than 3 children that finished with values.
    """
    points = points_of(client, parent_run_id)
    scale = Scale(points["scale"].iloc[0]) if len(points) else Scale.ERROR_RATE
    verdict = read_data_curve(points["n_train"], points["train"], points["dev"],
                              int(points["n_dev"].max()) if len(points) else 0, scale,
                              _baseline(points, baseline_error), tolerance)
    return points, verdict


def _baseline(points: pd.DataFrame, baseline_error: float | str) -> float | None:
    if baseline_error != "auto":
        return float(baseline_error)
    known = points["bayes_error"].dropna()
    return float(known.iloc[0]) if len(known) and points["scale"].iloc[0] == "error_rate" else None


def log_curve(
    client: MlflowClient, parent_run_id: str, baseline_error: float | str = "auto",
    tolerance: float | None = None,
) -> tuple[pd.DataFrame, CurveVerdict]:
    """Read the curve, then log on the parent its metrics (``step`` = rows), verdict tags,
    plot and points table. Returns what :func:`read_curve` returns."""
    points, verdict = read_curve(client, parent_run_id, baseline_error, tolerance)
    now = int(time.time() * 1000)
    metrics = [Metric(f"learning_curve_{split}", float(value), now, int(n))
               for split in ("train", "dev")
               for n, value in zip(points["n_train"], points[split], strict=True)]
    last = int(points["n_train"].iloc[-1])
    metrics.append(Metric("learning_curve_last_slope", verdict.last_slope, now, SUMMARY_STEP))
    for far in verdict.extrapolations:
        times = far.n_train // last
        metrics += [Metric(f"learning_curve_dev_at_{times}x{suffix}", value, now, far.n_train)
                    for suffix, value in (("", far.dev), ("_low", far.low), ("_high", far.high))]
    client.log_batch(parent_run_id, metrics=metrics, tags=[
        RunTag(TAG_VERDICT, verdict.verdict.value), RunTag(TAG_REASON, verdict.reason)])
    with tempfile.TemporaryDirectory(prefix="improvenn-curve-") as folder:
        root = Path(folder)
        (root / "plots").mkdir()
        (root / "learning_curve").mkdir()
        write_csv(points, root / POINTS)
        scale = Scale(points["scale"].iloc[0])
        draw_curve(verdict, root / PLOT, _LABELS[scale], _baseline(points, baseline_error))
        client.log_artifacts(parent_run_id, folder)
    return points, verdict


def draw_curve(verdict: CurveVerdict, path: Path, ylabel: str, baseline: float | None) -> None:
    """The two curves with their bands, the baseline and the extrapolated dev error."""
    def band(split: str):
        estimates = [getattr(point, split) for point in verdict.points]
        value = [e.value for e in estimates]
        return value, [_or(e.low, v) for e, v in zip(estimates, value, strict=True)], [
            _or(e.high, v) for e, v in zip(estimates, value, strict=True)]

    extrapolated = {e.n_train: (e.dev, e.low, e.high) for e in verdict.extrapolations}
    title = textwrap.fill(f"{verdict.verdict.value.replace('_', ' ')}: {verdict.reason}", 80)
    draw_data_curve(verdict.n_train, {"train": band("train"), "dev": band("dev")}, path, title,
                    ylabel, baseline, extrapolated)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


CURVE_COLUMNS = ["run_id", "verdict", "reason", "n_train", "train", "dev", "last_slope",
                 "dev_at_2x", "dev_at_10x"]


def diagnose_learning_curves(
    experiment_names: Sequence[str] | None = None,
    run_ids: Sequence[str] = (),
    baseline_error: float | str = "auto",
    tolerance: float | None = None,
    tracking_uri: str | None = None,
) -> pd.DataFrame:
    """One row per learning-curve parent among ``run_ids`` (or in the experiments, every
    active one when none named): its verdict read again from its children
    (:data:`CURVE_COLUMNS`; ``train``/``dev`` at the most rows)."""
    client = client_for(tracking_uri)
    if run_ids:
        parents = [r for r in run_ids
                   if client.get_run(r).data.tags.get(TAG_LEARNING_CURVE) == "true"]
    else:
        found = client.search_runs(resolve_experiments(client, experiment_names),
                                   f"tags.`{TAG_LEARNING_CURVE}` = 'true'", max_results=1000)
        parents = [run.info.run_id for run in found]
    rows = []
    for parent in parents:
        points, verdict = read_curve(client, parent, baseline_error, tolerance)
        far = {e.n_train // int(points["n_train"].iloc[-1]): e.dev for e in verdict.extrapolations}
        rows.append({"run_id": parent, "verdict": verdict.verdict.value, "reason": verdict.reason,
                     "n_train": int(points["n_train"].iloc[-1]), "train": points["train"].iloc[-1],
                     "dev": points["dev"].iloc[-1], "last_slope": verdict.last_slope,
                     "dev_at_2x": far.get(2, math.nan), "dev_at_10x": far.get(10, math.nan)})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)
