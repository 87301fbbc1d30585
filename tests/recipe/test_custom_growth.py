"""The basic recipe with a network of the user's: it grows only through the factory
arguments named as width and depth, and otherwise changes what it can."""

from __future__ import annotations

import mlflow
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.diagnosis.verdicts import Verdict
from mlflow_improvenn.recipe.decisions import RecipePolicy, RunFacts, candidate_actions
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from tests.runs.own_data import MODEL_FILE

OWN = TrainConfig(model=f"{MODEL_FILE}:build", model_params="width=8,blocks=1",
                  weight_decay=1e-2, patience=0)
BIAS = RunFacts(Verdict.HIGH_BIAS, stop_reason="early_stopping")
VARIANCE = RunFacts(Verdict.HIGH_VARIANCE, rows_available=1797)


def changes(config: TrainConfig, facts: RunFacts, **policy) -> list[tuple[str, dict]]:
    return [(a.kind, dict(a.changes))
            for a in candidate_actions(config, facts, RecipePolicy(**policy))]


def test_high_bias_widens_and_deepens_through_the_named_params() -> None:
    assert changes(OWN, BIAS, width_param="width", depth_param="blocks", max_depth=2) == [
        ("wider", {"model_params": "width=16,blocks=1"}),
        ("deeper", {"model_params": "width=8,blocks=2"}),
        ("less_l2", {"weight_decay": 1e-3}),
    ]
    at_limits = OWN.replace(model_params="width=512,blocks=4")
    kinds = [k for k, _ in changes(at_limits, BIAS, width_param="width", depth_param="blocks")]
    assert "wider" not in kinds and "deeper" not in kinds


def test_without_them_the_network_is_left_alone_and_the_rest_is_tried() -> None:
    assert changes(OWN, BIAS) == [("less_l2", {"weight_decay": 1e-3})]
    assert RecipePolicy().cannot_grow(OWN) and not RecipePolicy().cannot_grow(TrainConfig())
    kinds = [k for k, _ in changes(OWN.replace(n_samples=300), VARIANCE)]
    assert "early_stopping" in kinds and "more_l2" in kinds and "more_data" in kinds
    assert "more_dropout" not in kinds  # dropout describes the built-in networks


@pytest.mark.parametrize(("config", "policy", "says"), [
    (TrainConfig(), {"width_param": "width"}, "grows by hidden_units"),
    (OWN, {"depth_param": "depth"}, "--model-param depth=N"),
])
def test_growth_params_are_checked(config, policy, says) -> None:
    with pytest.raises(ConfigError, match=says):
        RecipePolicy(**policy).check_growth(config)


def test_the_command_says_it_cannot_grow_the_network(tracking_uri: str) -> None:
    args = ["recipe", "--model", f"{MODEL_FILE}:build", "--model-param", "width=4",
            "--n-samples", "200", "--max-epochs", "2", "--max-steps", "1", "--log-model", "false"]
    refused = CliRunner().invoke(main, [*args, "--width-param", "channels"])
    assert refused.exit_code == 2 and "--width-param" in refused.output
    assert mlflow.search_runs(search_all_experiments=True).empty
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "without them the recipe cannot grow it" in result.output
