"""Recorded peer-tool runs replay exactly, and the tools, run live, still log the recorded keys.

The live tests need the tools (``pip install -e ".[peers]"``) and skip without them.
"""

from __future__ import annotations

import importlib
import importlib.util

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from tests.diagnosis.peer_runs import load, recorded_tools, replay
from tests.diagnosis.peers import TOOLS

#: The packages each tool's runs import, and the variant its live test runs (the one with the
#: most keys to get wrong).
LIVE = {
    "lightning_logger": (("lightning", "torchmetrics"), "torchmetrics"),
    "lightning_autolog": (("lightning", "torchmetrics", "pytorch_lightning"), "torchmetrics"),
    "skorch": (("skorch",), "batch"),
    "keras": (("keras",), "sparse_categorical_accuracy"),
    "transformers": (("transformers", "accelerate"), "log_epoch"),
    "sklearn": (("sklearn",), "mlp_evaluate"),
    "pytorch": ((), "log_metrics"),
}


def test_every_tool_is_recorded_and_tested_live() -> None:
    assert sorted(recorded_tools()) == sorted(TOOLS) == sorted(LIVE)


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_replayed_runs_read_back_as_recorded(tool: str, tracking_uri: str) -> None:
    client = MlflowClient()
    for run in load(tool)["runs"]:
        run_id = replay(run, client)
        searched = mlflow.search_runs(["0"], f"attributes.run_id = '{run_id}'")
        latest = {column.removeprefix("metrics."): value
                  for column, value in searched.iloc[0].items() if column.startswith("metrics.")}
        assert latest == run["latest"]
        for key, entries in run["history"].items():
            history = client.get_metric_history(run_id, key)
            assert sorted([m.step, m.value, m.timestamp] for m in history) == sorted(entries), key
        assert client.get_run(run_id).data.params == run["params"]
        assert run["tags"].items() <= client.get_run(run_id).data.tags.items()


@pytest.mark.parametrize("tool", sorted(LIVE))
def test_live_tool_logs_the_recorded_keys(tool: str, tracking_uri: str, one_thread: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Autologged models get their pip requirements from a subprocess that imports the model's
    # packages: 12 of the 15 s of a tiny Lightning or Keras run. Past this timeout MLflow logs
    # its default requirements instead; what the run logs as metrics does not change.
    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    packages, variant_name = LIVE[tool]
    for package in packages:  # installed? (importing keras here would pick the wrong backend)
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{tool}'s live run needs {package} (extra: peers)")
    module = importlib.import_module(TOOLS[tool])
    variant = next(v for v in module.VARIANTS if (v.tool, v.name) == (tool, variant_name))
    _, run = variant.run(variant.tiny)
    live_keys = set(MlflowClient().get_run(run.run_id).data.metrics)
    recorded = [run for run in load(tool)["runs"] if run["variant"] == variant_name]
    assert recorded
    for record in recorded:
        assert set(record["latest"]) == live_keys, record["setup"]


@pytest.fixture
def one_thread() -> None:
    """Tiny models train faster on one thread, above all on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
