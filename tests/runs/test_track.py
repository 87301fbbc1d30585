"""track: a loop the user keeps, made an improvenn run."""

from __future__ import annotations

import math

import mlflow
import mlflow.pytorch
import pytest
import torch
from torch.nn import functional

from mlflow_improvenn import track
from mlflow_improvenn.training.user_code import load_function
from tests.runs.own_data import MODEL_FILE, splits_of, xor_arrays
from tests.runs.test_fit import _holds_only_documented_names
from tests.runs.test_run_schema import SCHEMA, documented


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    x, y = xor_arrays(150)
    return {name: (torch.as_tensor(a), torch.as_tensor(b, dtype=torch.float32))
            for name, (a, b) in zip(("train", "dev", "test"), splits_of(x, y), strict=True)}


def net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return load_function("model", f"{MODEL_FILE}:build")(6, 1, width=64, blocks=2)


@torch.no_grad()
def measure(model: torch.nn.Module, split: tuple[torch.Tensor, torch.Tensor]) -> tuple:
    model.eval()
    output = model(split[0]).squeeze(1)
    loss = functional.binary_cross_entropy_with_logits(output, split[1]).item()
    return loss, ((output > 0).float() != split[1]).float().mean().item()


def one_epoch(model, optimizer, split) -> float:
    model.train()
    optimizer.zero_grad()
    loss = functional.binary_cross_entropy_with_logits(model(split[0]).squeeze(1), split[1])
    loss.backward()
    optimizer.step()
    return loss.item()


def test_a_plain_loop_stops_early_and_ends_with_the_best_weights_logged(tracking_uri, data):
    model = net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    evaluate = lambda m: {name: measure(m, data[name]) for name in data}  # noqa: E731
    with track(model, optimizer, schedule, patience=4, experiment="mine", evaluate=evaluate,
               model_params={"width": 64}, example=data["dev"][0][:3].numpy()) as run:
        for _ in run.epochs(max_epochs=200):
            train_loss = one_epoch(model, optimizer, data["train"])
            run.log_epoch(train_loss, *measure(model, data["dev"])[:1],
                          dev_error=measure(model, data["dev"])[1])

    logged = mlflow.MlflowClient().get_run(run.tracker.run_id)
    metrics, tags = logged.data.metrics, logged.data.tags
    assert logged.info.status == "FINISHED" and tags["improvenn.stop_reason"] == "early_stopping"
    assert metrics["stopped_epoch"] - metrics["best_epoch"] == 4 and metrics["stopped_epoch"] < 200
    best_dev_loss = metrics["best_dev_loss"]
    assert measure(model, data["dev"])[0] == pytest.approx(best_dev_loss, abs=1e-7)  # restored
    assert best_dev_loss == pytest.approx(min(r.dev_loss for r in run.history_), abs=1e-7)
    reloaded = mlflow.pytorch.load_model(f"runs:/{logged.info.run_id}/model")
    assert measure(reloaded, data["dev"])[0] == pytest.approx(best_dev_loss, abs=1e-6)
    lrs = [m.value for m in mlflow.MlflowClient().get_metric_history(logged.info.run_id, "lr")]
    assert lrs[0] == 0.05 and lrs[5] == 0.025  # read from the optimizer as the schedule steps
    params = logged.data.params
    assert params["model_param.width"] == "64" and params["scheduler"] == "StepLR"
    assert {"best_train_loss", "test_error", "train_loss_falling"} <= set(metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.info.run_id)}
    assert {"checkpoints", "model", "plots", "history.csv"} <= artifacts
    _holds_only_documented_names(logged.info.run_id, documented())


def test_ctrl_c_in_the_loop_ends_the_run_killed_with_what_it_learned(tracking_uri, data):
    model = net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(KeyboardInterrupt), \
            track(model, optimizer, patience=0, log_model=False) as run:
        for epoch in run.epochs(max_epochs=50):
            if epoch == 4:
                raise KeyboardInterrupt  # injected where a person's Ctrl-C lands
            run.log_epoch(one_epoch(model, optimizer, data["train"]),
                          measure(model, data["dev"])[0])
    logged = mlflow.MlflowClient().get_run(run.tracker.run_id)
    assert logged.info.status == "KILLED"
    assert logged.data.tags["improvenn.stop_reason"] == "interrupted"
    assert logged.data.metrics["stopped_epoch"] == 3
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.info.run_id)}
    assert {"checkpoints", "plots", "history.csv"} <= artifacts


