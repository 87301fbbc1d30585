"""Is a RUNNING run's process still there? Process tags, heartbeats, stale runs.

A process killed with ``kill -9`` (or a machine that dies) cannot end its runs: they stay
RUNNING forever. So every run the product starts says where it runs and keeps saying that
it lives:

- ``improvenn.host`` and ``improvenn.pid``, set when the run starts: on the same host, a
  run whose pid is not a live process is gone (a reused pid makes a gone run look alive,
  never the reverse).
- ``improvenn.heartbeat``, the UTC time (ISO 8601) of the last sign of life: set at the
  start, then once a minute (``HEARTBEAT_S``) by a background thread
  (:class:`~mlflow_improvenn.tracking.background.Heartbeat`) until the run ends. From
  another host, a run whose heartbeat is older than ``minutes`` is gone: one tag write a
  minute costs the store nothing, and ten missed beats are not a slow network.

Runs without these tags (other tools', older versions') are not judged.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.background import HEARTBEAT_FORMAT, TAG_HEARTBEAT, TAG_HOST, TAG_PID
from mlflow_improvenn.tracking.queries import experiment_names_by_id, search_runs
from mlflow_improvenn.tracking.tracker import TAG_ERROR, end_run

#: Minutes without a heartbeat after which a run on another host counts as gone.
DEFAULT_STALE_MINUTES = 10.0
COLUMNS = ["run_id", "experiment", "run_name", "process", "heartbeat_age_min", "gone", "why"]


@dataclass(frozen=True)
class Verdict:
    """Whether one run's process is gone, and why one thinks so."""

    gone: bool
    why: str


def judge(tags: dict[str, str], minutes: float, host: str, now: datetime) -> Verdict | None:
    """Whether the process of a RUNNING run with ``tags`` is gone; None without our tags.

    >>> tags = {TAG_HOST: "a", TAG_PID: "1", TAG_HEARTBEAT: "2026-11-30T00:00:00Z"}
    >>> judge(tags, 10, "b", datetime(2026, 11, 30, 0, 30, tzinfo=UTC)).why
    'no heartbeat for 30 min from host a'
    """
    if TAG_HOST not in tags or TAG_PID not in tags:
        return None
    if tags[TAG_HOST] == host:
        pid = int(tags[TAG_PID])
        if _alive(pid):
            return Verdict(False, f"process {pid} is running on this host")
        return Verdict(True, f"process {pid} is not running on this host")
    age = heartbeat_age_min(tags, now)
    if age is None:
        return Verdict(True, f"no readable heartbeat from host {tags[TAG_HOST]}")
    if age > minutes:
        return Verdict(True, f"no heartbeat for {age:.0f} min from host {tags[TAG_HOST]}")
    return Verdict(False, f"heartbeat {age:.0f} min ago from host {tags[TAG_HOST]}")


def heartbeat_age_min(tags: dict[str, str], now: datetime) -> float | None:
    """Minutes since the run's last heartbeat; None when it has none that reads as one."""
    try:
        beat = datetime.strptime(tags[TAG_HEARTBEAT], HEARTBEAT_FORMAT).replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return max(0.0, (now - beat).total_seconds() / 60)


def running_runs(
    client: MlflowClient, experiment_ids: list[str], minutes: float = DEFAULT_STALE_MINUTES
) -> pd.DataFrame:
    """The RUNNING runs the product started in ``experiment_ids``, one row each (columns
    :data:`COLUMNS`), with whether their process is gone (``gone``) and ``why``."""
    records = search_runs(client, experiment_ids, "attributes.status = 'RUNNING'")
    names = experiment_names_by_id(client, {r.experiment_id for r in records})
    host, now = socket.gethostname(), datetime.now(UTC)
    rows = []
    for record in records:
        verdict = judge(record.tags, minutes, host, now)
        if verdict is None:
            continue
        rows.append({
            "run_id": record.run_id,
            "experiment": names.get(record.experiment_id, record.experiment_id),
            "run_name": record.run_name,
            "process": f"{record.tags[TAG_HOST]}:{record.tags[TAG_PID]}",
            "heartbeat_age_min": heartbeat_age_min(record.tags, now),
            "gone": verdict.gone,
            "why": verdict.why,
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def end_gone(client: MlflowClient, table: pd.DataFrame) -> None:
    """End FAILED the runs of ``table`` whose process is gone, ``improvenn.error`` saying why."""
    for row in table[table["gone"]].itertuples():
        client.set_tag(row.run_id, TAG_ERROR, f"ended by improvenn runs --stale --end: {row.why}")
        end_run(row.run_id, "FAILED", client)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
