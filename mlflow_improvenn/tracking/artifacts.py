"""The files a run leaves behind, written to a local folder before any upload.

Writing locally first means a tracking store that fails at the end of a run costs nothing:
the history, plot, checkpoint and model are still on disk, and the error says where.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
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
    save_model: Callable[[Path], None] | None,
) -> None:
    """History, learning curves, the best checkpoint and (when ``save_model`` is given) the
    restored model, which ``save_model(path)`` writes as an MLflow model folder."""
    if records:
        frame = history.to_frame(records)
        frame.to_csv(folder / HISTORY, index=False)
        plots.learning_curves(
            {"run": frame}, folder / CURVES, best_epochs={"run": best_epoch}, title=title
        )
    if best is not None:
        checkpoints.save_atomic(best, folder / BEST)
        if save_model is not None:
            save_model(folder / MODEL)


def save_model(
    model: torch.nn.Module, splits: DataSplits, path: Path, code_paths: tuple[str, ...] = ()
) -> None:
    """Save the model as an MLflow pyfunc model that takes the data's raw columns.

    It encodes and scales rows itself and returns labels (classifiers) or values
    (regression): see :mod:`mlflow_improvenn.tracking.serving`. The signature and input
    example come from the few raw rows the data split kept (no prediction on the training
    data: the export stays cheap). This package's code travels inside the model, so loading
    it needs only torch, MLflow and pandas; ``code_paths`` adds the source of a network
    built by the user's factory.
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
            code_paths=[str(Path(mlflow_improvenn.__file__).parent), *code_paths],
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


def save_custom_model(
    model: torch.nn.Module,
    path: Path,
    example: Any,
    metadata: dict[str, Any],
    code_paths: list[str],
) -> None:
    """Save the user's own network as an MLflow PyTorch model (see :func:`save_model`).

    ``example``, a few inputs as one array or tensor, gives the signature and input example
    (a tuple or dict of inputs gives neither: pyfunc's ``predict`` takes one array).
    The model is pickled (MLflow's ``pickle`` format), not traced with ``torch.export``: any
    module and any input structure saves, and ``mlflow.pytorch.load_model`` gives back the
    user's own class. ``code_paths`` carries the source the pickle refers to by module
    name, so that it loads in a fresh process where that source was never imported. MLflow's
    warning that a pickle runs code when loaded is not printed: it would be in every run's
    output, and the README says it where loading is explained (load from stores you trust).
    """
    import mlflow.pytorch
    from mlflow.models import infer_signature

    served = copy.deepcopy(model).cpu().eval()
    signature = None
    if isinstance(example, np.ndarray | torch.Tensor):
        example = np.asarray(torch.as_tensor(example).cpu())
        with torch.inference_mode():
            output = served(torch.as_tensor(example)).numpy()
        signature = infer_signature(example, output)
    else:
        example = None
    with _quiet("mlflow"):  # its caution about pickles, in every run's output: the README says it
        mlflow.pytorch.save_model(
            served, path=str(path), signature=signature, input_example=example,
            pip_requirements=_pip_requirements(), code_paths=code_paths or None,
            metadata=metadata, serialization_format="pickle",
        )
