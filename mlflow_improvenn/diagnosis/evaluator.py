"""The ``improvenn`` MLflow evaluator: bias versus variance for any model MLflow can load.

``mlflow.models.evaluate`` gives it the dev data; it predicts ``train_data`` too, and logs
``train_error``, ``dev_error``, ``avoidable_bias`` and ``variance`` (with ``*_low``/``*_high``
interval bounds from the two splits' sizes) plus the ``improvenn.diagnosis`` and
``improvenn.recommendation`` tags on the evaluation run. Errors are error rates for
``model_type="classifier"`` and the unexplained variance (1 - R^2 on each split) for
``"regressor"``; baseline and tolerance are in those units.

A classifier's output is read as labels when it is one label per row (scikit-learn's
``predict``); as probabilities or logits when it is numbers: one column is the positive
class's probability (cut at 0.5) or logit (cut at 0), several columns are one score per class
(the largest wins). Class indices become labels through the model's ``class_names`` metadata
where it has them (improvenn's older models, which return logits); improvenn's models return
labels themselves. Either way an improvenn model's errors equal its run's
``best_train_error``/``best_dev_error``.

It is opt-in: it runs only when named, ``evaluators="improvenn"`` (flat config) or
``evaluators=["improvenn", ...]`` (config nested under ``"improvenn"``, as MLflow requires
for a list). When ``evaluators`` is left out, MLflow offers the model to every registered
evaluator; this one declines, so installing the package changes nobody's evaluations.

Config keys: ``train_data`` (a DataFrame with the features and the ``targets`` column, or an
``(X, y)`` pair), ``baseline_error`` (default 0), ``tolerance`` (default: the scale's, see
:data:`~mlflow_improvenn.diagnosis.verdicts.DEFAULT_TOLERANCES`).

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

from mlflow_improvenn.diagnosis.gaps import diagnose_errors
from mlflow_improvenn.diagnosis.report import TAG_DIAGNOSIS, TAG_RECOMMENDATION
from mlflow_improvenn.diagnosis.verdicts import Diagnosis, Scale

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
        classes = _class_names(model)
        dev_labels = np.asarray(dataset.labels_data)
        dev_output = _column(_predict_dev(model, dataset), predictions)
        dev_error = _error(model_type, dev_output, dev_labels, classes)
        train_error, n_train, missing = _train_error(model_type, model, dataset, config, classes,
                                                     predictions)
        scale = Scale.ERROR_RATE if model_type == "classifier" else Scale.UNEXPLAINED_VARIANCE
        tolerance = config.get("tolerance")
        result = diagnose_errors(
            train_error, dev_error,
            baseline_error=float(config.get("baseline_error", 0.0)),
            tolerance=None if tolerance is None else float(tolerance),
            missing=missing, scale=scale, n_train=n_train, n_dev=len(dev_labels),
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


def _predict_dev(model: Any, dataset: Any) -> Any:
    if model is None:
        return dataset.predictions_data
    return model.predict(dataset.features_data)


def _train_error(
    model_type: str, model: Any, dataset: Any, config: dict, classes: list[str] | None,
    predictions: str | None,
) -> tuple[float | None, int | None, str]:
    """The model's error on ``train_data`` and its size, or None and what was missing."""
    if "train_data" not in config:
        return None, None, "evaluator_config has no train_data"
    if model is None:
        return None, None, "train error needs a model to predict train_data"
    features, labels = _split(config["train_data"], dataset)
    output = _column(model.predict(features), predictions)
    return _error(model_type, output, labels, classes), len(labels), ""


def _column(output: Any, name: str | None) -> Any:
    """The ``predictions`` column MLflow was told to use, where the output is a frame."""
    if isinstance(output, pd.DataFrame) and name in output:
        return output[name]
    return output


def _split(train_data: Any, dataset: Any) -> tuple[Any, np.ndarray]:
    if isinstance(train_data, tuple) and len(train_data) == 2:
        return train_data[0], np.asarray(train_data[1])
    if isinstance(train_data, pd.DataFrame):
        target = dataset.targets_name
        if target not in train_data:
            raise ValueError(f"train_data has no target column {target!r}")
        return train_data[list(dataset.feature_names)], train_data[target].to_numpy()
    raise TypeError("train_data must be a pandas DataFrame or an (X, y) pair")


def _class_names(model: Any) -> list[str] | None:
    """The classes in output order, from the model's MLmodel metadata (improvenn logs them),
    where outputs are class indices or scores; None where the model returns labels itself
    (improvenn's models since they take raw rows: metadata ``returns: labels``)."""
    metadata = getattr(getattr(model, "metadata", None), "metadata", None) or {}
    names = metadata.get("class_names")
    return list(names) if names and metadata.get("returns") != "labels" else None


def _error(model_type: str, predicted: Any, labels: Any, classes: list[str] | None) -> float:
    labels = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    output = np.asarray(predicted)
    if model_type == "classifier":
        predicted_labels = _as_labels(output.reshape(len(labels), -1), classes)
        if classes is not None:
            labels = labels.astype(str)
        return float(np.mean(predicted_labels != labels))
    values = output.reshape(len(labels), -1)[:, 0].astype(float)
    return unexplained_variance(values, labels.astype(float))


def _as_labels(output: np.ndarray, classes: list[str] | None) -> np.ndarray:
    """One label per row from labels, probabilities or logits (see the module docstring)."""
    if output.shape[1] > 1:
        index = output.argmax(axis=1)
    elif not np.issubdtype(output.dtype, np.number) or _whole_numbers(output[:, 0], classes):
        return output[:, 0] if classes is None else output[:, 0].astype(str)
    else:
        scores = output[:, 0]
        cut = 0.5 if np.all((scores >= 0) & (scores <= 1)) else 0.0
        index = (scores > cut).astype(int)
    return index if classes is None else np.asarray(classes, dtype=object)[index].astype(str)


def _whole_numbers(values: np.ndarray, classes: list[str] | None) -> bool:
    """Labels already (0, 1, 2...), unless the model says its single output is a score."""
    return classes is None and bool(np.all(np.mod(values, 1) == 0))


def unexplained_variance(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean squared error over the variance of ``truth``: 1 - R^2 (scikit-learn's r2_score)."""
    from sklearn.metrics import r2_score

    return float(1.0 - r2_score(truth, predicted))


def _metrics(result: Diagnosis) -> dict[str, float]:
    record = result.as_record()
    names = [f"{name}{end}" for name in ("train_error", "dev_error", "avoidable_bias", "variance")
             for end in ("", "_low", "_high")]
    return {name: record[name] for name in names if record[name] is not None}


def _log(client: MlflowClient, run_id: str, metrics: dict[str, float], result: Diagnosis) -> None:
    timestamp = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(name, value, timestamp, 0) for name, value in metrics.items()],
        tags=[RunTag(TAG_DIAGNOSIS, result.verdict.value),
              RunTag(TAG_RECOMMENDATION, result.recommendation)],
    )
