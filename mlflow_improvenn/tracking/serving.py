"""The logged model as MLflow serves it: raw rows in, labels (or probabilities) or values out.

A user holds rows as their file has them (``pd.read_csv``: float64 numbers, strings,
booleans), and MLflow's tools hand models exactly that: ``mlflow models predict -t csv``,
``mlflow models serve``, ``mlflow.models.evaluate``. So the model takes the raw feature
columns, encodes them as training did (:class:`~mlflow_improvenn.training.encoding.
FeatureEncoder`), runs the network (which standardizes its input itself) and returns what
those tools expect: one label per row for a classifier, in the file's own values, and one
number per row for a regression, in the target's units. ``params={"predict": "proba"}``
returns a classifier's probabilities instead, one column per class named after it.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from mlflow_improvenn.training.encoding import FeatureEncoder

PREDICT_PARAM = "predict"
LABELS, PROBABILITIES = "label", "proba"


class RawRowsModel(mlflow.pyfunc.PythonModel):
    """A trained network with the encoding of its data, as an MLflow pyfunc model.

    ``network`` maps an (n, n_features) float32 tensor of encoded features to logits (one
    for binary, one per class) or to (n, 1) regression values in the target's units;
    ``labels`` are the classes in output order (empty for regression). The network is
    reachable as ``mlflow.pyfunc.load_model(uri).unwrap_python_model().network``.
    """

    def __init__(self, network: torch.nn.Module, encoder: FeatureEncoder, task: str,
                 labels: tuple[Any, ...]) -> None:
        self.network = network
        self.encoder = encoder
        self.task = task
        self.labels = labels

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        """Labels (n,) or values (n,); with ``params={"predict": "proba"}`` an (n, k) frame
        of probabilities, one column per class. Raises ValueError for other ``predict``
        values and for probabilities of a regression."""
        mode = (params or {}).get(PREDICT_PARAM, LABELS)
        if mode not in (LABELS, PROBABILITIES):
            raise ValueError(f"params {PREDICT_PARAM}={mode!r} is not one of: {LABELS}, "
                             f"{PROBABILITIES}")
        if mode == PROBABILITIES and self.task == "regression":
            raise ValueError(f"{PREDICT_PARAM}={PROBABILITIES} needs a classifier; this model "
                             "is a regression")
        rows = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        x = torch.as_tensor(self.encoder.encode(rows).to_numpy(np.float32))
        self.network.eval()
        with torch.inference_mode():
            output = self.network(x).float()
        if self.task == "regression":
            return output[:, 0].double().numpy()
        if mode == PROBABILITIES:
            return pd.DataFrame(self._probabilities(output).numpy(),
                                columns=[str(label) for label in self.labels])
        index = (output[:, 0] > 0).long() if self.task == "binary" else output.argmax(dim=1)
        return np.asarray(self.labels)[index.numpy()]

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(n, k) class probabilities in float64: a binary logit becomes (1 - p, p)."""
        logits = logits.double()
        if self.task == "binary":
            positive = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - positive, positive], dim=1)
        return torch.softmax(logits, dim=1)
