"""``improvenn learning-curve``: nested shares of one train split, one dev split, children in
worker processes, the parent's curves and verdict, and what ``diagnose`` says of it."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.diagnosis.curve_runs import TAG_LEARNING_CURVE, TAG_SHARE
from mlflow_improvenn.search.learning_curve import DEFAULT_FRACTIONS, run_learning_curve
from mlflow_improvenn.training import data
from mlflow_improvenn.training.options import TrainConfig

#: Over-fits: 64 pixels, 32 hidden units and at most 300 training rows (180 dev rows).
OVERFIT = TrainConfig(dataset="digits", n_samples=600, dev_fraction=0.3, hidden_units=(32,),
                      max_epochs=6, log_model=False, device="cpu")
#: High bias: a linear model on three spiral arms.
LINEAR = TrainConfig(dataset="spiral", n_samples=600, hidden_units=(), max_epochs=10,
                     log_model=False, device="cpu")


def test_shares_are_nested_in_one_permutation_and_the_dev_split_is_fixed() -> None:
    splits = [data.load(OVERFIT.replace(train_fraction=f)) for f in DEFAULT_FRACTIONS]
    for smaller, larger in zip(splits, splits[1:], strict=False):
        assert len(smaller.x_train) < len(larger.x_train)
        assert np.array_equal(smaller.x_train, larger.x_train[:len(smaller.x_train)])
        assert np.array_equal(smaller.x_dev, larger.x_dev)
        assert np.array_equal(smaller.y_dev, larger.y_dev)
        assert np.array_equal(smaller.x_test, larger.x_test)


def test_an_over_fitting_set_up_gets_more_data_will_help(tracking_uri: str) -> None:
    result = run_learning_curve(OVERFIT, workers=2, experiment="curve")
    assert result.verdict.verdict.value == "more_data_will_help", result.verdict.reason
    client = mlflow.MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[TAG_LEARNING_CURVE] == "true"
    children = mlflow.search_runs(experiment_names=["curve"],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(children[f"tags.{TAG_SHARE}"].astype(float)) == list(DEFAULT_FRACTIONS)
    assert children["params.n_dev"].nunique() == 1
    rows = sorted(children["params.n_train"].astype(int))
    dev = client.get_metric_history(parent.info.run_id, "learning_curve_dev")
    assert [m.step for m in sorted(dev, key=lambda m: m.step)] == rows
    assert len(client.get_metric_history(parent.info.run_id, "learning_curve_train")) == 5
    assert {"learning_curve_last_slope", "learning_curve_dev_at_2x",
            "learning_curve_dev_at_10x_high"} <= set(parent.data.metrics)
    files = {a.path for d in ("plots", "learning_curve")
             for a in client.list_artifacts(parent.info.run_id, d)}
    assert files == {"plots/learning_curve.png", "learning_curve/points.csv"}
    shown = CliRunner().invoke(main, ["diagnose", "--run-id", parent.info.run_id])
    assert shown.exit_code == 0, shown.output
    assert f"Learning curve {parent.info.run_id}: more_data_will_help" in shown.output


def test_a_linear_model_on_spiral_data_gets_more_data_will_not_help(tracking_uri) -> None:
    result = CliRunner().invoke(main, ["learning-curve", "--dataset", "spiral", "--n-samples",
                                       "600", "--hidden-units", "", "--max-epochs", "10",
                                       "--log-model", "false"])
    assert result.exit_code == 0, result.output
    assert "more_data_will_not_help: the curves have met above the baseline" in result.output


@pytest.mark.parametrize(("fractions", "says"), [
    ("0,0.5,1", "0 is not in the allowed range (0, 1]"),
    ("0.2,0.5,1.5", "1.5 is not in the allowed range (0, 1]"),
    ("0.5,1", "at least 3 distinct shares"),
    ("0.5,1,x", "not a comma-separated list"),
    ("0.01,0.5,1", "0.01 of 60 train rows leaves 1; training needs at least 3"),
])
def test_bad_fractions_are_one_usage_error_and_no_run(tracking_uri, fractions, says) -> None:
    result = CliRunner().invoke(main, ["learning-curve", "--dataset", "spiral", "--n-samples",
                                       "100", "--fractions", fractions])
    assert result.exit_code == 2, result.output
    assert "'--fractions'" in result.output and says in result.output
    assert "Traceback" not in result.output
    assert mlflow.search_runs(search_all_experiments=True).empty
