"""fit: the user's own network and data as a whole improvenn run."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from mlflow_improvenn import fit
from mlflow_improvenn.training import checkpoints
from mlflow_improvenn.training.options import ConfigError
from mlflow_improvenn.training.user_code import load_function
from tests.runs.own_data import (
    MODEL_FILE,
    GRUClassifier,
    memmap_splits,
    sequences,
    splits_of,
    xor_arrays,
)
from tests.runs.test_run_schema import held

FAST = dict(max_epochs=6, patience=0, batch_size=32, lr=0.01)


def residual_mlp(width: int = 32, blocks: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return load_function("model", f"{MODEL_FILE}:build")(6, 1, width=width, blocks=blocks)


def no_runs() -> bool:
    return mlflow.search_runs(search_all_experiments=True).empty


def test_a_residual_mlp_with_layernorm_is_a_whole_run_whose_model_loads_elsewhere(
    tracking_uri: str, tmp_path, schema
) -> None:
    x, y = xor_arrays()
    (x_train, y_train), dev, test = splits_of(x, y)
    frame = pd.DataFrame(x_train, columns=[f"f{i}" for i in range(6)])
    model = residual_mlp()
    outcome = fit(model, (frame, pd.Series(y_train)), dev, test, weight_decay=1e-3,
                  model_params={"width": 32, "blocks": 2}, experiment="own", **FAST)

    assert outcome.status == "FINISHED" and outcome.stopped_epoch == 6
    run = mlflow.MlflowClient().get_run(outcome.run_id)
    params = run.data.params
    assert params["model"] == "custom" and params["model_class"] == "model.ResidualMLP"
    assert params["model_param.width"] == "32" and params["task"] == "binary"
    assert (params["n_train"], params["n_features"], params["dataset"]) == ("180", "6", "arrays")
    assert "hidden_units" not in params and "noise" not in params
    assert outcome.summary["best_dev_error"] < 0.4  # it learned XOR
    _holds_only_documented_names(outcome.run_id, schema)

    model_uri = f"runs:/{outcome.run_id}/model"
    meta = mlflow.models.get_model_info(model_uri).metadata
    assert meta["feature_names"] == list(frame.columns) and meta["class_names"] == ["0", "1"]
    expected = model.eval()(torch.as_tensor(test[0])).detach().numpy()
    np.save(tmp_path / "x.npy", test[0])
    script = (  # a fresh process, where the module of the model's class was never imported
        "import sys, mlflow, numpy as np, json\n"
        f"model = mlflow.pyfunc.load_model({model_uri!r})\n"
        "print(json.dumps(model.predict(np.load('x.npy')).ravel().tolist()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    predicted = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(predicted, expected.ravel(), rtol=1e-5, atol=1e-6)


def _holds_only_documented_names(run_id: str, schema: dict) -> None:
    for section, names in held(run_id).items():
        undocumented = {n for n in names - set(schema[section])
                        if not n.startswith("model_param.")}
        assert not undocumented, f"{section} not in docs/run-schema.md: {sorted(undocumented)}"


def test_a_gru_learns_a_sequence_task_through_fit(tracking_uri: str) -> None:
    x, y = sequences()
    torch.manual_seed(0)
    outcome = fit(GRUClassifier(), (x[:160], y[:160]), (x[160:200], y[160:200]),
                  (x[200:], y[200:]), log_model=False, weight_decay=1e-4, **FAST)
    params = mlflow.MlflowClient().get_run(outcome.run_id).data.params
    assert params["task"] == "multiclass" and params["n_classes"] == "3"
    history = outcome.history
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert {"best_dev_error", "test_error"} <= set(outcome.summary)


def test_a_memory_mapped_dataset_streams_through_workers(tracking_uri: str, tmp_path) -> None:
    datasets = memmap_splits(tmp_path)
    dev = DataLoader(datasets["dev"], batch_size=50)  # a DataLoader is used as it is
    torch.manual_seed(0)
    model = residual_mlp()
    with pytest.raises(ConfigError, match="task"):
        fit(model, datasets["train"], dev, **FAST)
    assert no_runs()

    outcome = fit(model, datasets["train"], dev, datasets["test"], task="binary",
                  num_workers=2, log_model=False, **FAST)
    assert outcome.status == "FINISHED"
    params = mlflow.MlflowClient().get_run(outcome.run_id).data.params
    assert params["dataset"] == "Dataset:MemmapRows" and params["num_workers"] == "2"
    assert (params["n_train"], params["n_dev"], params["n_test"]) == ("240", "80", "80")
    assert datasets["train"].rows_read == 0  # every row was read in a worker process
    assert outcome.summary["best_dev_error"] < 0.45


def interrupt_at(epoch: int):
    def callback(record) -> None:
        if record.epoch == epoch:
            raise KeyboardInterrupt

    return callback


def test_a_custom_model_run_resumes_bit_for_bit(tracking_uri: str, tmp_path) -> None:
    x, y = xor_arrays()
    train, dev, test = splits_of(x, y)
    options = dict(FAST, max_epochs=7, checkpoint_every_epoch=True, scheduler="step",
                   step_size=2, log_model=False)
    whole = fit(residual_mlp(), train, dev, test, **options)
    broken = fit(residual_mlp(), train, dev, test, on_epoch=interrupt_at(4), **options)
    assert broken.status == "KILLED"
    resumed = fit(residual_mlp(seed=5), train, dev, test, resume_from=broken.run_id, **options)

    assert list(resumed.history["epoch"]) == [4, 5, 6, 7]
    assert resumed.summary == whole.summary
    columns = ["epoch", "train_loss", "dev_loss", "train_error", "dev_error", "lr"]
    assert resumed.history[columns].equals(whole.history[columns].iloc[3:].reset_index(drop=True))
    client = mlflow.MlflowClient()
    a, b = (checkpoints.load(client.download_artifacts(o.run_id, "checkpoints/best.pt",
                                                       str(tmp_path / o.run_id)))["model"]
            for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("model", "data", "options", "option"), [
    ("mlp", "xor", {"hidden_units": (8,)}, "hidden_units"),
    ("wrong_width", "xor", {}, "model"),
    ("mlp", "short_y", {}, "train"),
    ("mlp", "xor", {"no_such_option": 1}, "no_such_option"),
])
def test_bad_input_is_one_clear_error_and_no_run(tracking_uri, model, data, options, option):
    x, y = xor_arrays(60)
    train, dev, _ = splits_of(x, y)
    if data == "short_y":
        train = (train[0], train[1][:-3])
    net = residual_mlp() if model == "mlp" else torch.nn.Linear(6, 3)  # 3 outputs for binary
    with pytest.raises(ConfigError) as caught:
        fit(net, train, dev, **options)
    assert caught.value.option == option
    assert no_runs()


@pytest.fixture(scope="module")
def schema() -> dict:
    from tests.runs.test_run_schema import documented

    return documented()


def test_logging_a_custom_model_prints_no_mlflow_warning(tracking_uri: str, capfd) -> None:
    """Before: every fit() and track() run printed MLflow's caution that a pickled model runs
    code when loaded (the README says it where loading is explained)."""
    x, y = xor_arrays()
    fit(residual_mlp(), (x[:150], y[:150]), (x[150:], y[150:]), code_paths=[], **FAST)
    assert "WARNING" not in capfd.readouterr().err
