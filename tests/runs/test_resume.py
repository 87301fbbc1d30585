"""Resuming a run from its checkpoint continues it exactly."""

from __future__ import annotations

import mlflow
import pytest
import torch

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training import checkpoints
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from tests.conftest import SMALL

RESUMABLE = SMALL | {"max_epochs": 10, "patience": 0, "dropout": (0.2,), "scheduler": "step",
                     "step_size": 3, "checkpoint_every_epoch": True}


def best_weights(run_id: str, tmp_path) -> dict[str, torch.Tensor]:
    path = mlflow.MlflowClient().download_artifacts(run_id, "checkpoints/best.pt", str(tmp_path))
    return checkpoints.load(path)["model"]


def interrupt_at(epoch: int):
    def callback(record) -> None:
        if record.epoch == epoch:
            raise KeyboardInterrupt

    return callback


def test_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_does(tracking_uri, tmp_path):
    config = TrainConfig(**RESUMABLE)
    whole = train(config)
    broken = train(config, on_epoch=interrupt_at(6))
    assert broken.status == "KILLED" and broken.stop_reason.value == "interrupted"
    resumed = train(config.replace(resume_from=broken.run_id))

    run = mlflow.MlflowClient().get_run(resumed.run_id)
    assert run.data.tags["improvenn.resumed_from"] == broken.run_id
    assert list(resumed.history["epoch"]) == list(range(6, 11))  # last.pt was of epoch 5
    assert resumed.summary == whole.summary
    pd_whole = whole.history.set_index("epoch").drop(columns="epoch_seconds")
    pd_resumed = resumed.history.set_index("epoch").drop(columns="epoch_seconds")
    assert pd_resumed.equals(pd_whole.loc[6:])
    a, b = best_weights(whole.run_id, tmp_path / "a"), best_weights(resumed.run_id, tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_falls_back_to_best_and_takes_the_saved_options(tracking_uri: str) -> None:
    first = train(TrainConfig(**(SMALL | {"max_epochs": 4, "lr": 0.05})), experiment="mine")
    mlflow.set_experiment(experiment_id="0")  # a new session: nothing active
    resumed = train(TrainConfig(**(SMALL | {"max_epochs": 6, "resume_from": first.run_id})))
    params = mlflow.MlflowClient().get_run(resumed.run_id).data.params
    assert params["lr"] == "0.05" and params["resume_from"] == first.run_id
    assert resumed.history["epoch"].iloc[0] == first.best_epoch + 1
    assert resumed.experiment_id == first.experiment_id  # beside the run it continues


def test_resume_refuses_unknown_runs_and_finished_epochs(tracking_uri: str) -> None:
    with pytest.raises(ConfigError) as caught:
        train(TrainConfig(**(SMALL | {"resume_from": "0" * 32})))
    assert caught.value.option == "resume_from"
    done = train(TrainConfig(**(SMALL | {"patience": 0})))
    with pytest.raises(ConfigError) as caught:
        train(TrainConfig(**(SMALL | {"patience": 0, "resume_from": done.run_id})))
    assert caught.value.option == "max_epochs"


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_a_schedule_with_a_horizon_resumes_only_to_that_horizon(tracking_uri, scheduler) -> None:
    first = train(TrainConfig(**(SMALL | {"max_epochs": 5, "patience": 0, "scheduler": scheduler,
                                          "checkpoint_every_epoch": True})))
    with pytest.raises(ConfigError) as caught:
        train(TrainConfig(**(SMALL | {"max_epochs": 10, "resume_from": first.run_id})))
    assert caught.value.option == "max_epochs" and "max_epochs=5" in caught.value.message
