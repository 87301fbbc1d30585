"""Ctrl-C or SIGTERM during training: the run ends KILLED with what it had learned logged."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import mlflow
import pandas as pd
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


@pytest.mark.parametrize(("command", "signum"), [
    (["recipe", "--max-steps", "3", "--hidden-units", "4"], signal.SIGTERM),
    (["lesson", "dropout", "--smoke", "false"], signal.SIGINT),
])
def test_a_signal_stops_a_loop_of_runs_and_its_parent(tracking_uri, command, signum) -> None:
    """The child that was training ends KILLED, no further child starts, the parent ends
    KILLED, the command exits 130."""
    extra = ["--n-samples", "2000", "--max-epochs", "100000", "--patience", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow_improvenn", *command,
         *(extra if command[0] == "recipe" else [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_as_a_foreground_command,
    )
    try:
        _wait_for_a_running_child(timeout_s=90)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 130 and "interrupted" in output, output
    assert "Traceback" not in output
    runs = mlflow.search_runs(search_all_experiments=True)
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert list(parent["status"]) == ["KILLED"]
    children = children.sort_values("start_time")
    *before, last = children["status"]  # an earlier child may have finished before the signal
    assert last == "KILLED" and set(before) <= {"FINISHED"}, children["status"]
    assert children["tags.improvenn.stop_reason"].iloc[-1] == "interrupted"


def _wait_for_a_running_child(timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = mlflow.search_runs(search_all_experiments=True,
                                     filter_string="attributes.status = 'RUNNING'")
        if running.get("tags.mlflow.parentRunId", pd.Series(dtype=object)).notna().any():
            time.sleep(1.0)  # into its epochs
            return
        time.sleep(0.2)
    raise AssertionError(f"no child run was running within {timeout_s}s")
