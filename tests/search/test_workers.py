"""Sweep workers stop with their main process, even one killed with ``kill -9``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_MAIN = ("from mlflow_improvenn.search.workers import run_in_processes; "
         "from tests.search.orphan_target import sleep_until_stopped; "
         "run_in_processes(sleep_until_stopped, 2)")


def _running(pid: int) -> bool:
    """A live process (a zombie nobody reaped has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_stop_as_on_sigterm_when_their_main_process_is_killed(tmp_path) -> None:
    """Each worker sees its parent die and stops itself with SIGTERM: the KeyboardInterrupt
    that ends a trial's run KILLED (a trial's side: tests/search/test_sweep.py)."""
    main = subprocess.Popen([sys.executable, "-c", _MAIN],
                            env={**os.environ, "ORPHAN_DIR": str(tmp_path)})
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(list(tmp_path.glob("*.pid"))) == 2, 60), "no workers"
        workers = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        main.kill()
        main.wait(timeout=30)
        stopped = _wait_for(lambda: not any(map(_running, workers)), 30)
    finally:
        main.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert stopped, "workers outlived their main process"
    assert sorted(p.name for p in tmp_path.glob("*.stopped")) == ["0.stopped", "1.stopped"]
