"""Training: the PyTorch side of a run, with no MLflow in it.

The options (:class:`TrainConfig`, one declaration for the CLI, the MLproject, validation and
logging; their checks in ``option_checks``), the data sets and their splits (and the Bayes
error of the generated ones), the encoding of raw columns kept for predict time, the
networks, L2 in its three forms, learning-rate schedules, early stopping, the epoch loop
(:class:`Trainer`), the learning-rate range test and its suggestion (``lr_finder``, its
settings in ``range_test``, the race between rates around it in ``lr_race``), checkpoints,
the per-epoch record, and steps an interrupt must not cut in two (``interrupts``). Imports
nothing else of this package.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "TrainConfig": "options",
    "ConfigError": "options",
    "DataSplits": "data",
    "build_model": "models",
    "build_optimizer": "regularization",
    "LRSchedule": "schedules",
    "EarlyStopping": "early_stopping",
    "StopReason": "early_stopping",
    "StopTraining": "early_stopping",
    "EpochRecord": "history",
    "Trainer": "loop",
    "FitResult": "loop",
    "evaluate": "loop",
    "resolve_device": "devices",
    "range_test": "lr_finder",
    "RangeTestSettings": "range_test",
    "race": "lr_race",
})
