"""The ``improvenn`` evaluator through ``mlflow.models.evaluate``, on models we did not train."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from sklearn.datasets import make_moons
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

TRUSTED = ["sklearn.tree._tree.Tree"]
METRICS = {"train_error", "dev_error", "avoidable_bias", "variance"}


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


def test_regressor_errors_are_mean_squared(tracking_uri: str, tmp_path: Path, moons) -> None:
    train, dev = moons
    path = tmp_path / "regressor"
    model = DecisionTreeRegressor(max_depth=1).fit(train[["a"]], train["b"])
    mlflow.sklearn.save_model(model, str(path), skops_trusted_types=TRUSTED)
    expected = float(((model.predict(train[["a"]]) - train["b"]) ** 2).mean())
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            str(path), data=dev[["a", "b"]], targets="b", model_type="regressor",
            evaluators="improvenn", evaluator_config={"train_data": train[["a", "b"]],
                                                      "tolerance": 10.0},
        )
    assert result.metrics["train_error"] == pytest.approx(expected)
    assert result.artifacts["improvenn_diagnosis"].content["diagnosis"] == "good_fit"


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
