"""A slow ``runs/create`` answer, retried by MLflow's client, leaves no second run."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import ViewType

from mlflow_improvenn.runs.parents import parent_run
from mlflow_improvenn.tracking.tracker import RunTracker
from tests.servers import MlflowServer
from tests.tracking.slow_proxy import SlowProxy


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("slow-create")
    server = MlflowServer(f"sqlite:///{workdir / 'server.db'}", workdir).start()
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["trainer", "parent"])
def test_a_retried_create_leaves_one_run(server, monkeypatch, kind) -> None:
    proxy = SlowProxy(server.uri, "/runs/create", delay_s=4)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")  # the answer comes after 4 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(proxy.uri)
    try:
        experiment = f"slow-create-{kind}"
        if kind == "trainer":
            tracker = RunTracker.start(experiment, "tiny")
            tracker.metrics.close()
            tracker.end("FINISHED")
            kept = tracker.run_id
        else:
            with parent_run("tiny", experiment) as kept:
                pass
        client = mlflow.MlflowClient()
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        everything = client.search_runs([experiment_id], run_view_type=ViewType.ALL)
        kept_status = client.get_run(kept).info.status
    finally:
        mlflow.set_tracking_uri(None)
        proxy.close()
    assert proxy.delayed == 1 and len(everything) == 2  # the retry made a second run
    [orphan] = [run for run in everything if run.info.run_id != kept]
    assert orphan.info.lifecycle_stage == "deleted" and orphan.info.status == "FAILED"
    assert orphan.data.tags["improvenn.error"].startswith(f"duplicate of run {kept}")
    assert kept_status == "FINISHED"
