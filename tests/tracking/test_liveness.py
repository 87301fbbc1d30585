"""Runs whose process is gone: found by a dead pid on this host or a silent heartbeat."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import mlflow
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.tracking.background import (
    HEARTBEAT_FORMAT,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_PID,
    Heartbeat,
)


def _beat(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime(HEARTBEAT_FORMAT)


def _running(client: mlflow.MlflowClient, name: str, tags: dict[str, str]) -> str:
    return client.create_run("0", run_name=name, tags=tags).info.run_id


def test_runs_stale_lists_and_ends_the_runs_whose_process_is_gone(tracking_uri) -> None:
    client = mlflow.MlflowClient()
    dead_pid = _a_dead_pid()
    here = socket.gethostname()
    ids = {
        "dead-pid": _running(client, "dead-pid",
                             {TAG_HOST: here, TAG_PID: str(dead_pid), TAG_HEARTBEAT: _beat(0)}),
        "alive": _running(client, "alive",
                          {TAG_HOST: here, TAG_PID: str(os.getpid()), TAG_HEARTBEAT: _beat(60)}),
        "silent": _running(client, "silent",
                           {TAG_HOST: "elsewhere", TAG_PID: "1", TAG_HEARTBEAT: _beat(30)}),
        "beating": _running(client, "beating",
                            {TAG_HOST: "elsewhere", TAG_PID: "1", TAG_HEARTBEAT: _beat(1)}),
        "other-tool": _running(client, "other-tool", {}),
    }
    runner = CliRunner()
    listed = runner.invoke(main, ["runs", "--stale"])
    assert listed.exit_code == 0, listed.output
    assert {ids["dead-pid"], ids["silent"]} == {
        i for i in ids.values() if i in listed.output}, listed.output
    assert "no heartbeat for 30 min from host elsewhere" in listed.output

    refused = runner.invoke(main, ["runs", "--end"])
    assert refused.exit_code == 2 and "--stale" in refused.output

    ended = runner.invoke(main, ["runs", "--stale", "--end", "--minutes", "10"])
    assert ended.exit_code == 0, ended.output
    for name, run_id in ids.items():
        run = client.get_run(run_id)
        gone = name in ("dead-pid", "silent")
        assert run.info.status == ("FAILED" if gone else "RUNNING"), name
        assert ("improvenn.error" in run.data.tags) == gone, name
    again = runner.invoke(main, ["runs", "--stale"])
    assert "No stale runs." in again.output


def _a_dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_heartbeat_sets_its_tag(tracking_uri) -> None:
    run_id = mlflow.MlflowClient().create_run("0").info.run_id
    heartbeat = Heartbeat(mlflow.MlflowClient(), run_id, interval_s=0.05)
    deadline = time.monotonic() + 30
    while TAG_HEARTBEAT not in mlflow.MlflowClient().get_run(run_id).data.tags:
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.05)
    heartbeat.stop()


def test_runs_without_a_store_names_where_the_store_was_looked_for(tmp_path, monkeypatch) -> None:
    """Seen: "Invalid value for '--experiment': no MLflow store ..." with no --experiment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(None)  # forget the store an earlier test of this process set
    result = CliRunner().invoke(main, ["runs", "--stale"])
    assert result.exit_code == 2, result.output
    assert "MLFLOW_TRACKING_URI" in result.output and "--experiment" not in result.output
    given = CliRunner().invoke(main, ["runs", "--tracking-uri",
                                      f"sqlite:///{tmp_path / 'mlflow.db'}"])
    assert given.exit_code == 2 and "'--tracking-uri'" in given.output, given.output
