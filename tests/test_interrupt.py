"""Ctrl-C or SIGTERM during training: the run ends KILLED with what it had learned logged."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import mlflow
import pytest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_the_run_killed_with_history_and_best_checkpoint(tracking_uri, signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow_improvenn", "train", "--n-samples", "2000",
         "--max-epochs", "100000", "--patience", "0", "--log-model", "false"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_as_a_foreground_command,
    )
    try:
        deadline = time.monotonic() + 60
        for line in process.stdout:  # plain lines: stdout is a pipe
            if line.startswith("epoch    3/") or time.monotonic() > deadline:
                break
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, output
    assert "Traceback" not in output
    run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
    assert run.info.status == "KILLED"
    assert run.data.tags["improvenn.stop_reason"] == "interrupted"
    assert run.data.metrics["stopped_epoch"] >= 3
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"history.csv", "checkpoints", "plots"} <= artifacts


def _as_a_foreground_command() -> None:
    """Ctrl-C reaches a command typed at a terminal. A test suite started in the background
    by a script inherits SIGINT ignored (so would the trainer, rightly); undo that here."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
