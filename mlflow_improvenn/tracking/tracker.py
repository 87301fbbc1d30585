"""One trainer run in MLflow: its params, summary, tags, artifacts and final status.

Per-epoch metrics go through :class:`~mlflow_improvenn.tracking.background.MetricWriter`, off
the training loop's path; everything here is written once per run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.background import MetricWriter
from mlflow_improvenn.tracking.store import resolve_experiment
from mlflow_improvenn.training.options import ConfigError, option_specs, parse_value

TAG_STOP_REASON = "improvenn.stop_reason"
#: Why a run was ended by someone else than its own training loop.
TAG_ERROR = "improvenn.error"
#: ``parent`` on a run that groups children (a sweep's, the recipe's, a lesson's).
TAG_ROLE = "improvenn.role"
#: The role of a learning-rate range test's run: it trains, but is no training run to diagnose.
ROLE_LR_FIND = "lr_find"
RESOLVED_SUFFIX = "_resolved"
_ENTRY_POINT_TAG = "mlflow.project.entryPoint"  # set by ``mlflow run`` on the runs it launches


class RunTracker:
    """One MLflow run of the trainer: params, metrics, tags, artifacts, final status."""

    def __init__(
        self, run_id: str, experiment_id: str, client: MlflowClient | None = None,
        adopted: bool = False,
    ) -> None:
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.client = client or MlflowClient()
        self.adopted = adopted  # created by someone else (``mlflow run``), who may have logged
        self.metrics = MetricWriter(self.client, run_id)

    @classmethod
    def start(
        cls,
        experiment: str | None,
        run_name: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        default_experiment_id: str | None = None,
    ) -> RunTracker:
        """Start a run, or take over the one ``mlflow run`` created (``MLFLOW_RUN_ID``).

        A run started while another is active in this process (a sweep's parent) is nested
        under it; ``parent_run_id`` nests it under a run of another process. Without an
        ``experiment`` the run goes to ``default_experiment_id`` when given (a resumed run
        beside the one it continues), else to MLflow's active or default experiment.
        """
        launched_by_project = "MLFLOW_RUN_ID" in os.environ
        experiment_id = resolve_experiment(experiment)
        if experiment_id is None and not launched_by_project:
            experiment_id = default_experiment_id
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=None if launched_by_project else run_name,
            nested=mlflow.active_run() is not None,
            parent_run_id=parent_run_id,
            tags=dict(tags or {}),
        )
        if launched_by_project:
            mlflow.set_tag("mlflow.runName", run_name)
        return cls(run.info.run_id, run.info.experiment_id, adopted=launched_by_project)

    def log_params(self, params: Mapping[str, str]) -> None:
        log_params(self.client, self.run_id, params, logged_before=self.adopted)

    def log_summary(self, metrics: Mapping[str, float], step: int, tags: Mapping[str, str]) -> None:
        """End-of-run metrics and tags, in one call."""
        timestamp = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, float(v), timestamp, step) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )

    def log_artifacts(self, directory: Path) -> None:
        self.client.log_artifacts(self.run_id, str(directory))

    def end(self, status: str) -> None:
        """End the run with ``status`` (FINISHED, FAILED or KILLED)."""
        mlflow.end_run(status)


def download_checkpoint(run_id: str, directory: Path) -> tuple[Path, str]:
    """The run's ``checkpoints/last.pt``, else its ``best.pt``, downloaded to ``directory``,
    and the id of the run's experiment (where its continuation belongs)."""
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        experiment_id = client.get_run(run_id).info.experiment_id
        names = {a.path for a in client.list_artifacts(run_id, "checkpoints")}
    except MlflowException as error:
        raise ConfigError("resume_from", f"no run {run_id!r}: {error.message}") from error
    for name in ("checkpoints/last.pt", "checkpoints/best.pt"):
        if name in names:
            return Path(client.download_artifacts(run_id, name, str(directory))), experiment_id
    raise ConfigError("resume_from", f"run {run_id} has no checkpoints/last.pt or best.pt")


def fail_launched_run(why: str) -> None:
    """End the run ``mlflow run`` created FAILED, tagged with why its options were refused.

    The launcher creates the run before the entry point can check a single option, so it
    cannot be avoided; it can say why it holds nothing. (Deleting it is not an option: the
    launcher ends it afterwards and fails on a deleted run.)
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    client = MlflowClient()
    run = client.get_run(run_id)
    if run.info.status != "RUNNING" or _ENTRY_POINT_TAG not in run.data.tags:
        return  # a run someone else pointed MLFLOW_RUN_ID at: not ours to end
    client.set_tag(run_id, TAG_ERROR, why)
    client.set_terminated(run_id, "FAILED")


def log_params(
    client: MlflowClient, run_id: str, params: Mapping[str, str], logged_before: bool = True
) -> None:
    """Log resolved values, leaving alone what ``mlflow run`` already logged equivalently.

    MLflow refuses to change a logged param. Where the launcher logged a request such as
    ``device=auto`` and the run resolved it to ``cpu``, the resolved value is logged as
    ``device_resolved``. ``logged_before=False`` (a run just created here) skips reading the
    run's params back: one store round trip less per run.
    """
    existing = client.get_run(run_id).data.params if logged_before else {}
    to_log = []
    for key, value in params.items():
        if key not in existing:
            to_log.append(Param(key, value))
        elif not _equivalent(key, existing[key], value):
            to_log.append(Param(key + RESOLVED_SUFFIX, value))
    for start in range(0, len(to_log), 100):
        client.log_batch(run_id, params=to_log[start:start + 100])


def _equivalent(key: str, logged: str, value: str) -> bool:
    if logged == value:
        return True
    if key not in option_specs():
        return False
    try:
        return parse_value(key, logged) == parse_value(key, value)
    except ConfigError:
        return False
