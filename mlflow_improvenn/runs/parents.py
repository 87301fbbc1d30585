"""A parent run whose children one compares: what the recipe and the lesson projects share.

Both train several child runs under one parent, then leave on the parent what a person wants
to read first: the diagnosis table of the children (from :func:`diagnose`), their learning
curves on shared axes and their places on the bias-variance map. A sweep's parent holds the
same table and map.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
import pandas as pd

from mlflow_improvenn.diagnosis.bias_variance_map import draw_map
from mlflow_improvenn.diagnosis.report import diagnose
from mlflow_improvenn.runs.training_run import TrainOutcome, train
from mlflow_improvenn.tracking.background import Heartbeat, process_tags
from mlflow_improvenn.tracking.plots import learning_curves
from mlflow_improvenn.tracking.store import resolve_experiment
from mlflow_improvenn.tracking.tables import write_csv
from mlflow_improvenn.tracking.tracker import (
    TAG_LAUNCH,
    TAG_ROLE,
    end_run,
    launch_tags,
    remove_duplicates,
)
from mlflow_improvenn.training.early_stopping import StopReason
from mlflow_improvenn.training.options import TrainConfig


@contextlib.contextmanager
def parent_run(
    run_name: str, experiment: str | None = None, tags: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start the parent (or take over the run ``mlflow run`` made) and yield its id.

    Runs trained inside the block nest under it. An exception ends it FAILED, an interrupt
    KILLED, so an unfinished comparison never looks finished in the UI. It is tagged with its
    process, keeps a heartbeat and has no twin from a retried request, as trainer runs do
    (``tracking/liveness.py``, ``tracking/tracker.py``). Under
    ``mlflow run`` the launcher's experiment wins, as for the trainer.
    """
    launch = launch_tags()
    run = mlflow.start_run(
        experiment_id=resolve_experiment(experiment),
        run_name=run_name,
        nested=mlflow.active_run() is not None,
        tags={**(tags or {}), TAG_ROLE: "parent", **process_tags(), **launch},
    )
    run_id, client = run.info.run_id, mlflow.MlflowClient()
    remove_duplicates(client, run_id, run.info.experiment_id, launch[TAG_LAUNCH])
    heartbeat = Heartbeat(client, run_id)
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        heartbeat.stop()
        end_run(run_id, status)


def train_child(config: TrainConfig, tags: Mapping[str, str]) -> TrainOutcome:
    """Train one child under the active parent. An interrupted child is logged KILLED like
    any run, then the interrupt goes on, so it stops the loop and the parent ends KILLED."""
    outcome = train(config, tags=tags)
    if outcome.stop_reason is StopReason.INTERRUPTED:
        raise KeyboardInterrupt
    return outcome


def log_comparison(
    parent_run_id: str,
    outcomes: Mapping[str, TrainOutcome],
    folder: str,
    title: str,
    baseline_error: float | str = "auto",
    tolerance: float | None = None,
) -> pd.DataFrame:
    """Diagnose the children, tag them, and log the table and two figures on the parent.

    ``outcomes`` maps a label (the legend of the curves) to a child's outcome. Returns the
    diagnosis table, one row per child in the order given.
    """
    run_ids = [outcome.run_id for outcome in outcomes.values()]
    with tempfile.TemporaryDirectory(prefix="improvenn-parent-") as directory:
        root = Path(directory) / folder
        root.mkdir(parents=True)
        table = write_diagnosis(run_ids, root, title, baseline_error, tolerance)
        learning_curves(
            {label: o.history for label, o in outcomes.items()},
            root / "learning_curves.png",
            best_epochs={label: o.best_epoch for label, o in outcomes.items()},
            title=title,
        )
        mlflow.MlflowClient().log_artifacts(parent_run_id, directory)
    return table


def write_diagnosis(
    run_ids: list[str],
    folder: Path,
    title: str,
    baseline_error: float | str = "auto",
    tolerance: float | None = None,
) -> pd.DataFrame:
    """Diagnose and tag the children (baseline and tolerance as
    :func:`~mlflow_improvenn.diagnosis.report.diagnose` takes them); write ``diagnosis.csv``
    (one row per run, in the order given) and ``bias_variance_map.png`` into ``folder``.
    Returns the table."""
    table = diagnose(run_ids=run_ids, baseline_error=baseline_error, tolerance=tolerance, tag=True)
    table = table.set_index("run_id").loc[run_ids].reset_index()
    write_csv(table, folder / "diagnosis.csv")
    draw_map(table, folder / "bias_variance_map.png", title=title)
    return table


def log_table(parent_run_id: str, table: pd.DataFrame, artifact_path: str) -> None:
    """Log ``table`` as a CSV artifact at ``artifact_path`` (e.g. ``recipe/steps.csv``)."""
    with tempfile.TemporaryDirectory(prefix="improvenn-table-") as directory:
        path = Path(directory) / Path(artifact_path).name
        write_csv(table, path)
        folder = str(Path(artifact_path).parent)
        client = mlflow.MlflowClient()
        client.log_artifact(parent_run_id, str(path), None if folder == "." else folder)
