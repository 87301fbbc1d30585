"""scikit-learn runs under ``mlflow.sklearn.autolog()`` (its defaults), in a run users start.

Variants, by how the dev split is scored:

- ``mlp_evaluate``, ``logistic_regression``, ``decision_tree``: fit, then
  ``mlflow.models.evaluate(model_uri, dev_frame, targets="label", model_type="classifier",
  evaluators="default")`` (the default evaluator only, not every installed one).
- ``mlp_accuracy_score``: fit, then ``sklearn.metrics.accuracy_score(y_dev,
  model.predict(x_dev))``, which autolog records as a post-training metric. Autolog patches
  the function in ``sklearn.metrics``: a name imported from there before ``autolog()`` is the
  unpatched function and logs nothing (so this module calls it through the module).

An MLP with the identity activation is a linear model: the MLP's under-fit set-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import sklearn.metrics
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.tree import DecisionTreeClassifier

from tests.diagnosis.peers.setups import PeerRun, Setup, Split, Variant, error_rate, moons

PACKAGES = ("scikit-learn", "pandas")
MLP_SETUPS = {
    "under_fit": Setup("under_fit", 2000, 2000, (8,), epochs=50, batch_size=128, lr=0.01),
    "over_fit": Setup("over_fit", 40, 2000, (256, 256), epochs=300, batch_size=40, lr=0.01,
                      nuisance=8),
    "good_fit": Setup("good_fit", 2000, 2000, (32, 32), epochs=100, batch_size=128, lr=0.01),
}
LINEAR_SETUPS = {"under_fit": Setup("under_fit", 2000, 2000, (), 100, 2000, 0.0)}
TREE_SETUPS = {"over_fit": Setup("over_fit", 100, 2000, (), 0, 100, 0.0, nuisance=8)}
TINY = Setup("good_fit", 64, 64, (8,), epochs=5, batch_size=16, lr=0.01)


def mlp(setup: Setup) -> MLPClassifier:
    """Adam on mini-batches; no L2 penalty; ``epochs`` is ``max_iter`` (passes over the data)."""
    return MLPClassifier(setup.hidden, activation="identity" if setup.name == "under_fit"
                         else "relu", alpha=0.0, batch_size=setup.batch_size,
                         learning_rate_init=setup.lr, max_iter=setup.epochs, random_state=0)


def logistic_regression(setup: Setup) -> LogisticRegression:
    return LogisticRegression(max_iter=setup.epochs)


def decision_tree(setup: Setup) -> DecisionTreeClassifier:
    """Grown until every leaf is pure: it memorises the training rows."""
    return DecisionTreeClassifier(random_state=0)


def evaluate_run(build):
    def make(setup: Setup, split: Split) -> PeerRun:
        model = build(setup)
        dev = _frame(split.x_dev).assign(label=split.y_dev)
        with _autolog(), mlflow.start_run() as run:
            model.fit(_frame(split.x_train), split.y_train)
            mlflow.models.evaluate(mlflow.last_logged_model().model_uri, dev, targets="label",
                                   model_type="classifier", evaluators="default")
        return _measured(run.info.run_id, lambda x: model.predict(_frame(x)), split,
                         {"estimator": type(model).__name__})

    return make


def accuracy_score_run(setup: Setup, split: Split) -> PeerRun:
    model = mlp(setup)
    x_train, y_train, x_dev, y_dev = split.x_train, split.y_train, split.x_dev, split.y_dev
    with _autolog(), mlflow.start_run() as run:
        model.fit(x_train, y_train)
        sklearn.metrics.accuracy_score(y_dev, model.predict(x_dev))
    return _measured(run.info.run_id, model.predict, split, {"estimator": "MLPClassifier"})


@contextmanager
def _autolog() -> Iterator[None]:
    """``mlflow.sklearn.autolog()`` with its defaults, switched off again on leaving."""
    mlflow.sklearn.autolog()
    try:
        yield
    finally:
        mlflow.sklearn.autolog(disable=True)


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])


def _measured(run_id: str, predict: Callable[[np.ndarray], np.ndarray], split: Split,
              settings: dict[str, Any]) -> PeerRun:
    """Errors of ``predict``, called after autolog is off so that nothing more is logged."""
    return PeerRun(run_id, error_rate(predict(split.x_train), split.y_train),
                   error_rate(predict(split.x_dev), split.y_dev), settings)


VARIANTS = (
    Variant("sklearn", "mlp_evaluate", MLP_SETUPS, moons, evaluate_run(mlp), TINY),
    Variant("sklearn", "mlp_accuracy_score", MLP_SETUPS, moons, accuracy_score_run, TINY),
    Variant("sklearn", "logistic_regression", LINEAR_SETUPS, moons,
            evaluate_run(logistic_regression), TINY),
    Variant("sklearn", "decision_tree", TREE_SETUPS, moons, evaluate_run(decision_tree), TINY),
)
