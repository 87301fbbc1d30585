"""The range test as an MLflow run, ``--lr auto`` in train, MLproject and sweeps, and bad
input refused before any run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.diagnosis.report import diagnose
from mlflow_improvenn.runs.lr_find import TAG_LR_FIND_RUN, TAG_TRAINED_RUN, find_lr
from mlflow_improvenn.search.space import parse_space
from mlflow_improvenn.search.sweep import SweepSettings, run_sweep
from mlflow_improvenn.tracking.background import TAG_HOST, TAG_PID
from mlflow_improvenn.tracking.liveness import judge
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from mlflow_improvenn.training.range_test import RangeTestSettings
from tests.conftest import SMALL

FAST = ["--n-samples", "200", "--max-epochs", "2", "--hidden-units", "8", "--log-model", "false"]


def all_runs() -> pd.DataFrame:
    return mlflow.search_runs(search_all_experiments=True)


def test_the_range_test_is_one_run_with_its_curve_suggestion_and_plot(tracking_uri) -> None:
    settings = RangeTestSettings(num_steps=40, burn_in=5, race_epochs=2)
    outcome = find_lr(TrainConfig(**SMALL), settings, experiment="lr")
    client = mlflow.MlflowClient()
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["improvenn.role"] == "lr_find"
    params = run.data.params
    assert "lr" not in params and params["n_train"] == "120" and params["hidden_units"] == "16"
    assert params["lr_find_start_lr"] == "1e-07" and params["lr_find_num_steps"] == "40"
    steps = len(outcome.result.lrs)
    lrs = client.get_metric_history(outcome.run_id, "lr_find_lr")
    assert [m.step for m in lrs] == list(range(steps))
    assert len(client.get_metric_history(outcome.run_id, "lr_find_loss")) == steps
    assert len(client.get_metric_history(outcome.run_id, "lr_find_loss_smoothed")) == steps - 5
    assert run.data.metrics["suggested_lr"] == pytest.approx(outcome.suggested_lr)
    assert float(run.data.tags["improvenn.suggested_lr"]) == pytest.approx(
        outcome.suggested_lr, rel=1e-3)
    assert {"suggested_lr_min_div10", "suggested_lr_steepest"} <= set(run.data.metrics)
    race = outcome.result.race
    assert params["lr_find_race_epochs"] == "2"
    assert run.data.metrics["suggested_lr_valley"] == outcome.result.suggestion.lr
    raced = client.get_metric_history(outcome.run_id, "lr_race_lr")
    assert [(m.step, m.value) for m in raced] == list(enumerate(race.lrs))
    losses = client.get_metric_history(outcome.run_id, "lr_race_dev_loss")
    assert [m.value for m in losses] == list(race.dev_losses)
    assert outcome.suggested_lr == race.lrs[race.winner]
    assert [a.path for a in client.list_artifacts(outcome.run_id, "plots")] == [
        "plots/lr_find.png"]


def test_the_range_test_run_shows_its_name_author_and_source_in_the_ui(tracking_uri) -> None:
    """The MLflow UI lists it by name, "Created by" and "Source", as it lists a training run:
    no ``lr=auto`` in a name of a run that sweeps the rate, and the tags ``start_run`` adds."""
    outcome = find_lr(TrainConfig(**SMALL), RangeTestSettings(num_steps=20, burn_in=5))
    run = mlflow.MlflowClient().get_run(outcome.run_id)
    assert run.info.run_name == "lr-find mlp-16-adam"
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type"} <= set(run.data.tags)


def test_a_range_test_whose_process_died_while_logging_can_be_ended_as_stale(
    tracking_uri,
) -> None:
    """Before: it had no host and pid, so ``improvenn runs --stale`` could not judge it."""
    outcome = find_lr(TrainConfig(**SMALL), RangeTestSettings(num_steps=20, burn_in=5))
    client = mlflow.MlflowClient()
    tags = client.get_run(outcome.run_id).data.tags
    dead = {**tags, TAG_PID: "999999999"}  # as if it were still RUNNING, its process gone
    assert judge(dead, 10, tags[TAG_HOST], datetime.now(UTC)).gone


def test_lr_auto_trains_with_the_logged_suggestion_and_links_the_two_runs(tracking_uri) -> None:
    result = CliRunner().invoke(main, ["train", *FAST, "--lr", "auto", "--quiet"])
    assert result.exit_code == 0, result.output
    runs = all_runs()
    assert len(runs) == 2
    finder = runs[runs["tags.improvenn.role"] == "lr_find"].iloc[0]
    trained = runs[runs["tags.improvenn.role"] != "lr_find"].iloc[0]
    assert trained[f"tags.{TAG_LR_FIND_RUN}"] == finder.run_id
    assert finder[f"tags.{TAG_TRAINED_RUN}"] == trained.run_id
    assert float(trained["params.lr"]) == finder["metrics.suggested_lr"]
    lr = float(trained["params.lr"])
    assert f"  lr {lr:.3g} from the range test, run {finder.run_id}" in result.output
    assert result.output.strip().splitlines()[-1].startswith("See it with: mlflow ui")
    table = diagnose(run_ids=[trained.run_id, finder.run_id])
    assert list(table["run_id"]) == [trained.run_id]  # the range test is no training run


def test_under_mlflow_run_the_launched_run_trains_and_the_range_test_is_beside_it(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``mlflow run . -P lr=auto`` does (checked once through mlflow run itself, a minute
    on a loaded machine: too slow for the suite): the launcher's run, with lr=auto logged,
    becomes the training run; the range test may not take it over."""
    client = mlflow.MlflowClient()
    launched = client.create_run("0", tags={"mlflow.project.entryPoint": "main"}).info.run_id
    client.log_param(launched, "lr", "auto")
    monkeypatch.setenv("MLFLOW_RUN_ID", launched)
    result = CliRunner().invoke(main, ["train", *FAST, "--lr", "auto", "--quiet"])
    assert result.exit_code == 0, result.output
    runs = all_runs().set_index("run_id")
    finder = runs[runs["tags.improvenn.role"] == "lr_find"].iloc[0]
    trained = runs.loc[launched]
    assert len(runs) == 2 and trained.status == "FINISHED"
    assert (trained["params.lr"], float(trained["params.lr_resolved"])) == (
        "auto", finder["metrics.suggested_lr"])
    assert trained[f"tags.{TAG_LR_FIND_RUN}"] == finder.name


