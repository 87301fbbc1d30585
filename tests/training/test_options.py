"""Option declarations: validation, string round trips, and the MLproject kept in step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from mlflow_improvenn.training.options import (
    ConfigError,
    TrainConfig,
    format_value,
    option_specs,
    option_types,
    parse_value,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"dropout": (1.0,)}, "dropout"),
        ({"dropout": (-0.1,)}, "dropout"),
        ({"input_dropout": 1.0}, "input_dropout"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"scheduler": "linear"}, "scheduler"),
        ({"hidden_units": (64, 0)}, "hidden_units"),
        ({"dropout": (0.1, 0.2, 0.3)}, "dropout"),
        ({"dev_fraction": 0.5, "test_fraction": 0.45}, "test_fraction"),
        ({"model": "cnn"}, "model"),
        ({"dataset": "csv:x.csv"}, "target"),
        ({"dataset": "moons", "target": "y"}, "target"),
        ({"device": "gpu"}, "device"),
        ({"l2_mode": "decoupled", "optimizer": "sgd"}, "l2_mode"),
        ({"optimizer": "adamw", "weight_decay": 0.1}, "l2_mode"),
        ({"nesterov": True}, "nesterov"),
        ({"warmup_epochs": 10, "max_epochs": 10}, "warmup_epochs"),
        ({"batch_norm": True, "batch_size": 1}, "batch_size"),
        ({"mode": "max"}, "mode"),
        ({"weight_decay": math.inf}, "weight_decay"),
    ],
)
def test_invalid_options_are_refused_naming_the_option(changes: dict, option: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**changes)
    assert caught.value.option == option


def test_range_message_names_the_allowed_interval() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        TrainConfig(dropout=(1.5,))


def test_every_option_round_trips_through_its_string_form() -> None:
    config = TrainConfig(hidden_units=(32, 16), dropout=(0.5, 0.2), batch_norm=True, eps=1e-7)
    for name in option_specs():
        assert parse_value(name, format_value(getattr(config, name))) == getattr(config, name)


def test_list_options_parse_with_spaces_and_refuse_garbage() -> None:
    assert parse_value("hidden_units", "64, 32") == (64, 32)
    assert parse_value("hidden_units", "") == ()
    with pytest.raises(ConfigError, match="hidden_units"):
        parse_value("hidden_units", "64,abc")


@pytest.mark.parametrize(("name", "text"), [("hidden_units", ","), ("hidden_units", "64,,64"),
                                            ("dropout", "0.2,"), ("dropout", " , ")])
def test_an_empty_list_item_is_a_typo_not_a_shorter_list(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=f"{text!r} is not a valid comma-separated"):
        parse_value(name, text)


def test_mlproject_main_declares_exactly_the_training_options() -> None:
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    main = project["entry_points"]["main"]
    defaults = TrainConfig()
    types = option_types()
    assert list(main["parameters"]) == list(option_specs())
    for name, declared in main["parameters"].items():
        numeric = {int: "int", float: "float"}.get(types[name], "string")
        expected_type = "string" if option_specs()[name].auto else numeric  # lr=auto
        assert declared["type"] == expected_type, name
        assert parse_value(name, str(declared["default"])) == getattr(defaults, name), name
        flag = "--" + name.replace("_", "-")
        assert f"{flag} {{{name}}}" in main["command"], name


def test_conda_env_lists_every_runtime_dependency() -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(pyproject["project"]["dependencies"])


def test_readme_documents_every_option() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in option_specs() if f"| `{name}` |" not in readme]
    assert not missing


def test_readme_carries_the_generated_lesson_table() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- lessons:start -->")[1].split("<!-- lessons:end -->")[0]
    assert block.strip() == (ROOT / "docs" / "lessons.md").read_text().strip()
