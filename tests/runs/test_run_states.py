"""Run states tell the truth whenever an interrupt lands: faults injected at the points."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.tracking.background import MetricWriter
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

ROOT = Path(__file__).resolve().parents[2]  # `python -m tests.runs.presses` finds tests/


@pytest.fixture
def ctrl_c() -> None:
    """SIGINT raises KeyboardInterrupt here, as at a terminal (a suite started in the
    background inherits it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_epoch_record_and_its_metrics_go_together(tracking_uri, ctrl_c, monkeypatch):
    """Ctrl-C pressed as epoch 3's metrics are being queued: history.csv, stopped_epoch and
    the metric curves all end at the same epoch."""
    add = MetricWriter.add

    def pressed_at_epoch_3(self, metrics, step):
        if step == 3:
            signal.raise_signal(signal.SIGINT)
        add(self, metrics, step=step)

    monkeypatch.setattr(MetricWriter, "add", pressed_at_epoch_3)
    outcome = train(TrainConfig(**(SMALL | {"max_epochs": 8})))
    client = mlflow.MlflowClient()
    run = client.get_run(outcome.run_id)
    assert run.info.status == "KILLED"
    history = pd.read_csv(client.download_artifacts(outcome.run_id, "history.csv"))
    steps = [m.step for m in client.get_metric_history(outcome.run_id, "train_loss")]
    assert list(history["epoch"]) == sorted(steps) == [1, 2, 3]
    assert run.data.metrics["stopped_epoch"] == 3
    tags = run.data.tags  # where its process is, for improvenn runs --stale
    assert (tags["improvenn.host"], tags["improvenn.pid"]) == (socket.gethostname(),
                                                                str(os.getpid()))


def test_ctrl_c_while_the_run_is_ended_leaves_it_killed(tracking_uri, ctrl_c, monkeypatch):
    """A first press stops training, a second lands as the run is being ended: the end is
    written whole (KILLED, ``interrupted``), then the second press goes on."""
    add, set_terminated = MetricWriter.add, mlflow.MlflowClient.set_terminated

    def pressed_at_epoch_3(self, metrics, step):
        if step == 3:
            signal.raise_signal(signal.SIGINT)
        add(self, metrics, step=step)

    def pressed_while_ending(self, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        set_terminated(self, *args, **kwargs)

    monkeypatch.setattr(MetricWriter, "add", pressed_at_epoch_3)
    monkeypatch.setattr(mlflow.MlflowClient, "set_terminated", pressed_while_ending)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**(SMALL | {"max_epochs": 8})))
    [run] = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "KILLED"
    assert run.data.tags["improvenn.stop_reason"] == "interrupted"
    assert mlflow.active_run() is None  # nothing left for MLflow's exit hook to end FINISHED


def test_repeated_ctrl_c_ends_the_run_killed_and_exits_130(tracking_uri):
    """Ctrl-C at every step of stopping: in training, while the files upload, while the run
    is tagged, while it is ended, and as the command prints its last line."""
    points = "epoch3,upload,tag,end,message"
    train_args = ["train", "--n-samples", "200", "--hidden-units", "8", "--max-epochs", "50",
                  "--patience", "0", "--log-model", "false", "--quiet"]
    process = subprocess.run(
        [sys.executable, "-m", "tests.runs.presses", points, "--", *train_args],
        capture_output=True, text=True, timeout=180,
        env=os.environ | {"PYTHONPATH": str(ROOT)},  # the test's cwd is a temp folder
    )
    output = process.stdout + process.stderr
    assert process.returncode == 130, output
    assert "Traceback" not in output
    [run] = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "KILLED", output
    assert run.data.tags["improvenn.stop_reason"] == "interrupted"
