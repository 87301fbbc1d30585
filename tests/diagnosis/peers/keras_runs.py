"""Keras 3 runs (torch backend) logged by ``mlflow.keras.autolog()``, MLflow's Keras 3 flavor.

Variants differ only in the accuracy metric compiled in, whose name Keras uses as the key:
``accuracy`` (the string ``"accuracy"`` with a softmax output), ``sparse_categorical_accuracy``
(the metric object) and ``binary_accuracy`` (one sigmoid output, binary cross-entropy).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported; torch is installed

import keras  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402

from tests.diagnosis.peers.setups import (  # noqa: E402
    MOONS_SETUPS,
    TINY,
    PeerRun,
    Setup,
    Split,
    Variant,
    error_rate,
    moons,
)

PACKAGES = ("keras",)
METRICS = {
    "accuracy": "accuracy",
    "sparse_categorical_accuracy": keras.metrics.SparseCategoricalAccuracy,
    "binary_accuracy": "binary_accuracy",
}


def autolog_run(metric: str):
    def make(setup: Setup, split: Split) -> PeerRun:
        keras.utils.set_random_seed(0)
        model = _model(setup, split.x_train.shape[1], binary=metric == "binary_accuracy")
        compiled = METRICS[metric]
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=setup.lr),
                      loss="binary_crossentropy" if metric == "binary_accuracy"
                      else "sparse_categorical_crossentropy",
                      metrics=[compiled if isinstance(compiled, str) else compiled()])
        mlflow.keras.autolog()
        try:
            model.fit(split.x_train, split.y_train, epochs=setup.epochs,
                      batch_size=setup.batch_size, validation_data=(split.x_dev, split.y_dev),
                      verbose=0)
        finally:
            mlflow.keras.autolog(disable=True)
        return PeerRun(mlflow.last_active_run().info.run_id,
                       error_rate(_predict(model, split.x_train), split.y_train),
                       error_rate(_predict(model, split.x_dev), split.y_dev),
                       {"keras_backend": keras.backend.backend()})

    return make


def _model(setup: Setup, n_features: int, binary: bool) -> keras.Sequential:
    hidden = [keras.layers.Dense(units, activation="relu") for units in setup.hidden]
    output = keras.layers.Dense(1, "sigmoid") if binary else keras.layers.Dense(2, "softmax")
    return keras.Sequential([keras.Input((n_features,)), *hidden, output])


def _predict(model: keras.Sequential, x: np.ndarray) -> np.ndarray:
    scores = model.predict(x, verbose=0)
    return (scores[:, 0] > 0.5).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)


VARIANTS = tuple(Variant("keras", metric, MOONS_SETUPS, moons, autolog_run(metric), TINY)
                 for metric in METRICS)
