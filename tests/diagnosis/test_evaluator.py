"""The ``improvenn`` evaluator through ``mlflow.models.evaluate``, on models we did not train."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from sklearn.datasets import make_moons
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training.data import load
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

TRUSTED = ["sklearn.tree._tree.Tree"]
GAPS = ("train_error", "dev_error", "avoidable_bias", "variance")
METRICS = {f"{name}{end}" for name in GAPS for end in ("", "_low", "_high")}


@pytest.fixture(scope="module")
def moons() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = make_moons(300, noise=0.3, random_state=0)
    frame = pd.DataFrame(x, columns=["a", "b"]).assign(y=y)
    return frame[:200], frame[200:]


@pytest.fixture(scope="module")
def tree_uri(tmp_path_factory: pytest.TempPathFactory, moons) -> str:
    """An unpruned tree: it memorizes the train set, the textbook high-variance model."""
    train, _ = moons
    path = tmp_path_factory.mktemp("models") / "tree"
    tree = DecisionTreeClassifier(random_state=0).fit(train[["a", "b"]], train["y"])
    mlflow.sklearn.save_model(tree, str(path), skops_trusted_types=TRUSTED)
    return str(path)


def evaluate(model_uri: str, dev: pd.DataFrame, **kwargs):
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(model_uri, data=dev, targets="y", **kwargs)
    return result, mlflow.MlflowClient().get_run(run.info.run_id)


def test_diagnoses_a_scikit_learn_tree(tracking_uri: str, tree_uri: str, moons) -> None:
    train, dev = moons
    result, run = evaluate(tree_uri, dev, model_type="classifier", evaluators="improvenn",
                           evaluator_config={"train_data": train, "baseline_error": 0.0})
    assert set(result.metrics) == METRICS
    assert result.metrics["train_error"] == 0.0
    assert result.metrics["dev_error"] > 0.02
    assert result.metrics["variance"] == pytest.approx(result.metrics["dev_error"])
    assert run.data.tags["improvenn.diagnosis"] == "high_variance"
    assert "more data" in run.data.tags["improvenn.recommendation"]
    for name in METRICS:
        assert run.data.metrics[name] == pytest.approx(result.metrics[name])
    assert result.metrics["variance_low"] > 0  # 100 dev rows: the gap is beyond noise
    content = result.artifacts["improvenn_diagnosis"].content
    assert content["diagnosis"] == "high_variance" and content["baseline_error"] == 0.0
    assert "improvenn_diagnosis.json" in {f.path for f in mlflow.MlflowClient().list_artifacts(
        run.info.run_id)}


def test_baseline_and_list_form(tracking_uri: str, tree_uri: str, moons) -> None:
    """In a list of evaluators MLflow wants the config nested under the evaluator's name."""
    train, dev = moons
    config = {"improvenn": {"train_data": (train[["a", "b"]], train["y"]),
                            "baseline_error": 0.5, "tolerance": 0.5}}
    result, run = evaluate(tree_uri, dev, model_type="classifier",
                           evaluators=["improvenn"], evaluator_config=config)
    assert result.metrics["avoidable_bias"] == -0.5
    assert run.data.tags["improvenn.diagnosis"] == "good_fit"


def test_regressor_errors_are_unexplained_variance(
    tracking_uri: str, tmp_path: Path, moons
) -> None:
    train, dev = moons
    path = tmp_path / "regressor"
    model = DecisionTreeRegressor(max_depth=1).fit(train[["a"]], train["b"])
    mlflow.sklearn.save_model(model, str(path), skops_trusted_types=TRUSTED)
    expected = 1 - r2_score(train["b"], model.predict(train[["a"]]))
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            str(path), data=dev[["a", "b"]], targets="b", model_type="regressor",
            evaluators="improvenn", evaluator_config={"train_data": train[["a", "b"]],
                                                      "tolerance": 1.0},
        )
    assert result.metrics["train_error"] == pytest.approx(expected)
    content = result.artifacts["improvenn_diagnosis"].content
    assert content["scale"] == "unexplained_variance" and content["diagnosis"] == "good_fit"