def test_a_sweep_with_lr_auto_runs_a_range_test_per_trial(tracking_uri: str) -> None:
    base = TrainConfig(**(SMALL | {"lr": "auto", "max_epochs": 2}))
    space = parse_space({"hidden_units": {"choice": ["4", "8"]}})
    result = run_sweep(base, space, SweepSettings(n_trials=2, sampler="grid", pruner="none"))
    runs = all_runs()
    children = runs[runs["tags.mlflow.parentRunId"] == result.parent_run_id]
    finders = children[children["tags.improvenn.role"] == "lr_find"]
    trials = children[children["tags.improvenn.role"] != "lr_find"]
    assert len(finders) == 2 and len(trials) == 2
    assert set(trials[f"tags.{TAG_LR_FIND_RUN}"]) == set(finders["run_id"])
    assert sorted(trials["params.lr"].astype(float)) == sorted(finders["metrics.suggested_lr"])


def test_a_sweep_may_not_search_an_lr_that_auto_fixes(tracking_uri: str) -> None:
    base = TrainConfig(**(SMALL | {"lr": "auto"}))
    space = parse_space({"lr": {"loguniform": [1e-4, 1e-1]}})
    with pytest.raises(ConfigError, match="range test for every trial"):
        run_sweep(base, space, SweepSettings(n_trials=2))
    assert all_runs().empty


@pytest.mark.parametrize(("args", "option", "says"), [
    (["--start-lr", "1", "--end-lr", "0.1"], "--end-lr", "must be above start_lr"),
    (["--start-lr", "0"], "--start-lr", "not a number > 0"),
    (["--smoothing", "1"], "--smoothing", "[0, 1)"),
    (["--num-steps", "12"], "--num-steps", "fewer than 5 steps after the burn-in"),
    (["--race-epochs", "-1"], "--race-epochs", "must be at least 0"),
])
def test_bad_range_test_settings_are_one_usage_error_and_no_run(tracking_uri, args, option,
                                                                 says) -> None:
    result = CliRunner().invoke(main, ["lr-find", *FAST, *args])
    assert result.exit_code == 2, result.output
    assert option in result.output and says in result.output
    assert "Traceback" not in result.output
    assert all_runs().empty


def test_tier_one_sweep_with_lr_auto_is_a_usage_error(tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["sweep", *FAST, "--lr", "auto", "--tier", "1"])
    assert result.exit_code == 2 and "'--tier'" in result.output and "--lr auto" in result.output
    assert all_runs().empty


def test_readme_carries_the_generated_lr_table() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    block = readme.split("<!-- lr-table:start -->")[1].split("<!-- lr-table:end -->")[0]
    assert block.strip() == (root / "docs" / "lr_table.md").read_text().strip()
    assert block.count("\n| ") == 2 + 15  # header, rule, one row per case of the script
