"""The ``improvenn`` MLflow evaluator: bias versus variance for any model MLflow can load.

``mlflow.models.evaluate`` gives it the dev data; it predicts ``train_data`` too, and logs
``train_error``, ``dev_error``, ``avoidable_bias`` and ``variance`` plus the
``improvenn.diagnosis`` and ``improvenn.recommendation`` tags on the evaluation run. Errors
are error rates for ``model_type="classifier"`` and mean squared error for ``"regressor"``
(baseline and tolerance are then in those units).

It is opt-in: it runs only when named, ``evaluators="improvenn"`` (flat config) or
``evaluators=["improvenn", ...]`` (config nested under ``"improvenn"``, as MLflow requires
for a list). When ``evaluators`` is left out, MLflow offers the model to every registered
evaluator; this one declines, so installing the package changes nobody's evaluations.

Config keys: ``train_data`` (a DataFrame with the features and the ``targets`` column, or an
``(X, y)`` pair), ``baseline_error`` (default 0), ``tolerance`` (default
:data:`~mlflow_improvenn.diagnosis.verdicts.DEFAULT_TOLERANCE`).

Example::

    result = mlflow.models.evaluate(
        model_uri, data=dev_df, targets="y", model_type="classifier",
        evaluators="improvenn", evaluator_config={"train_data": train_df},
    )
    result.metrics["variance"], result.artifacts["improvenn_diagnosis"].content["diagnosis"]
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Metric, RunTag
from mlflow.models.evaluation.artifacts import JsonEvaluationArtifact
from mlflow.models.evaluation.base import EvaluationResult, ModelEvaluator
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.report import TAG_DIAGNOSIS, TAG_RECOMMENDATION
from mlflow_improvenn.diagnosis.verdicts import DEFAULT_TOLERANCE, Diagnosis, diagnose_errors

ARTIFACT_NAME = "improvenn_diagnosis"
_MODEL_TYPES = ("classifier", "regressor")
_AUTO_SELECTION = ("mlflow.models.evaluation.base", "resolve_evaluators_and_configs")


class ImproveNNEvaluator(ModelEvaluator):
    """Diagnoses an MLflow model from its errors on train data and on the evaluation data."""

    @classmethod
    def can_evaluate(cls, *, model_type: str, evaluator_config: dict, **kwargs: Any) -> bool:
        return model_type in _MODEL_TYPES and not _offered_automatically()

    def evaluate(
        self,
        *,
        model_type: str,
        dataset: Any,
        run_id: str,
        evaluator_config: dict,
        model: Any = None,
        predictions: str | None = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        config = evaluator_config or {}
        dev_error = _error(model_type, _predict_dev(model, dataset, predictions),
                           dataset.labels_data)
        train_error, missing = _train_error(model_type, model, dataset, config, predictions)
        result = diagnose_errors(
            train_error, dev_error,
            baseline_error=float(config.get("baseline_error", 0.0)),
            tolerance=float(config.get("tolerance", DEFAULT_TOLERANCE)),
            missing=missing,
        )
        metrics = _metrics(result)
        client = MlflowClient()
        _log(client, run_id, metrics, result)
        content = result.as_record()
        client.log_dict(run_id, content, f"{ARTIFACT_NAME}.json")
        uri = f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_NAME}.json"
        artifacts = {ARTIFACT_NAME: JsonEvaluationArtifact(uri=uri, content=content)}
        return EvaluationResult(metrics=metrics, artifacts=artifacts, run_id=run_id)


def _offered_automatically() -> bool:
    """True while MLflow is choosing evaluators itself (``evaluators`` left out).

    MLflow asks every registered evaluator's ``can_evaluate`` from that one function, and only
    when no evaluator was named; a named evaluator is asked later, from ``_evaluate``.
    """
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if (frame.f_globals.get("__name__"), code.co_name) == _AUTO_SELECTION:
            return True
        frame = frame.f_back
    return False


def _predict_dev(model: Any, dataset: Any, predictions: str | None) -> np.ndarray:
    if model is None:
        return _flat(dataset.predictions_data, predictions)
    return _flat(model.predict(dataset.features_data), predictions)


def _train_error(
    model_type: str, model: Any, dataset: Any, config: dict, predictions: str | None
) -> tuple[float | None, str]:
    """The model's error on ``train_data``, or None and what was missing."""
    if "train_data" not in config:
        return None, "evaluator_config has no train_data"
    if model is None:
        return None, "train error needs a model to predict train_data"
    features, labels = _split(config["train_data"], dataset)
    return _error(model_type, _flat(model.predict(features), predictions), labels), ""


def _split(train_data: Any, dataset: Any) -> tuple[Any, np.ndarray]:
    if isinstance(train_data, tuple) and len(train_data) == 2:
        return train_data[0], np.asarray(train_data[1])
    if isinstance(train_data, pd.DataFrame):
        target = dataset.targets_name
        if target not in train_data:
            raise ValueError(f"train_data has no target column {target!r}")
        return train_data[list(dataset.feature_names)], train_data[target].to_numpy()
    raise TypeError("train_data must be a pandas DataFrame or an (X, y) pair")


def _flat(predicted: Any, column: str | None) -> np.ndarray:
    """Model output as one value per row, whatever shape the flavor returned."""
    if isinstance(predicted, pd.DataFrame):
        predicted = predicted[column] if column in predicted else predicted.iloc[:, 0]
    return np.asarray(predicted).reshape(len(predicted), -1)[:, 0]


def _error(model_type: str, predicted: np.ndarray, labels: Any) -> float:
    labels = np.asarray(labels).reshape(len(predicted), -1)[:, 0]
    if model_type == "classifier":
        return float(np.mean(predicted != labels))
    return float(np.mean((predicted.astype(float) - labels.astype(float)) ** 2))


def _metrics(result: Diagnosis) -> dict[str, float]:
    values = {
        "train_error": result.train_error,
        "dev_error": result.dev_error,
        "avoidable_bias": result.avoidable_bias,
        "variance": result.variance,
    }
    return {name: value for name, value in values.items() if value is not None}


def _log(client: MlflowClient, run_id: str, metrics: dict[str, float], result: Diagnosis) -> None:
    timestamp = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(name, value, timestamp, 0) for name, value in metrics.items()],
        tags=[RunTag(TAG_DIAGNOSIS, result.verdict.value),
              RunTag(TAG_RECOMMENDATION, result.recommendation)],
    )
