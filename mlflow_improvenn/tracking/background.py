"""Writes off the training loop's path: per-epoch metrics and the latest checkpoint.

Per-epoch metrics go into an in-memory buffer that a background thread writes with
``log_batch`` about once a second, so store latency never sits on the training loop's
path; :meth:`MetricWriter.close` writes the rest and waits, so every metric is durable
before the run ends. (One synchronous ``log_metrics`` per epoch doubles a 300-epoch run on
small data; MLflow's own async mode writes one call at a time.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

_MLFLOW_BATCH_LIMIT = 1000
#: Where a run's process is, and its last sign of life (see ``tracking/liveness.py``).
TAG_HOST, TAG_PID, TAG_HEARTBEAT = "improvenn.host", "improvenn.pid", "improvenn.heartbeat"
HEARTBEAT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, ISO 8601: 2026-11-30T00:41:07Z
#: Seconds between heartbeats.
HEARTBEAT_S = 60.0


def process_tags() -> dict[str, str]:
    """The tags that say which process runs a run, and that it lives now."""
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid()), TAG_HEARTBEAT: _now()}


def _now() -> str:
    return datetime.now(UTC).strftime(HEARTBEAT_FORMAT)


class Heartbeat:
    """Sets the run's ``improvenn.heartbeat`` tag to the time every ``interval_s`` from a
    background thread, until :meth:`stop`: how a run on a shared server shows that its
    process lives. A failed beat is skipped; the next one tries again."""

    def __init__(self, client: MlflowClient, run_id: str, interval_s: float = HEARTBEAT_S) -> None:
        self._client = client
        self._run_id = run_id
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="improvenn-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; returns at once (a beat in flight may still land, harmlessly)."""
        self._stopped.set()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval_s):
            with contextlib.suppress(Exception):
                self._client.set_tag(self._run_id, TAG_HEARTBEAT, _now())


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

    def finish_soon(self) -> None:
        """Have the thread write what is queued now and stop, while the caller goes on
        (writing the run's files: the store's C code and the PNG encoder let the two share
        the interpreter). No metric may be added after it; :meth:`close` waits."""
        self._closing = True
        self._wake.set()

    def close(self) -> None:
        """Stop the thread and write everything still queued; raises if the store fails."""
        self.finish_soon()
        self._thread.join()
        self._write_pending()

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self._interval_s)
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
