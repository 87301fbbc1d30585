"""Everything the trainer writes to MLflow, and nothing else.

Per-epoch metrics go into an in-memory buffer that a background thread writes with
``log_batch`` about once a second, so store latency never sits on the training loop's
path; :meth:`RunTracker.close` writes the rest and waits, so every metric is durable
before the run ends. (One synchronous ``log_metrics`` per epoch doubles a 300-epoch run on
small data; MLflow's own async mode writes one call at a time.)
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_improvenn.config import ConfigError, option_specs, parse_value

TAG_STOP_REASON = "improvenn.stop_reason"
#: Why a run was ended by someone else than its own training loop.
TAG_ERROR = "improvenn.error"
RESOLVED_SUFFIX = "_resolved"
_MLFLOW_BATCH_LIMIT = 1000
_SQLITE_PREFIX = "sqlite:///"
_ENTRY_POINT_TAG = "mlflow.project.entryPoint"  # set by ``mlflow run`` on the runs it launches


class MetricWriter:
    """Buffers metrics and writes them from a background thread, in order, without loss."""

    def __init__(self, client: MlflowClient, run_id: str, interval_s: float = 1.0) -> None:
        self._client = client
        self._run_id = run_id
        self._interval_s = interval_s
        self._pending: list[Metric] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="improvenn-metrics", daemon=True)
        self._thread.start()

    def add(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue ``metrics`` at ``step``; returns at once."""
        timestamp = int(time.time() * 1000)
        batch = [Metric(k, float(v), timestamp, step) for k, v in metrics.items()]
        with self._lock:
            self._pending.extend(batch)

    def close(self) -> None:
        """Stop the thread and write everything still queued; raises if the store fails."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._write_pending()

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self._interval_s)
            if self._closing:
                return
            with contextlib.suppress(Exception):  # metrics stay queued; close() tries again
                self._write_pending()

    def _write_pending(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        for start in range(0, len(batch), _MLFLOW_BATCH_LIMIT):
            chunk = batch[start:start + _MLFLOW_BATCH_LIMIT]
            try:
                self._client.log_batch(self._run_id, metrics=chunk)
            except BaseException:
                with self._lock:  # put back what was not written, ahead of newer metrics
                    self._pending[:0] = batch[start:]
                raise


class LatestFileUploader:
    """Uploads the newest version of one file as an artifact, in the background.

    Used for ``checkpoints/last.pt``, rewritten every epoch: uploads happen at most every
    ``interval_s`` and only of the latest version, so a fast loop never waits on the store.
    """

    def __init__(self, client: MlflowClient, run_id: str, path: Path, artifact_dir: str,
                 interval_s: float = 1.0) -> None:
        self._client = client
        self._run_id = run_id
        self._path = path
        self._artifact_dir = artifact_dir
        self._interval_s = interval_s
        self._changed = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="improvenn-upload", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        self._changed.set()

    def close(self) -> None:
        """Stop at once; the final version goes up with the run's other files."""
        self._closing.set()
        self._changed.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._closing.is_set():
            self._changed.wait()
            if self._closing.is_set():
                return
            with contextlib.suppress(Exception):  # retried on the next change or at the end
                self._upload_latest()
            self._closing.wait(self._interval_s)  # at most one upload an interval

    def _upload_latest(self) -> None:
        if not self._path.exists():
            return
        self._changed.clear()
        try:
            self._client.log_artifact(self._run_id, str(self._path), self._artifact_dir)
        except BaseException:
            self._changed.set()
            raise


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


def sqlite_file(uri: str) -> Path | None:
    """The database file of a local sqlite tracking URI; None for any other store."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(_SQLITE_PREFIX).split("?", 1)[0])


def prepare_store() -> None:
    """Create (or open) a local sqlite tracking store while holding a lock on its folder.

    MLflow creates and migrates a store's tables on first use; two processes doing that at
    once, such as two sweeps started together in a fresh folder, leave it half-migrated
    (seen with MLflow 3.17). Under the lock the second one finds the tables made. Other
    stores, and systems without ``fcntl``, are left to MLflow.
    """
    database = sqlite_file(mlflow.get_tracking_uri())
    if database is None:
        return
    try:
        import fcntl
    except ImportError:
        return
    descriptor = os.open(database.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        mlflow.search_experiments(max_results=1)
    finally:
        os.close(descriptor)  # releases the lock


def resolve_experiment(experiment: str | None) -> str | None:
    """The id of the experiment named ``experiment`` (created if missing); None to leave the
    choice to MLflow (the active or default experiment, or the one ``mlflow run`` chose).

    Callers pass the id to ``start_run`` explicitly: when two processes create the same
    experiment at once, the loser's ``set_experiment`` returns it but leaves MLflow's active
    experiment unset, and its run would land in Default (seen with MLflow 3.17).
    """
    if not experiment or "MLFLOW_RUN_ID" in os.environ:
        return None
    return mlflow.set_experiment(experiment).experiment_id


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


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, fit to print or log."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _equivalent(key: str, logged: str, value: str) -> bool:
    if logged == value:
        return True
    if key not in option_specs():
        return False
    try:
        return parse_value(key, logged) == parse_value(key, value)
    except ConfigError:
        return False
