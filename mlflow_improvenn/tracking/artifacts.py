"""The files a run leaves behind, written to a local folder before any upload.

Writing locally first means a tracking store that fails at the end of a run costs nothing:
the history, plot, checkpoint and model are still on disk, and the error says where.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlflow_improvenn.tracking import plots
from mlflow_improvenn.training import checkpoints, history
from mlflow_improvenn.training.data import DataSplits
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


def save_model(model: torch.nn.Module, splits: DataSplits, path: Path) -> None:
    """Save the model as an MLflow PyTorch model with signature and input example.

    This package's code travels inside the model, so loading it needs only torch. Its
    input is a float matrix of the data's features after one-hot encoding (standardization
    happens inside), so the MLmodel's ``metadata`` names those columns in order, and the
    classes in the order of the outputs: what a user needs to feed it their own rows.
    """
    import mlflow.pytorch
    from mlflow.models import infer_signature

    import mlflow_improvenn

    served = servable(copy.deepcopy(model), splits).cpu().eval()
    example = splits.x_train[:5]
    with torch.inference_mode():
        output = served(torch.as_tensor(example)).numpy()
    mlflow.pytorch.save_model(
        served,
        path=str(path),
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=_pip_requirements(),
        code_paths=[str(Path(mlflow_improvenn.__file__).parent)],
        metadata=model_metadata(splits),
    )


def model_metadata(splits: DataSplits) -> dict[str, Any]:
    """What the model's inputs and outputs mean, stored in its MLmodel file."""
    if splits.task == "binary":
        outputs = f"one logit: P({splits.class_names[-1]}) = sigmoid(output)"
    elif splits.task == "multiclass":
        outputs = "one logit per class, in the order of class_names"
    else:
        outputs = "the prediction, in the target's units"
    return {
        "task": splits.task,
        "feature_names": list(splits.feature_names),
        "class_names": list(splits.class_names),
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
    name, so that it loads in a fresh process where that source was never imported.
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
    mlflow.pytorch.save_model(
        served, path=str(path), signature=signature, input_example=example,
        pip_requirements=_pip_requirements(), code_paths=code_paths or None, metadata=metadata,
        serialization_format="pickle",
    )
