"""mlflow-improvenn: regularized PyTorch training, bias/variance diagnosis and sweeps on MLflow.

Heavy modules load on first use, so importing the package (and the CLI's help) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": "mlflow_improvenn.config",
    "ConfigError": "mlflow_improvenn.config",
    "train": "mlflow_improvenn.run",
    "diagnose": "mlflow_improvenn.diagnose_runs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlflow_improvenn' has no attribute {name!r}")
