"""The MLproject as users run it: ``mlflow run . --env-manager local``, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow

ROOT = Path(__file__).resolve().parents[2]


def mlflow_run(*params: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "mlflow", "run", str(ROOT), "--env-manager", "local"]
    for param in params:
        args += ["-P", param]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_mlflow_run_logs_a_complete_run(tracking_uri: str) -> None:
    done = mlflow_run("n_samples=200", "max_epochs=4", "hidden_units=16", "dropout=0.1",
                      "weight_decay=1e-4")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 1
    run = mlflow.MlflowClient().get_run(runs.loc[0, "run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mlp-16-l2=0.0001-do=0.1-adam-lr=0.01"
    params = run.data.params
    # mlflow run logged the raw strings; resolved values that differ have their own names
    assert params["weight_decay"] == "1e-4" and params["dropout"] == "0.1"
    assert (params["device"], params["device_resolved"]) == ("auto", "cpu")
    assert (params["task"], params["task_resolved"]) == ("auto", "binary")
    # it logs an empty value shell-quoted, as '': that resolves to nothing new (before: target,
    # run_name and resume_from each had a *_resolved twin)
    assert params["target"] == "''" and "target_resolved" not in params
    assert not [name for name in params if name.endswith("_resolved")
                and name not in ("device_resolved", "task_resolved")]
    assert params["n_train"] == "120" and int(params["n_parameters"]) > 0
    assert {"train_loss", "dev_loss", "train_error", "dev_error", "lr", "epoch_seconds",
            "best_epoch", "stopped_epoch", "best_dev_loss", "test_loss", "test_error"} <= set(
        run.data.metrics)
    assert run.data.tags["improvenn.stop_reason"] == "max_epochs"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"checkpoints", "model", "plots", "history.csv"} <= artifacts
    assert f"Run {run.info.run_id} FINISHED" in done.stdout
    assert "mlflow ui" in done.stdout


def test_bad_entry_point_parameter_fails_cleanly_without_a_finished_run(tracking_uri) -> None:
    done = mlflow_run("dropout=1.5", "max_epochs=2")
    assert done.returncode != 0
    assert "Invalid value for '--dropout'" in done.stderr
    assert "Traceback (most recent call last)" not in done.stderr.split("mlflow.exceptions")[0]
    runs = mlflow.search_runs(search_all_experiments=True)
    assert list(runs["status"]) == ["FAILED"]  # the launcher's own run, saying why it is empty
    assert runs["tags.improvenn.error"][0].startswith("refused: Invalid value for '--dropout'")
