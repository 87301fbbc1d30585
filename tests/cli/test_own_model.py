"""``--model FILE.py:FUNCTION``, ``--model-param`` and ``--dataset py:...`` from the command
line and ``mlflow run``: good runs, and bad input refused before any run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from tests.runs.own_data import MODEL_FILE, ROOT

FAST = ["--n-samples", "300", "--max-epochs", "2", "--log-model", "false"]
CNN = ["--dataset", "digits", "--model", f"{MODEL_FILE}:build_cnn"]

USER_CODE = '''
import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset


def raises(n_features, n_outputs):
    raise RuntimeError("out of ideas")


def no_module(n_features, n_outputs):
    return "a string"


def wrong_width(n_features, n_outputs, width=4):
    return nn.Linear(n_features, width)


def one_column():
    return np.zeros(50)


def misaligned():
    return np.zeros((50, 3)), np.zeros(40)


def mlp(n_features, n_outputs, width=8):
    return nn.Sequential(nn.Linear(n_features, width), nn.ReLU(), nn.Linear(width, n_outputs))


class Rows(TensorDataset):
    classes = ["a", "b", "c"]


def streamed(seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(300, 5, generator=generator)
    y = x[:, :3].argmax(dim=1)
    return {"train": Rows(x[:200], y[:200]), "dev": Rows(x[200:250], y[200:250]),
            "test": Rows(x[250:], y[250:])}
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "users_code.py"
    path.write_text(textwrap.dedent(USER_CODE))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, ["train", *FAST, *args])


def all_runs():
    return mlflow.search_runs(search_all_experiments=True)


def test_a_cnn_of_ones_own_trains_from_the_command_line(tracking_uri: str) -> None:
    result = invoke(*CNN, "--model-param", "channels=4", "--model-param", "blocks=1",
                    "--weight-decay", "1e-4")
    assert result.exit_code == 0, result.output
    run = mlflow.MlflowClient().get_run(all_runs()["run_id"][0])
    params = run.data.params
    assert params["model"] == f"{MODEL_FILE}:build_cnn"
    assert params["model_class"] == "model.SmallCNN"
    assert (params["model_param.channels"], params["model_param.blocks"]) == ("4", "1")
    assert params["model_params"] == "channels=4,blocks=1" and "hidden_units" not in params
    assert run.info.run_name.startswith("model.build_cnn-channels=4-blocks=1-l2=0.0001")
    assert run.data.metrics["stopped_epoch"] == 2 and "best_dev_error" in run.data.metrics


def test_datasets_of_a_py_loader_stream_into_a_factory_model(tracking_uri, user_file) -> None:
    result = invoke("--dataset", f"py:{user_file}:streamed", "--task", "multiclass",
                    "--model", f"{user_file}:mlp", "--model-param", "width=16")
    assert result.exit_code == 0, result.output
    params = mlflow.MlflowClient().get_run(all_runs()["run_id"][0]).data.params
    assert params["dataset"] == f"py:{user_file}:streamed" and params["n_classes"] == "3"
    assert params["n_train"] == "200" and params["model_param.width"] == "16"


@pytest.mark.parametrize(("args", "option", "says"), [
    (["--model", "{f}:raises"], "--model", "raised RuntimeError: out of ideas"),
    (["--model", "{f}:no_module"], "--model", "returned str, not a torch.nn.Module"),
    (["--model", "{f}:wrong_width"], "--model", "needs (8, 1)"),
    (["--model", "{f}:mlp", "--model-param", "depth=3"], "--model-params",
     "depth: not a parameter of"),
    (["--model", "{f}:mlp", "--model-param", "width"], "--model-params", "not KEY=VALUE"),
    (["--model", "{f}:absent"], "--model", "has no function 'absent'"),
    (["--model", "{f}:mlp", "--hidden-units", "8"], "--hidden-units", "own architecture"),
    (["--model-param", "width=3"], "--model-params", "only a custom model"),
    (["--dataset", "py:{f}:one_column"], "--dataset", "returned a ndarray of shape (50,)"),
    (["--dataset", "py:{f}:misaligned"], "--dataset", "one value per row of X"),
    (["--dataset", "py:{f}:streamed", "--task", "multiclass"], "--model", "stream"),
])
def test_bad_user_code_is_a_usage_error_and_no_run(tracking_uri, user_file, args, option, says):
    result = invoke(*(a.format(f=user_file) for a in args))
    assert result.exit_code == 2, result.output
    assert option in result.output and says in result.output, result.output
    assert "Traceback" not in result.output
    assert all_runs().empty


def test_the_example_project_runs_through_mlflow_run(tracking_uri: str) -> None:
    args = [sys.executable, "-m", "mlflow", "run", str(ROOT / "projects" / "your_own_model"),
            "--env-manager", "local", "-P", "max_epochs=2", "-P", "n_samples=300",
            "-P", "channels=4", "-P", "log_model=false"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = mlflow.MlflowClient().get_run(all_runs()["run_id"][0])
    assert run.info.status == "FINISHED"
    assert run.data.params["model_class"] == "model.SmallCNN"
    assert run.data.params["model_param.channels"] == "4"
