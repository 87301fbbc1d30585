"""mlflow-improvenn: regularized PyTorch training, bias/variance diagnosis and sweeps on MLflow.

Heavy modules load on first use, so importing the package (and the CLI's help) stays fast.
The code is laid out by capability, imports flowing one way (a package uses only those
listed before it): ``training`` (PyTorch, no MLflow), ``tracking`` (MLflow reads and writes),
``diagnosis``, ``runs`` (a tracked run end to end), then ``search``, ``recipe`` and
``lessons``, with ``cli`` on top.
"""

from mlflow_improvenn._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __all__ = lazy_exports(__name__, {
    "TrainConfig": "mlflow_improvenn.training.options",
    "ConfigError": "mlflow_improvenn.training.options",
    "train": "mlflow_improvenn.runs.training_run",
    "fit": "mlflow_improvenn.runs.fitting",
    "track": "mlflow_improvenn.runs.tracked_loop",
    "diagnose": "mlflow_improvenn.diagnosis.report",
})
