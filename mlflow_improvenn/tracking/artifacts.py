"""The files a run leaves behind, written to a local folder before any upload.

Writing locally first means a tracking store that fails at the end of a run costs nothing:
the history, plot, checkpoint and model are still on disk, and the error says where.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mlflow_improvenn.tracking import plots
from mlflow_improvenn.tracking.serving import LABELS, PREDICT_PARAM, PROBABILITIES, RawRowsModel
from mlflow_improvenn.training import checkpoints, history
from mlflow_improvenn.training.data import DataSplits
from mlflow_improvenn.training.encoding import FeatureEncoder
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.models import servable

HISTORY = "history.csv"
CURVES = "plots/learning_curves.png"
BEST = "checkpoints/best.pt"
LAST = "checkpoints/last.pt"
MODEL = "model"


def write_run_files(
    folder: Path,
    records: list[EpochRecord],
    best: dict[str, Any] | None,
    best_epoch: int,
    title: str,
    model: torch.nn.Module | None,
    splits: DataSplits,
) -> None:
    """History, learning curves, the best checkpoint and (when given) the restored model."""
    if records:
        frame = history.to_frame(records)
        frame.to_csv(folder / HISTORY, index=False)
        plots.learning_curves(
            {"run": frame}, folder / CURVES, best_epochs={"run": best_epoch}, title=title
        )
    if best is not None:
        checkpoints.save_atomic(best, folder / BEST)
        if model is not None:
            save_model(model, splits, folder / MODEL)


def save_model(model: torch.nn.Module, splits: DataSplits, path: Path) -> None:
    """Save the model as an MLflow pyfunc model that takes the data's raw columns.

    It encodes and scales rows itself and returns labels (classifiers) or values
    (regression): see :mod:`mlflow_improvenn.tracking.serving`. The signature and input
    example come from the few raw rows the data split kept (no prediction on the training
    data: the export stays cheap). This package's code travels inside the model, so loading
    it needs only torch, MLflow and pandas.
    """
    import mlflow.pyfunc

    import mlflow_improvenn

    network = servable(copy.deepcopy(model), splits).cpu().eval()
    encoder = splits.encoder or FeatureEncoder(splits.feature_names, {})
    served = RawRowsModel(network, encoder, splits.task, splits.class_labels)
    example = _example(splits, encoder)
    with _quiet("mlflow"):
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=served,
            signature=_signature(example, served.predict(None, example)),
            input_example=example,
            pip_requirements=_pip_requirements(),
            code_paths=[str(Path(mlflow_improvenn.__file__).parent)],
            metadata=model_metadata(splits),
        )


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Only errors from ``logger_name``: MLflow's notes on saving a pyfunc model (that it is
    pickled, that the example is checked) would print in every training run's output."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _example(splits: DataSplits, encoder: FeatureEncoder) -> pd.DataFrame:
    """A few raw rows, categorical columns as their plain values (MLflow's schemas have no
    categorical type)."""
    if splits.example is None:
        return pd.DataFrame(splits.x_train[:5], columns=list(encoder.columns))
    return splits.example.astype({
        c: object for c in splits.example.columns
        if isinstance(splits.example[c].dtype, pd.CategoricalDtype)
    })


def _signature(example: pd.DataFrame, output: Any) -> Any:
    """The raw columns in, the default output out, and the ``predict`` switch."""
    from mlflow.models import infer_signature

    with warnings.catch_warnings():  # the hint that integer columns cannot hold NaN: they
        warnings.simplefilter("ignore")  # cannot in training either
        return infer_signature(example, output, params={PREDICT_PARAM: LABELS})


def model_metadata(splits: DataSplits) -> dict[str, Any]:
    """What the model's inputs and outputs mean, stored in its MLmodel file. ``returns`` says
    what ``predict`` gives by default (the improvenn evaluator reads it)."""
    if splits.task == "regression":
        outputs = "one prediction per row, in the target's units"
    else:
        outputs = (f"one label per row, one of class_names; params {PREDICT_PARAM}="
                   f"{PROBABILITIES}: one probability column per class, named after it")
    return {
        "task": splits.task,
        "returns": "values" if splits.task == "regression" else "labels",
        "class_names": list(splits.class_names),
        "feature_names": list(splits.feature_names),
        "outputs": outputs,
    }


def _pip_requirements() -> list[str]:
    """What the model needs to load; torch without a local label such as ``+cpu``."""
    from importlib.metadata import version

    return [f"torch=={version('torch').split('+')[0]}", f"cloudpickle=={version('cloudpickle')}"]
