"""docs/run-schema.md and what real runs hold agree, name for name."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "run-schema.md"
SECTIONS = ("Params", "Metrics", "Tags", "Artifacts")


def documented() -> dict[str, dict[str, str]]:
    """Section -> name -> its "when" cell, from the tables of docs/run-schema.md."""
    found: dict[str, dict[str, str]] = {section: {} for section in SECTIONS}
    section = None
    for line in SCHEMA.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif section in found and line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            for name in re.findall(r"`([^`]+)`", cells[0]):
                found[section][name] = cells[1]
    return found


def held(run_id: str) -> dict[str, set[str]]:
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    return {
        "Params": set(run.data.params),
        "Metrics": set(run.data.metrics),
        "Tags": {t for t in run.data.tags if not t.startswith("mlflow.")},
        "Artifacts": _artifacts(client, run_id),
    }


def _artifacts(client: mlflow.MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    names = set()
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir and entry.path == "model":
            names.add("model/")
        elif entry.is_dir:
            names |= _artifacts(client, run_id, entry.path)
        else:
            names.add(entry.path)
    return names


@pytest.fixture(scope="module")
def schema() -> dict[str, dict[str, str]]:
    return documented()


@pytest.mark.parametrize("changes", [
    {"dataset": "moons", "log_model": True, "checkpoint_every_epoch": True},
    {"dataset": "diabetes", "n_samples": 0, "max_epochs": 3},
], ids=["classification", "regression"])
def test_a_run_holds_what_the_schema_lists(tracking_uri: str, schema, changes: dict) -> None:
    outcome = train(TrainConfig(**(SMALL | changes)))
    holds = held(outcome.run_id)
    for section in SECTIONS:
        undocumented = holds[section] - set(schema[section])
        assert not undocumented, f"{section} not in docs/run-schema.md: {sorted(undocumented)}"
        always = {name for name, when in schema[section].items() if when == "always"}
        missing = always - holds[section]
        assert not missing, f"{section} the schema says are always there: {sorted(missing)}"


def test_every_option_is_documented(schema) -> None:
    options = set(TrainConfig().to_params())
    assert options <= set(schema["Params"])
