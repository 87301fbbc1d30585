"""A sweep searches a custom model's factory arguments (``model_param.KEY`` in the space)."""

from __future__ import annotations

import mlflow
import pytest

from mlflow_improvenn.search.space import SpaceError, configured, parse_space
from mlflow_improvenn.search.sweep import SweepSettings, run_sweep
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from tests.runs.own_data import MODEL_FILE

OWN = dict(model=f"{MODEL_FILE}:build", model_params="blocks=1", n_samples=200,
           max_epochs=2, log_model=False)


def test_a_grid_over_a_model_param_trains_one_child_per_value(tracking_uri: str) -> None:
    space = parse_space({"model_param.width": {"choice": [4, 16]}})
    run_sweep(TrainConfig(**OWN), space, SweepSettings(n_trials=2, sampler="grid", pruner="none"))
    runs = mlflow.search_runs(search_all_experiments=True)
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert sorted(children["params.model_param.width"]) == ["16", "4"]
    assert set(children["params.model_param.blocks"]) == {"1"}  # the base's params stay
    assert set(children["params.model_class"]) == {"model.ResidualMLP"}
    assert children["params.n_parameters"].nunique() == 2


def test_model_params_merge_into_the_base_and_need_a_custom_model(tracking_uri) -> None:
    assert configured(TrainConfig(**OWN), {"model_param.width": 8}).model_params == \
        "blocks=1,width=8"
    with pytest.raises(SpaceError, match="not a training option"):
        parse_space({"model_param.not a name": {"choice": [1]}})
    space = parse_space({"model_param.width": {"choice": [4, 16]}})
    with pytest.raises(ConfigError, match="model_param.width: give a model of your own"):
        run_sweep(TrainConfig(n_samples=200, max_epochs=2), space, SweepSettings(n_trials=1))
    assert mlflow.search_runs(search_all_experiments=True).empty
