"""Runs: one tracked training run end to end, and parent runs that group children.

:func:`train` checks a :class:`~mlflow_improvenn.training.TrainConfig`, trains it, restores
the best weights and logs everything as one MLflow run (``training_run``); :func:`fit` does
the same for the user's own network and data (``fitting``), and :func:`track` turns a loop
the user keeps into such a run (``tracked_loop``); ``parents`` holds
the parent run that the sweep, the recipe and the lessons train their children under, with
the comparison they leave on it; ``lr_find`` logs the learning-rate range test as a run and
trains with its suggestion (``lr=auto``); ``resume`` continues a run from its checkpoint.
Sits above training, tracking and diagnosis.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "train": "training_run",
    "fit": "fitting",
    "track": "tracked_loop",
    "TrainOutcome": "training_run",
    "RunFailed": "training_run",
    "check_config": "training_run",
    "parent_run": "parents",
    "train_child": "parents",
    "find_lr": "lr_find",
})
