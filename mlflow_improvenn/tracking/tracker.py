"""One trainer run in MLflow: its params, summary, tags, artifacts and final status.

Per-epoch metrics go through :class:`~mlflow_improvenn.tracking.background.MetricWriter`, off
the training loop's path; everything here is written once per run.

One start, one run: MLflow's HTTP client retries every request that times out, POSTs
included, so a server that created a run but answered too late gets a second
``runs/create``; the client goes on with the second run and the first stays RUNNING and
empty. Every run started here carries ``improvenn.launch_id``, an id of that one start, and
after the start (and again at the end, for a server slow enough to commit the first run
after answering the retry) the other runs holding it are ended FAILED, with
``improvenn.error`` saying why, and deleted (:func:`remove_duplicates`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.background import Heartbeat, MetricWriter, process_tags
from mlflow_improvenn.tracking.store import resolve_experiment
from mlflow_improvenn.training.interrupts import interrupts_held
from mlflow_improvenn.training.options import ConfigError, option_specs, parse_value

TAG_STOP_REASON = "improvenn.stop_reason"
#: Why a run was ended by someone else than its own training loop.
TAG_ERROR = "improvenn.error"
#: ``parent`` on a run that groups children (a sweep's, the recipe's, a lesson's).
TAG_ROLE = "improvenn.role"
#: The role of a learning-rate range test's run: it trains, but is no training run to diagnose.
ROLE_LR_FIND = "lr_find"
#: An id of one start of a run: a twin holding it was made by a retried request.
TAG_LAUNCH = "improvenn.launch_id"
_RETRYING_SCHEMES = ("http://", "https://")  # local stores do not retry
RESOLVED_SUFFIX = "_resolved"
#: The step of the one-value summary metrics (``best_*``, ``test_*``, ``stopped_epoch``...).
SUMMARY_STEP = 0
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
        self.heartbeat = Heartbeat(self.client, run_id)
        self.ended = False
        self.launch_id: str | None = None

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

        The run is tagged with its process and keeps a heartbeat (``tracking/liveness.py``).
        A run started while another is active in this process (a sweep's parent) is nested
        under it; ``parent_run_id`` nests it under a run of another process. Without an
        ``experiment`` the run goes to ``default_experiment_id`` when given (a resumed run
        beside the one it continues), else to MLflow's active or default experiment.
        """
        launched_by_project = "MLFLOW_RUN_ID" in os.environ
        experiment_id = resolve_experiment(experiment)
        if experiment_id is None and not launched_by_project:
            experiment_id = default_experiment_id
        launch = {} if launched_by_project else launch_tags()
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=None if launched_by_project else run_name,
            nested=mlflow.active_run() is not None,
            parent_run_id=parent_run_id,
            tags={**(tags or {}), **process_tags(), **launch},
        )
        if launched_by_project:
            mlflow.set_tag("mlflow.runName", run_name)
        tracker = cls(run.info.run_id, run.info.experiment_id, adopted=launched_by_project)
        tracker.launch_id = launch.get(TAG_LAUNCH)
        remove_duplicates(tracker.client, tracker.run_id, tracker.experiment_id, tracker.launch_id)
        return tracker

    def log_params(self, params: Mapping[str, str]) -> None:
        log_params(self.client, self.run_id, params, logged_before=self.adopted)

    def log_summary(self, metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
        """End-of-run metrics and tags, in one call. The metrics are logged at step 0 (each
        has one value): the MLflow UI then shows them as values, where at the last epoch's
        step its charts drew them as lone dots far out on the epoch axis."""
        timestamp = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, float(v), timestamp, SUMMARY_STEP) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )

    def log_artifacts(self, directory: Path) -> None:
        self.client.log_artifacts(self.run_id, str(directory))

    def end(self, status: str, stop_reason: str | None = None) -> None:
        """End the run with ``status`` (FINISHED, FAILED or KILLED), tagged with
        ``stop_reason`` when given, as one step that Ctrl-C cannot cut (see
        :func:`end_run`). Raises what the store raises; ``ended`` tells whether it ended."""
        self.heartbeat.stop()
        end_run(self.run_id, status, self.client, stop_reason)
        self.ended = True
        remove_duplicates(self.client, self.run_id, self.experiment_id, self.launch_id)


def end_run(
    run_id: str, status: str, client: MlflowClient | None = None, stop_reason: str | None = None
) -> None:
    """Tag the run's ``stop_reason`` (if given) and end it with ``status``, interrupts held.

    Held because a Ctrl-C in between leaves the run RUNNING or untagged, and one that lands
    inside ``mlflow.end_run`` before it takes the run off the active stack lets MLflow's
    exit hook end it FINISHED. A run that is not the active one is ended through the client.
    """
    client = client or MlflowClient()
    with interrupts_held():
        try:
            if stop_reason is not None:
                client.set_tag(run_id, TAG_STOP_REASON, stop_reason)
        finally:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == run_id:
                mlflow.end_run(status)
            else:
                client.set_terminated(run_id, status)


def launch_tags() -> dict[str, str]:
    """The tag naming one start of a run, for runs started with ``mlflow.start_run``."""
    return {TAG_LAUNCH: uuid.uuid4().hex}


def remove_duplicates(
    client: MlflowClient, run_id: str, experiment_id: str, launch_id: str | None
) -> list[str]:
    """End FAILED and delete the runs of ``experiment_id`` that hold ``launch_id`` but are
    not ``run_id``, and return their ids. Only a server is asked, and best effort: a store
    failing here leaves the run in use alone."""
    if not launch_id or not mlflow.get_tracking_uri().startswith(_RETRYING_SCHEMES):
        return []
    with contextlib.suppress(Exception):
        twins = client.search_runs([experiment_id], f"tags.`{TAG_LAUNCH}` = '{launch_id}'")
        orphans = [run.info.run_id for run in twins if run.info.run_id != run_id]
        for orphan in orphans:
            client.set_tag(orphan, TAG_ERROR,
                           f"duplicate of run {run_id}: made by a retried runs/create")
            client.set_terminated(orphan, "FAILED")
            client.delete_run(orphan)
        return orphans
    return []


def end_open_runs(status: str, stop_reason: str | None = None) -> None:
    """End every run still on MLflow's active stack, innermost first, so that none is left
    for MLflow's exit hook to end FINISHED. Store errors are the caller's to show or not."""
    while (active := mlflow.active_run()) is not None:
        end_run(active.info.run_id, status, stop_reason=stop_reason)


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
    if value in (logged, _shell_unquoted(logged)):
        return True
    if key not in option_specs():
        return False
    try:
        return parse_value(key, logged) == parse_value(key, value)
    except ConfigError:
        return False


def _shell_unquoted(logged: str) -> str:
    """A value as given to ``mlflow run``, which logs each parameter shell-quoted as it goes
    into the command line: ``''`` for an empty value, ``'a b'`` for one with a space."""
    try:
        words = shlex.split(logged)
    except ValueError:  # unbalanced quotes: not something shlex.quote wrote
        return logged
    return words[0] if len(words) == 1 and shlex.quote(words[0]) == logged else logged
