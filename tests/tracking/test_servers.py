"""Training and diagnosis against real `mlflow server` processes, over HTTP.

The servers run on loopback with an sqlite or a PostgreSQL backend store (each test its own
database); one has MLflow's basic-auth app. Faults: a restart while a run trains, and a
server that stays down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import mlflow
import pandas as pd
import pytest

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL
from tests.servers import ADMIN_PASSWORD, ADMIN_USER, MlflowServer

FAST = ["--n-samples", "200", "--hidden-units", "8", "--log-model", "false"]


def improvenn(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow_improvenn", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def client_env(uri: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return env | {"MLFLOW_TRACKING_URI": uri} | extra


def test_train_and_diagnose_through_the_server(mlflow_server: MlflowServer, monkeypatch) -> None:
    from mlflow_improvenn import diagnose

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    mlflow.set_tracking_uri(mlflow_server.uri)
    outcome = train(TrainConfig(**(SMALL | {"log_model": True})), experiment="served")
    client = mlflow.MlflowClient()
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(outcome.run_id, "dev_loss")) == SMALL["max_epochs"]
    assert {"model", "history.csv", "plots", "checkpoints"} <= {
        a.path for a in client.list_artifacts(outcome.run_id)}
    model = mlflow.pyfunc.load_model(f"runs:/{outcome.run_id}/model")
    rows = pd.DataFrame({"x1": [0.0, 1.0, -0.5], "x2": [0.5, -0.5, 0.2]})  # moons' columns
    assert set(model.predict(rows)) <= {0, 1}  # a label per row, read through the server
    report = diagnose(experiment_names=["served"], tracking_uri=mlflow_server.uri)
    assert list(report["run_id"]) == [outcome.run_id]
    assert report.loc[0, "diagnosis"] != "insufficient_data"


def test_a_server_restart_mid_training_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = MlflowServer(f"sqlite:///{tmp_path / 'server.db'}", tmp_path).start()
    try:
        env = client_env(server.uri, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1")
        process = improvenn("train", *FAST, "--max-epochs", "250", "--patience", "0",
                            "--n-samples", "1000", env=env)
        for line in process.stdout:
            if line.startswith("epoch   20/"):
                break
        server.stop()
        time.sleep(3)  # epochs go on while the server is down
        server.start()
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
        run_id = re.search(r"Run (\w+) FINISHED", output).group(1)
        client = mlflow.MlflowClient(server.uri)
        for name in ("train_loss", "dev_loss", "lr", "epoch_seconds"):
            steps = [m.step for m in client.get_metric_history(run_id, name)]
            assert sorted(steps) == list(range(1, 251)), name
    finally:
        server.stop()


def test_a_server_that_stays_down_fails_the_run_and_keeps_the_history(tmp_path: Path) -> None:
    server = MlflowServer(f"sqlite:///{tmp_path / 'server.db'}", tmp_path).start()
    env = client_env(server.uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
                     MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1")
    process = improvenn("train", *FAST, "--max-epochs", "150", "--patience", "0", env=env)
    for line in process.stdout:
        if line.startswith("epoch   10/"):
            break
    server.stop()
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 1, output
    assert "Traceback" not in output
    kept = Path(re.search(r"kept in (\S+)\)", output).group(1))
    history = (kept / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 150
    assert (kept / "checkpoints" / "best.pt").exists()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One server with MLflow's basic-auth app for this module's tests (it is slow to start)."""
    workdir = tmp_path_factory.mktemp("auth")
    server = MlflowServer(f"sqlite:///{workdir / 'server.db'}", workdir, basic_auth=True)
    server.start()
    yield server
    server.stop()


def finished(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=180)
    return process.returncode, output


def test_basic_auth_right_and_wrong_password(auth_server: MlflowServer) -> None:
    good = client_env(auth_server.uri, MLFLOW_TRACKING_USERNAME=ADMIN_USER,
                      MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD)
    bad = good | {"MLFLOW_TRACKING_PASSWORD": "wrong"}
    trained = improvenn("train", *FAST, "--max-epochs", "2", "--experiment", "auth", env=good)
    refused = [improvenn(*args, env=bad)  # independent of the good run: started beside it
               for args in (["train", *FAST, "--max-epochs", "2"], ["diagnose"])]
    code, output = finished(trained)
    assert code == 0, output
    code, output = finished(improvenn("diagnose", "--experiment", "auth", "--format", "json",
                                      env=good))
    assert code == 0 and '"run_id"' in output, output
    for process in refused:
        code, output = finished(process)
        assert code != 0, output
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1 and "not authenticated" in errors[0], output
        assert "Traceback" not in output


def test_no_secret_reaches_the_run(auth_server: MlflowServer) -> None:
    uri = auth_server.uri.replace("http://", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@")
    code, output = finished(improvenn("train", *FAST, "--max-epochs", "2",
                                      "--experiment", "secrets", env=client_env(uri)))
    assert code == 0, output
    assert ADMIN_PASSWORD not in output and "admin:***@" in output  # MLflow's lines included
    os.environ["MLFLOW_TRACKING_USERNAME"] = ADMIN_USER
    os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN_PASSWORD
    try:
        client = mlflow.MlflowClient(auth_server.uri)
        run = client.search_runs([client.get_experiment_by_name("secrets").experiment_id])[0]
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    logged = list(run.data.params.values()) + list(run.data.tags.values())
    assert not [value for value in logged if ADMIN_PASSWORD in value]


def test_a_refused_password_is_not_printed(auth_server: MlflowServer) -> None:
    """The "MLflow tracking failed" line names the server, never the password it was given."""
    secret = "n0t/the#right?one"
    uri = auth_server.uri.replace("http://", f"http://{ADMIN_USER}:{quote(secret, safe='')}@")
    down = f"http://{ADMIN_USER}:{quote(secret, safe='')}@127.0.0.1:9"  # nothing listens
    once = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    for args, env, words in (
        (["train", *FAST, "--max-epochs", "2"], client_env(uri), "not authenticated"),
        (["diagnose", "--tracking-uri", uri], client_env(auth_server.uri), "not authenticated"),
        (["train", *FAST, "--max-epochs", "2"], client_env(down, **once), "127.0.0.1:9"),
        (["diagnose", "--tracking-uri", down], client_env(auth_server.uri, **once),
         "127.0.0.1:9"),
    ):
        code, output = finished(improvenn(*args, env=env))
        assert code != 0 and words in output, output
        assert secret not in output and quote(secret, safe="") not in output, output


@pytest.mark.parametrize(("uri", "redacted"), [
    ("postgresql://bob:s3cret@db:5432/x", "postgresql://bob:***@db:5432/x"),
    ("postgresql://bob:s3/c#r?et@db:5432/x", "postgresql://bob:***@db:5432/x"),
    ("postgresql+psycopg://bob:p%40ss@db/x", "postgresql+psycopg://bob:***@db/x"),
    ("postgresql://bob@db/x?password=hunter2&sslmode=require",
     "postgresql://bob@db/x?password=***&sslmode=require"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("databricks", "databricks"),
])
def test_redact_uri_hides_only_the_password(uri: str, redacted: str) -> None:
    from mlflow_improvenn.tracking.store import redact_uri

    assert redact_uri(uri) == redacted