@pytest.mark.parametrize(("dataset", "task"), [("moons", "binary"), ("wine", "multiclass"),
                                               ("diabetes", "regression")])
def test_improvenn_models_score_as_their_runs(tracking_uri: str, dataset: str, task: str) -> None:
    """Logits (one for binary, one per class) and rescaled regression outputs: the
    evaluator's errors equal what the run logged for its restored best weights."""
    config = TrainConfig(**(SMALL | {"dataset": dataset, "n_samples": 0, "log_model": True,
                                     "max_epochs": 8, "device": "cpu"}))
    outcome = train(config, experiment="own")
    splits = load(config)
    names = list(splits.feature_names)
    frames = {split: pd.DataFrame(getattr(splits, f"x_{split}"), columns=names).assign(
        y=_labels(splits, getattr(splits, f"y_{split}"))) for split in ("train", "dev")}
    model_type = "regressor" if task == "regression" else "classifier"
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            f"runs:/{outcome.run_id}/model", data=frames["dev"], targets="y",
            model_type=model_type, evaluators="improvenn",
            evaluator_config={"train_data": frames["train"]},
        )
    if task == "regression":
        expected = [outcome.summary["best_train_r2"], outcome.summary["best_dev_r2"]]
        expected = [1 - value for value in expected]
    else:
        expected = [outcome.summary["best_train_error"], outcome.summary["best_dev_error"]]
    got = [result.metrics["train_error"], result.metrics["dev_error"]]
    assert got == pytest.approx(expected, abs=1e-4)


def _labels(splits, encoded):
    """The raw labels a user holds: class names for classifiers, values for regression."""
    if splits.task == "regression":
        return encoded
    return [int(splits.class_names[i]) for i in encoded]


class Probabilities(mlflow.pyfunc.PythonModel):
    """A pyfunc that returns class probabilities, as many user-wrapped models do."""

    def predict(self, context, model_input, params=None):
        x = model_input.to_numpy()
        p = 1 / (1 + np.exp(-4 * (x[:, 1] - 0.25)))
        return pd.DataFrame({"p0": 1 - p, "p1": p})


def test_probability_outputs_are_cut_at_their_largest(tracking_uri: str, moons) -> None:
    train, dev = moons
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="probabilities", python_model=Probabilities())
        result = mlflow.models.evaluate(
            info.model_uri, data=dev, targets="y", model_type="classifier",
            evaluators="improvenn", evaluator_config={"train_data": train},
        )
    predicted = (dev["b"].to_numpy() > 0.25).astype(int)
    assert result.metrics["dev_error"] == pytest.approx(np.mean(predicted != dev["y"]))


def test_missing_train_data_is_insufficient_data(tracking_uri: str, tree_uri: str, moons) -> None:
    _, dev = moons
    result, run = evaluate(tree_uri, dev, model_type="classifier", evaluators="improvenn")
    assert set(result.metrics) == {"dev_error"}
    assert run.data.tags["improvenn.diagnosis"] == "insufficient_data"
    assert result.artifacts["improvenn_diagnosis"].content["reason"] == (
        "evaluator_config has no train_data"
    )


def test_stays_opt_in(tracking_uri: str, tree_uri: str, moons) -> None:
    train, dev = moons
    assert "improvenn" in mlflow.models.list_evaluators()
    for evaluators in (None, "classifier"):
        result, run = evaluate(tree_uri, dev, model_type="classifier", evaluators=evaluators,
                               evaluator_config={"train_data": train})
        assert "accuracy_score" in result.metrics
        assert not METRICS & set(result.metrics)
        assert "improvenn.diagnosis" not in run.data.tags


def test_unsupported_model_type_is_declined(tracking_uri: str, tree_uri: str, moons) -> None:
    train, dev = moons
    with pytest.raises(MlflowException, match="could not be evaluated"):
        evaluate(tree_uri, dev, model_type="question-answering", evaluators="improvenn",
                 evaluator_config={"train_data": train})
