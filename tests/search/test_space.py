"""The search-space format and the built-in tiers, checked before any trial runs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from mlflow_improvenn.search.space import SpaceError, grid_of, load_space, parse_space, tiered_space
from mlflow_improvenn.training.options import TrainConfig

EXAMPLE = """
lr: {loguniform: [1.0e-4, 1.0e-1]}
dropout: {uniform: [0.0, 0.5]}
batch_size: {int: [16, 256], log: true}
hidden_units: {choice: ["32", "64,64", "128,128"]}
"""


def test_the_documented_example_parses_and_suggests_typed_values(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(EXAMPLE)
    space = load_space(path)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    values = {name: dimension.suggest(trial) for name, dimension in space.items()}
    assert 1e-4 <= values["lr"] <= 0.1
    assert len(values["dropout"]) == 1 and 0.0 <= values["dropout"][0] <= 0.5  # every layer
    assert isinstance(values["batch_size"], int) and 16 <= values["batch_size"] <= 256
    assert values["hidden_units"] in {(32,), (64, 64), (128, 128)}
    TrainConfig(**values)  # what a trial builds: it must be a valid configuration


def test_a_number_range_on_a_list_option_is_a_one_item_list() -> None:
    space = parse_space({"hidden_units": {"int": [4, 8]}, "dropout": {"uniform": [0.1, 0.2]}})
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    config = TrainConfig(**{name: d.suggest(trial) for name, d in space.items()})
    assert len(config.hidden_units) == 1 and 4 <= config.hidden_units[0] <= 8
    assert len(config.dropout) == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"learning_rate": {"uniform": [0, 1]}}, "'learning_rate' is not a training option"),
        ({"lr": {"gaussian": [0, 1]}}, "unknown distribution"),
        ({"lr": {"uniform": [0.1, 0.01]}}, "low 0.1 is above high 0.01"),
        ({"dropout": {"uniform": [0.0, 1.5]}}, "dropout: 1.5 is not in the allowed range"),
        ({"lr": {"loguniform": [0.0, 0.1]}}, "log scale needs a positive low"),
        ({"scheduler": {"choice": ["none", "linear"]}}, "'linear' is not one of"),
        ({"lr": {"uniform": ["a", 1]}}, "bounds must be numbers"),
        ({"batch_size": {"int": [1.5, 8]}}, "whole-number bounds"),
        ({"lr": 0.1}, "give a distribution"),
        ([], "a space is a mapping"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(document, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        parse_space(document)


def test_tiers_grow_from_the_learning_rate() -> None:
    assert list(tiered_space(1)) == ["lr"]
    assert set(tiered_space(2)) == {"lr", "beta1", "hidden_units", "batch_size"}  # Adam
    assert set(tiered_space(2, "sgd")) == {"lr", "momentum", "hidden_units", "batch_size"}
    tier3 = tiered_space(3)
    assert {"scheduler", "beta2", "eps"} <= set(tier3)
    assert not {"beta1", "beta2", "eps"} & set(tiered_space(3, "sgd"))
    assert "64,64,64" in tier3["hidden_units"].choices  # tier 3 varies the number of layers


def test_the_grid_needs_choices() -> None:
    assert grid_of(parse_space({"optimizer": {"choice": ["sgd", "adam"]}})) == {
        "optimizer": ["sgd", "adam"]}
    with pytest.raises(SpaceError, match="grid sampler needs choice"):
        grid_of(tiered_space(1))
