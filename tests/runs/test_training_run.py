"""Real training runs in a real sqlite MLflow store: what a run holds, and that it is right."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes

from mlflow_improvenn.runs.training_run import RunFailed, run_name, train
from mlflow_improvenn.training import checkpoints, data
from mlflow_improvenn.training.bayes_error import bayes_error
from mlflow_improvenn.training.loop import Objective
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

PER_EPOCH = {"train_loss", "dev_loss", "train_error", "dev_error", "lr", "epoch_seconds"}
AT_END = {"best_epoch", "stopped_epoch", "best_dev_loss", "test_loss", "test_error",
          "best_train_loss", "best_train_error", "best_dev_error", "train_loss_falling",
          "train_loss_rose"}


def fetch(run_id: str) -> mlflow.entities.Run:
    return mlflow.MlflowClient().get_run(run_id)


def test_run_holds_the_schema(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"log_model": True, "max_epochs": 6, "scheduler": "step",
                                     "step_size": 2}))
    outcome = train(config, experiment="schema")
    run = fetch(outcome.run_id)
    client = mlflow.MlflowClient()
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mlp-16-adam-lr=0.01-step"
    params = run.data.params
    resolved = {"task": "binary", "device": "cpu"}
    for name, value in config.to_params().items():
        assert params[name] == resolved.get(name, value), name
    assert {params[k] for k in ("n_train", "n_dev", "n_test")} == {"120", "40"}
    known = bayes_error("moons", config.noise)  # logged to 4 decimals
    assert float(params["bayes_error"]) == pytest.approx(known, abs=5e-5)
    assert int(params["n_parameters"]) == sum(
        p.numel() for p in torch.nn.Linear(2, 16).parameters()
    ) + 17
    assert set(run.data.metrics) >= PER_EPOCH | AT_END
    for name in PER_EPOCH:
        steps = [m.step for m in client.get_metric_history(outcome.run_id, name)]
        assert sorted(steps) == list(range(1, 7)), name
    lrs = [m.value for m in sorted(client.get_metric_history(outcome.run_id, "lr"),
                                   key=lambda m: m.step)]
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert run.data.tags["improvenn.stop_reason"] == "max_epochs"
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"checkpoints", "model", "plots", "history.csv"} <= artifacts
    assert [a.path for a in client.list_artifacts(outcome.run_id, "plots")] == [
        "plots/learning_curves.png"
    ]
    history = pd.read_csv(client.download_artifacts(outcome.run_id, "history.csv"))
    assert list(history["epoch"]) == list(range(1, 7))
    assert set(history.columns) >= PER_EPOCH


def test_restored_model_reproduces_best_dev_loss(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"log_model": True, "max_epochs": 40, "patience": 4,
                                     "lr": 0.05, "dropout": (0.3,)}))
    outcome = train(config)
    run = fetch(outcome.run_id)
    metrics = run.data.metrics
    assert run.data.tags["improvenn.stop_reason"] == "early_stopping"
    assert metrics["stopped_epoch"] - metrics["best_epoch"] == config.patience
    history = outcome.history.set_index("epoch")
    assert metrics["best_dev_loss"] == pytest.approx(history.loc[metrics["best_epoch"], "dev_loss"])
    model = mlflow.pyfunc.load_model(f"runs:/{outcome.run_id}/model")
    splits = data.load(config)
    network = model.unwrap_python_model().network  # the logits, as the README says
    with torch.inference_mode():
        logits = network(torch.as_tensor(splits.x_dev))
    loss = Objective("binary").loss(logits, torch.as_tensor(splits.y_dev, dtype=torch.float32))
    assert loss.item() == pytest.approx(metrics["best_dev_loss"], rel=1e-5)


def test_patience_zero_trains_all_epochs_and_still_restores_the_best(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"max_epochs": 25, "patience": 0, "lr": 0.1}))
    outcome = train(config)
    metrics = fetch(outcome.run_id).data.metrics
    assert outcome.stop_reason.value == "max_epochs" and metrics["stopped_epoch"] == 25
    best = outcome.history["dev_loss"].idxmin()
    assert metrics["best_epoch"] == outcome.history.loc[best, "epoch"]
    assert metrics["best_dev_loss"] == pytest.approx(outcome.history["dev_loss"].min())


def test_non_finite_loss_stops_at_once_and_fails_the_run(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"max_epochs": 30, "optimizer": "sgd", "lr": 1e6,
                                     "momentum": 0.0, "task": "regression",
                                     "dataset": "diabetes", "checkpoint_every_epoch": True}))
    outcome = train(config)
    run = fetch(outcome.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["improvenn.stop_reason"] == "non_finite_loss"
    assert outcome.stopped_epoch < 30
    last = outcome.history.iloc[-1]
    assert not (math.isfinite(last["train_loss"]) and math.isfinite(last["dev_loss"]))
    assert outcome.history.iloc[:-1][["train_loss", "dev_loss"]].map(math.isfinite).all().all()
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(outcome.run_id, "checkpoints")}
    if outcome.stopped_epoch == 1:
        assert "checkpoints/last.pt" not in logged
    else:  # the last checkpoint is the last finite epoch's: a resume does not start from NaN
        last = checkpoints.load(Path(mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, artifact_path="checkpoints/last.pt")))
        assert last["epoch"] == outcome.stopped_epoch - 1
        assert all(torch.isfinite(w).all() for w in last["model"].values())


def test_regression_on_diabetes_logs_losses_without_errors(tracking_uri: str) -> None:
    outcome = train(TrainConfig(dataset="diabetes", max_epochs=8, log_model=True))
    run = fetch(outcome.run_id)
    assert run.data.params["task"] == "regression"
    assert "dev_error" not in run.data.metrics and "test_loss" in run.data.metrics
    model = mlflow.pyfunc.load_model(f"runs:/{outcome.run_id}/model")
    rows = load_diabetes(as_frame=True).frame  # raw rows, the target column ignored
    predictions = model.predict(rows)
    assert predictions.shape == (len(rows),)  # one value per row
    assert 50 < predictions.mean() < 250  # in target units, not standardized


def test_every_scheduler_and_regularizer_trains(tracking_uri: str) -> None:
    for options in (
        {"scheduler": "plateau", "plateau_patience": 1, "batch_norm": True},
        {"scheduler": "cosine", "warmup_epochs": 2, "l2_mode": "penalty", "weight_decay": 1.0},
        {"scheduler": "onecycle", "optimizer": "adamw", "l2_mode": "decoupled",
         "weight_decay": 0.01},
        {"scheduler": "exponential", "optimizer": "sgd", "nesterov": True, "grad_clip": 1.0,
         "input_dropout": 0.1, "activation": "tanh"},
    ):
        outcome = train(TrainConfig(**(SMALL | options)))
        assert outcome.status == "FINISHED", options


def test_cnn_on_digits(tracking_uri: str) -> None:
    outcome = train(TrainConfig(dataset="digits", model="cnn", n_samples=300, max_epochs=3,
                                hidden_units=(32,), log_model=False))
    assert outcome.summary["test_error"] < 0.9
    assert "bayes_error" not in fetch(outcome.run_id).data.params  # no generator to ask


def test_seeded_cpu_runs_are_identical(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"dropout": (0.2,), "batch_norm": True}))
    first, second = train(config), train(config)
    pd.testing.assert_frame_equal(first.history.drop(columns="epoch_seconds"),
                                  second.history.drop(columns="epoch_seconds"))


def test_the_model_takes_a_users_own_rows(tracking_uri, tmp_path) -> None:
    rng = np.random.default_rng(0)
    raw = pd.DataFrame({"a": rng.normal(size=90), "color": ["red", "green", "blue"] * 30})
    raw["label"] = np.where(raw["color"] == "red", "warm", np.where(raw["a"] > 0, "hi", "lo"))
    raw.to_csv(tmp_path / "mine.csv", index=False)
    config = TrainConfig(**(SMALL | {"dataset": f"csv:{tmp_path / 'mine.csv'}", "target": "label",
                                     "log_model": True, "max_epochs": 30, "lr": 0.05}))
    outcome = train(config)
    uri = f"runs:/{outcome.run_id}/model"
    meta = mlflow.models.get_model_info(uri).metadata
    assert meta["task"] == "multiclass" and meta["class_names"] == ["hi", "lo", "warm"]
    assert meta["feature_names"] == ["a", "color_blue", "color_green", "color_red"]
    assert meta["returns"] == "labels"
    predicted = mlflow.pyfunc.load_model(uri).predict(pd.read_csv(tmp_path / "mine.csv"))
    assert (predicted == raw["label"]).mean() >= 1 - outcome.summary["best_train_error"] - 0.1


def test_amp_off_cuda_trains_in_float32_and_is_logged_as_off(tracking_uri: str) -> None:
    outcome = train(TrainConfig(**(SMALL | {"amp": True, "device": "cpu"})))
    assert fetch(outcome.run_id).data.params["amp"] == "false"


def test_run_name_tells_settings_apart() -> None:
    config = TrainConfig(hidden_units=(64, 64), weight_decay=1e-4, dropout=(0.2,))
    assert run_name(config) == "mlp-64x64-l2=0.0001-do=0.2-adam-lr=0.01"
    assert run_name(config.replace(run_name="mine")) == "mine"


def test_a_callback_can_stop_training_as_pruned(tracking_uri: str) -> None:
    from mlflow_improvenn.training.early_stopping import StopReason, StopTraining

    def prune_at_three(record) -> None:
        if record.epoch == 3:
            raise StopTraining(StopReason.PRUNED)

    config = TrainConfig(**(SMALL | {"max_epochs": 10}))
    with mlflow.start_run(run_name="parent") as parent:
        outcome = train(config, on_epoch=prune_at_three, tags={"improvenn.trial": "7"})
    run = fetch(outcome.run_id)
    assert outcome.stopped_epoch == 3 and outcome.best_epoch >= 1
    assert run.data.tags["improvenn.stop_reason"] == "pruned"
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.data.tags["improvenn.trial"] == "7"


def test_a_run_that_diverges_in_its_first_epoch_still_logs_its_files(tracking_uri) -> None:
    config = TrainConfig(**(SMALL | {"dataset": "diabetes", "optimizer": "sgd", "momentum": 0.0,
                                     "lr": 1e6, "hidden_units": (8, 8, 8)}))
    outcome = train(config)
    assert (outcome.status, outcome.stopped_epoch, outcome.best_epoch) == ("FAILED", 1, 0)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(outcome.run_id)}
    assert {"history.csv", "plots"} <= artifacts and "model" not in artifacts


@pytest.mark.parametrize(("fault", "status"), [(KeyboardInterrupt, "KILLED"),
                                               (OSError, "FAILED")])
def test_a_fault_while_logging_the_results_ends_the_run(tracking_uri, monkeypatch, fault,
                                                        status) -> None:
    """A second Ctrl-C, or a full disk, while the run's files are written: an interrupted run
    says so as one interrupted inside the training loop does."""
    def broken_plot(*args, **kwargs):
        raise fault("while drawing the learning curves")

    monkeypatch.setattr("mlflow_improvenn.tracking.artifacts.plots.learning_curves", broken_plot)
    with pytest.raises((fault, RunFailed)) as caught:
        train(TrainConfig(**SMALL))
    assert mlflow.active_run() is None  # nothing left for MLflow to end as FINISHED at exit
    run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
    assert run.info.status == status
    expected_reason = "interrupted" if status == "KILLED" else None
    assert run.data.tags.get("improvenn.stop_reason") == expected_reason
    assert len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "dev_loss")) == \
        SMALL["max_epochs"]  # the queued metrics were written before the run ended
    if status == "FAILED":
        assert (caught.value.local_copy / "history.csv").exists()


def test_a_run_whose_training_raised_is_tagged_error_not_max_epochs(tracking_uri) -> None:
    """Seen before: the run ended FAILED but tagged max_epochs, as if it had run out."""
    def broken(record) -> None:
        if record.epoch == 2:
            raise RuntimeError("the callback broke")

    with pytest.raises(RunFailed, match="the callback broke"):
        train(TrainConfig(**SMALL), on_epoch=broken)
    run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
    assert run.info.status == "FAILED"
    assert run.data.tags["improvenn.stop_reason"] == "error"
