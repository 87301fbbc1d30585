"""The logged model serves real rows: the raw columns of the user's file in, labels or values
out, through every door MLflow has (pyfunc, ``mlflow models predict``, ``mlflow.models.
evaluate``, ``mlflow models serve``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from mlflow_improvenn.runs.training_run import TrainOutcome, train
from mlflow_improvenn.training.options import TrainConfig
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
JOB = {"max_epochs": 40, "hidden_units": (16,), "lr": 0.03, "patience": 0, "device": "cpu",
       "log_model": True}


@dataclass(frozen=True)
class Trained:
    """One run on a csv file, its model downloaded, and the file's rows."""

    outcome: TrainOutcome
    model_dir: Path
    rows: pd.DataFrame
    target: str

    @property
    def features(self) -> pd.DataFrame:
        return self.rows.drop(columns=[self.target])

    def wrong_on_every_split(self) -> float:
        """Rows of the whole file the run's restored model gets wrong, from its own metrics."""
        params = mlflow.MlflowClient().get_run(self.outcome.run_id).data.params
        summary = self.outcome.summary
        return sum(int(params[f"n_{split}"]) * summary[name] for split, name in (
            ("train", "best_train_error"), ("dev", "best_dev_error"), ("test", "test_error")))


def _classes(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The class is decided by a boolean and a text column: what the old README snippet got
    wrong (it zeroed both of a boolean's one-hot columns)."""
    flag = rng.random(n) < 0.5
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(flag, "yes", np.where(color == "red", "maybe", "no"))
    return pd.DataFrame({"size": rng.normal(size=n), "count": rng.integers(0, 5, n),
                         "flag": flag, "color": color, "label": label})


def _values(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=n)
    kind = rng.choice(["a", "b"], n)
    return pd.DataFrame({"x": x, "kind": kind,
                         "y": 3 * x + 5 * (kind == "a") + rng.normal(0, 0.1, n)})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One sqlite store for the module's two runs and its evaluations."""
    folder = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        patch.chdir(folder)
        mlflow.set_tracking_uri(uri)
        yield folder


def _trained(store: Path, name: str, frame: pd.DataFrame, target: str) -> Trained:
    path = store / f"{name}.csv"
    frame.to_csv(path, index=False)
    outcome = train(TrainConfig(**(JOB | {"dataset": f"csv:{path}", "target": target})),
                    experiment=name)
    model_dir = Path(mlflow.artifacts.download_artifacts(
        f"runs:/{outcome.run_id}/model", dst_path=str(store / name)))
    return Trained(outcome, model_dir, pd.read_csv(path), target)


@pytest.fixture(scope="module")
def classifier(store: Path) -> Trained:
    return _trained(store, "classes", _classes(300, np.random.default_rng(0)), "label")


@pytest.fixture(scope="module")
def regressor(store: Path) -> Trained:
    return _trained(store, "values", _values(300, np.random.default_rng(1)), "y")


@pytest.fixture
def in_store(store: Path) -> Iterator[None]:
    """The module's store for this test (other modules' fixtures switch it per test)."""
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_the_readme_snippet_predicts_the_files_rows(classifier: Trained, in_store) -> None:
    """The README's prediction code, run as written on rows read with ``read_csv``: its
    labels are wrong exactly where the run's own metrics say the model is."""
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- predict:start -->\n```python\n(.*?)```", readme, re.S).group(1)
    classifier.rows.iloc[::-1].to_csv("new_rows.csv", index=False)  # target column included
    scope = {"run_id": classifier.outcome.run_id}
    exec(snippet, scope)
    truth = classifier.rows["label"].to_numpy()[::-1]
    assert list(scope["labels"]) != [] and set(scope["labels"]) <= {"maybe", "no", "yes"}
    assert np.sum(scope["labels"] != truth) == pytest.approx(classifier.wrong_on_every_split())
    assert np.mean(scope["labels"] != truth) < 0.05
    proba = scope["proba"]
    assert list(proba.columns) == ["maybe", "no", "yes"]
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(proba.columns[proba.to_numpy().argmax(axis=1)]) == list(scope["labels"])


def test_rows_holding_some_categories_only(classifier: Trained, in_store) -> None:
    """Rows that are all ``flag=True``, or of one colour, encode as in training; a colour never
    seen encodes as none of the known ones; a missing column is named."""
    model = mlflow.pyfunc.load_model(str(classifier.model_dir))
    for subset in (classifier.features[classifier.features["flag"]],
                   classifier.features[classifier.features["color"] == "red"].head(1)):
        every = model.predict(classifier.features)
        assert list(model.predict(subset)) == list(every[subset.index])
    unseen = classifier.features.head(3).assign(color="purple")
    assert len(model.predict(unseen)) == 3
    with pytest.raises(Exception, match="color"):
        model.predict(classifier.features.drop(columns=["color"]))


def test_the_signature_describes_the_raw_columns(classifier, regressor, in_store) -> None:
    info = mlflow.models.get_model_info(str(classifier.model_dir))
    inputs = {spec.name: spec.type.name for spec in info.signature.inputs.inputs}
    assert inputs == {"size": "double", "count": "long", "flag": "boolean", "color": "string"}
    assert info.signature.params.to_dict() == [
        {"name": "predict", "type": "string", "default": "label", "shape": None}]
    assert info.metadata["returns"] == "labels"
    example = json.loads((classifier.model_dir / "input_example.json").read_text())
    assert example["columns"] == ["size", "count", "flag", "color"]
    model = mlflow.pyfunc.load_model(str(regressor.model_dir))
    values = model.predict(regressor.features)
    assert values.shape == (len(regressor.rows),) and values.dtype == np.float64
    assert np.corrcoef(values, regressor.rows["y"])[0, 1] > 0.99  # the target's own units
    with pytest.raises(Exception, match="needs a classifier"):
        model.predict(regressor.features, params={"predict": "proba"})


def test_mlflow_models_predict_on_a_csv(classifier: Trained, tmp_path: Path, in_store) -> None:
    classifier.rows.to_csv(tmp_path / "rows.csv", index=False)
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", str(classifier.model_dir),
         "-i", str(tmp_path / "rows.csv"), "-t", "csv", "--env-manager", "local",
         "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predicted = json.loads((tmp_path / "out.json").read_text())["predictions"]
    expected = mlflow.pyfunc.load_model(str(classifier.model_dir)).predict(classifier.features)
    assert predicted == list(expected)


def test_mlflow_evaluate_default_evaluator(classifier, regressor, in_store) -> None:
    config = {"log_model_explainability": False}
    with mlflow.start_run():
        classified = mlflow.models.evaluate(
            str(classifier.model_dir), data=classifier.rows, targets="label",
            model_type="classifier", evaluators="default", evaluator_config=config)
    wrong = classifier.wrong_on_every_split()
    assert classified.metrics["accuracy_score"] == pytest.approx(1 - wrong / len(classifier.rows))
    with mlflow.start_run():
        regressed = mlflow.models.evaluate(
            str(regressor.model_dir), data=regressor.rows, targets="y",
            model_type="regressor", evaluators="default", evaluator_config=config)
    assert regressed.metrics["r2_score"] > 0.99


@pytest.fixture
def model_server(classifier: Trained, tmp_path: Path) -> Iterator[str]:
    """``mlflow models serve --env-manager local`` on a loopback port, stopped by group."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(classifier.model_dir),
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _post(url: str, body: dict) -> list:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())["predictions"]


def test_served_model_answers_posted_rows(classifier: Trained, model_server: str,
                                          in_store) -> None:
    rows = classifier.features.head(8)
    split = json.loads(rows.to_json(orient="split", index=False))
    expected = mlflow.pyfunc.load_model(str(classifier.model_dir)).predict(rows)
    assert _post(model_server, {"dataframe_split": split}) == list(expected)
    records = json.loads(rows.to_json(orient="records"))
    proba = _post(model_server, {"dataframe_records": records, "params": {"predict": "proba"}})
    assert [max(row, key=row.get) for row in proba] == list(expected)