def test_a_non_finite_loss_ends_the_epochs_and_fails_the_run(tracking_uri, data) -> None:
    model = net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with track(model, optimizer, log_model=False) as run:
        seen = [epoch for epoch in run.epochs(max_epochs=10)
                if run.log_epoch(math.nan if epoch == 2 else 1.0, 1.0) or True]
    assert seen == [1, 2]
    logged = mlflow.MlflowClient().get_run(run.tracker.run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["improvenn.stop_reason"] == "non_finite_loss"


@pytest.mark.parametrize("patience", [10, 1])  # 1: early stopping had already said stop
def test_an_exception_in_the_loop_fails_the_run_and_goes_on(tracking_uri, data,
                                                           patience) -> None:
    """Seen before: the run that raised was tagged max_epochs, as if it had run out."""
    model = net()
    broke = RuntimeError("the loop broke")
    with pytest.raises(RuntimeError) as raised, track(
            model, torch.optim.SGD(model.parameters(), lr=0.1), patience=patience,
            log_model=False) as run:
        for _ in run.epochs(max_epochs=10):
            run.log_epoch(1.0, 1.0)
            run.log_epoch(1.0, 1.0)
            raise broke
    assert raised.value is broke  # unchanged
    logged = mlflow.MlflowClient().get_run(run.tracker.run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["improvenn.stop_reason"] == "error"
    assert logged.data.tags["improvenn.error"] == "RuntimeError: the loop broke"
    row = next(line for line in SCHEMA.read_text().splitlines()
               if line.startswith("| `improvenn.stop_reason`"))
    assert "`error`" in row  # the value is part of the public schema


@pytest.mark.parametrize(("setting", "value"), [("mode", "Min"), ("monitor", "dev_los"),
                                                ("patience", -1), ("min_delta", -0.1)])
def test_a_setting_the_trainer_would_refuse_is_refused_before_any_run(
    tracking_uri, setting, value
) -> None:
    """Seen before: mode="Min" was read as "max" and restored the worst epoch's weights;
    monitor="dev_los" made a run that failed at its first epoch; patience=-1 was logged."""
    from mlflow_improvenn.training.options import ConfigError

    net = torch.nn.Linear(2, 1)
    with pytest.raises(ConfigError, match=setting):
        track(net, torch.optim.SGD(net.parameters(), lr=0.1), **{setting: value})
    assert mlflow.search_runs(search_all_experiments=True).empty



@pytest.mark.parametrize(("given", "named"), [
    ({"train_loss": 1.0}, "dev_loss"),
    ({"train_loss": 1.0, "dev_loss": None}, "dev_loss"),
    ({"train_loss": "0.5", "dev_loss": 1.0}, "train_loss"),
    ({"train_loss": 1.0, "dev_loss": torch.ones(2)}, "dev_loss"),
    ({"train_loss": 1.0, "dev_loss": 1.0, "dev_error": "a"}, "dev_error"),
    ({"train_loss": 1.0, "dev_loss": 1.0, "train_error": True}, "train_error"),
])
def test_log_epoch_refuses_a_missing_or_non_number_value_by_name(tracking_uri, given, named):
    """Seen before: a missing dev_loss was float(None) deep inside; a string error rate
    failed later in the background logger, a tensor one in the end plots."""
    model = torch.nn.Linear(2, 1)
    with track(model, torch.optim.SGD(model.parameters(), lr=0.1), log_model=False) as run:
        for _ in run.epochs(max_epochs=1):
            with pytest.raises(TypeError, match=rf"log_epoch: {named} must be a number"):
                run.log_epoch(**given)
            assert run.history_ == []  # nothing recorded nor queued
            run.log_epoch(1.0, torch.tensor(0.5), dev_error=torch.tensor([0.25]))
    logged = mlflow.MlflowClient().get_run(run.tracker.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics["best_dev_loss"] == 0.5
    assert logged.data.metrics["best_dev_error"] == 0.25
