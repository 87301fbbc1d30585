"""Reading runs from MLflow the cheap way: one paged search, histories only on request.

``MlflowClient.search_runs`` returns each metric's latest value with the run, which is all a
verdict needs for our trainer's runs (they log their summary at the end). Metric histories
cost one call per run and metric (the N+1 pattern), so they are fetched only for the runs that
need them, from a thread pool, since each call mostly waits on the store or the server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import mlflow
from mlflow.entities import Metric, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.store import sqlite_file
from mlflow_improvenn.tracking.tracker import TAG_STOP_REASON

PAGE_SIZE = 10_000
#: Threads for history calls: many for a server (each call mostly waits on the network),
#: few for a local database (measured: sqlite gets slower beyond about 4).
REMOTE_WORKERS = 16
LOCAL_WORKERS = 4
_RUN_IDS_PER_FILTER = 100
_PARENT_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class RunRecord:
    """What diagnosis reads from one run: latest metric values, params and tags."""

    run_id: str
    run_name: str
    experiment_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        return self.params.get("task_resolved", self.params.get("task"))

    @property
    def monitor(self) -> str | None:
        return self.params.get("monitor")

    @property
    def stop_reason(self) -> str | None:
        return self.tags.get(TAG_STOP_REASON)

    @property
    def parent_run_id(self) -> str | None:
        return self.tags.get(_PARENT_TAG)


def client_for(tracking_uri: str | None = None) -> MlflowClient:
    """A client on ``tracking_uri``, else MLflow's own default (MLFLOW_TRACKING_URI, ...).

    A sqlite store that does not exist is refused instead of created: reading runs must not
    leave an empty ``mlflow.db`` wherever it was asked from.
    """
    uri = tracking_uri or mlflow.get_tracking_uri()
    database = sqlite_file(uri)
    if database is not None and not database.exists():
        raise ValueError(
            f"no MLflow store at {database} ({uri}): run this where the runs' mlflow.db "
            "is, or set MLFLOW_TRACKING_URI or --tracking-uri"
        )
    return MlflowClient(tracking_uri=uri)


def resolve_experiments(client: MlflowClient, names_or_ids: Iterable[str] | None) -> list[str]:
    """Experiment ids for names (first) or ids; none given means every active experiment.

    One listing answers every name and id, so a remote server is asked once, not per name.
    """
    experiments = _active_experiments(client)
    if not names_or_ids:
        return [e.experiment_id for e in experiments]
    by_name = {e.name: e.experiment_id for e in experiments}
    known_ids = {e.experiment_id for e in experiments}
    ids = []
    for name in names_or_ids:
        experiment_id = by_name.get(name) or (name if name in known_ids else None)
        if experiment_id is None:
            raise ValueError(f"no active experiment named or numbered {name!r}")
        ids.append(experiment_id)
    return list(dict.fromkeys(ids))


def experiment_names_by_id(client: MlflowClient, ids: Iterable[str]) -> dict[str, str]:
    """The names of the experiments ``ids`` (one listing, not a call per experiment)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {e.experiment_id: e.name for e in _active_experiments(client)
            if e.experiment_id in wanted}


def _active_experiments(client: MlflowClient) -> list:
    experiments: list = []
    token = None
    while True:
        page = client.search_experiments(ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments


def search_runs(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str | None = None,
    run_ids: Sequence[str] | None = None,
) -> list[RunRecord]:
    """Active runs matching every criterion given, newest first; unknown run ids are an error."""
    if not experiment_ids:
        return []
    if not run_ids:
        return _search(client, experiment_ids, filter_string or "")
    wanted = list(dict.fromkeys(run_ids))
    records = []
    for start in range(0, len(wanted), _RUN_IDS_PER_FILTER):
        chunk = wanted[start:start + _RUN_IDS_PER_FILTER]
        id_filter = "attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in chunk))
        combined = f"{id_filter} AND {filter_string}" if filter_string else id_filter
        records.extend(_search(client, experiment_ids, combined))
    missing = set(wanted) - {r.run_id for r in records}
    if missing:
        raise ValueError(
            f"run(s) not found or excluded by the other criteria: {', '.join(sorted(missing))}"
        )
    return records


def _search(client: MlflowClient, experiment_ids: Sequence[str], filter_string: str) -> list:
    records: list[RunRecord] = []
    token = None
    while True:
        try:
            page = client.search_runs(
                list(experiment_ids), filter_string, ViewType.ACTIVE_ONLY,
                max_results=PAGE_SIZE, page_token=token,
            )
        except MlflowException as error:
            if error.error_code == "INVALID_PARAMETER_VALUE":
                raise ValueError(f"bad filter {filter_string!r}: {error.message}") from error
            raise
        records.extend(_record(run) for run in page)
        token = page.token
        if not token:
            return records


def restore_infinity(value: float) -> float:
    """The value logged: MLflow's SQL stores keep +/-inf as +/-``sys.float_info.max``, which
    would otherwise read as a finite error of 1.8e308 instead of a diverged run."""
    if abs(value) == sys.float_info.max:
        return float("inf") if value > 0 else float("-inf")
    return value


def _record(run) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        experiment_id=run.info.experiment_id,
        metrics={key: restore_infinity(value) for key, value in run.data.metrics.items()},
        params=dict(run.data.params),
        tags=dict(run.data.tags),
    )


def get_runs(client: MlflowClient, run_ids: Sequence[str]) -> list[RunRecord]:
    """Runs by id, for a handful of them (the ``curves`` command); unknown ids are an error."""
    records = []
    for run_id in run_ids:
        try:
            records.append(_record(client.get_run(run_id)))
        except MlflowException as error:
            raise ValueError(f"no run {run_id!r}") from error
    return records


def workers_for(client: MlflowClient) -> int:
    """How many concurrent calls pay off on this client's tracking store."""
    remote = str(client.tracking_uri).startswith(("http:", "https:", "databricks"))
    return REMOTE_WORKERS if remote else LOCAL_WORKERS


def fetch_histories(
    client: MlflowClient, requests: Iterable[tuple[str, str]], max_workers: int | None = None
) -> dict[tuple[str, str], list[Metric]]:
    """``(run_id, metric)`` -> that metric's history in step order, fetched concurrently."""
    requests = list(dict.fromkeys(requests))
    if not requests:
        return {}
    max_workers = max_workers or workers_for(client)

    def fetch(request: tuple[str, str]) -> list[Metric]:
        history = sorted(client.get_metric_history(*request), key=lambda m: (m.step, m.timestamp))
        return [Metric(m.key, restore_infinity(m.value), m.timestamp, m.step) for m in history]

    with ThreadPoolExecutor(max_workers=min(max_workers, len(requests))) as pool:
        return dict(zip(requests, pool.map(fetch, requests), strict=True))


def write_tags(
    client: MlflowClient, tags: Mapping[str, Mapping[str, str]], max_workers: int | None = None
) -> None:
    """Set ``tags[run_id]`` on each run, one batched call per run, concurrently."""
    if not tags:
        return
    max_workers = max_workers or workers_for(client)

    def write(item: tuple[str, Mapping[str, str]]) -> None:
        run_id, values = item
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in values.items()])

    with ThreadPoolExecutor(max_workers=min(max_workers, len(tags))) as pool:
        list(pool.map(write, tags.items()))
