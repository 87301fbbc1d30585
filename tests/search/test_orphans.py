"""``kill -9`` of a sweep: its workers stop with it, and ``improvenn runs --stale --end``
ends the parent run that nobody could end."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from tests.search.test_sweep import (
    children_of,
    runs,
    start_sweep,
    wait_for_running_trials,
    worker_pids,
)


def _alive(pid: int) -> bool:
    """A process that runs (a zombie nobody reaped has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds workers in /proc")
def test_kill_9_of_a_sweep_stops_its_workers_and_their_trials(tracking_uri: str) -> None:
    sweep = start_sweep("--n-trials", "6", "--max-epochs", "100000")
    workers: list[int] = []
    try:
        wait_for_running_trials(2, timeout_s=120)
        workers = worker_pids(sweep.pid)
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)  # its workers hold its output pipe: do not read to the end
        deadline = time.monotonic() + 90
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert workers and not any(map(_alive, workers)), "workers outlived their sweep"
    finally:
        sweep.kill()
        sweep.stdout.close()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    parent, children = children_of(runs())
    assert set(children["status"]) <= {"KILLED", "FAILED", "FINISHED"}, children["status"]
    killed = children[children["status"] == "KILLED"]
    assert len(killed) >= 1 and (killed["tags.improvenn.stop_reason"] == "interrupted").all()
    assert parent.status == "RUNNING"  # its process died with it: what runs --stale is for

    ended = CliRunner().invoke(main, ["runs", "--stale", "--end"])
    assert ended.exit_code == 0 and parent.run_id in ended.output, ended.output
    parent, _ = children_of(runs())
    assert parent.status == "FAILED"
    assert "is not running on this host" in parent["tags.improvenn.error"]
