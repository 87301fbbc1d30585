"""Resuming a run from its checkpoint continues it exactly."""

from __future__ import annotations

import mlflow
import pytest
import torch

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training import checkpoints
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from tests.conftest import SMALL
from tests.runs.own_data import MODEL_FILE

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



def cli(*args: str):
    from click.testing import CliRunner

    from mlflow_improvenn.cli import main

    return CliRunner().invoke(main, ["train", "--log-model", "false", "--quiet", *args])


def first_cli_run() -> str:
    """A run of 8 hidden units on moons, the rest the defaults, ended at max_epochs 2."""
    assert cli("--n-samples", "120", "--hidden-units", "8", "--max-epochs", "2").exit_code == 0
    return mlflow.search_runs(search_all_experiments=True).loc[0, "run_id"]


def test_an_option_that_changes_the_model_data_or_optimization_is_refused(tracking_uri):
    """Before: each was silently replaced by the resumed run's value (a resume with
    --hidden-units 16 trained and logged the 8-unit network)."""
    first = first_cli_run()
    for args, says in [
        (["--hidden-units", "16"], "hidden_units '8', not '16'"),
        (["--dataset", "circles"], "dataset 'moons', not 'circles'"),
        (["--batch-norm"], "batch_norm 'false', not 'true'"),
        (["--model", f"{MODEL_FILE}:build"], f"model 'mlp', not '{MODEL_FILE}:build'"),
        (["--lr", "0.1"], "lr '0.01', not '0.1'"),
        (["--seed", "3"], "seed '0', not '3'"),
        (["--lr", "auto"], "lr '0.01', not 'auto'"),  # and no range test's run left behind
    ]:
        result = cli("--resume-from", first, "--max-epochs", "4", *args)
        assert result.exit_code == 2, (args, result.output)
        assert f"'{args[0]}'" in result.output and f"trained with {says}" in result.output, \
            result.output
        assert len(mlflow.search_runs(search_all_experiments=True)) == 1, args


def test_stopping_options_change_on_resume_and_repeated_ones_are_accepted(tracking_uri):
    """Before: --patience and --min-delta were silently the resumed run's."""
    first = first_cli_run()
    result = cli("--resume-from", first, "--max-epochs", "4", "--patience", "5",
                 "--min-delta", "0.001", "--hidden-units", "8", "--n-samples", "120")
    assert result.exit_code == 0, result.output
    resumed = mlflow.search_runs(search_all_experiments=True,
                                 filter_string=f"tags.improvenn.resumed_from = '{first}'")
    params = resumed.iloc[0]
    assert params["params.patience"] == "5" and params["params.min_delta"] == "0.001"
    assert params["params.hidden_units"] == "8" and params["params.max_epochs"] == "4"


def test_a_run_that_stopped_early_continues_with_a_larger_patience(tracking_uri) -> None:
    stopped = train(TrainConfig(**(SMALL | {"max_epochs": 20, "patience": 1, "min_delta": 10.0,
                                            "checkpoint_every_epoch": True})))  # never improves
    assert (stopped.stop_reason.value, stopped.stopped_epoch) == ("early_stopping", 2)
    again = TrainConfig(**(SMALL | {"max_epochs": 20, "resume_from": stopped.run_id}))
    with pytest.raises(ConfigError, match="stopped early"):
        train(again.replace(patience=1))
    resumed = train(again.replace(patience=3))  # min_delta left out: the run's 10
    assert list(resumed.history["epoch"]) == [3, 4]
    assert resumed.stop_reason.value == "early_stopping"
