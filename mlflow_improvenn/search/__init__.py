"""Search: hyperparameter sweeps with Optuna, every trial a nested training run.

Search spaces (``space``: the YAML format and the tutorial's tiers), the study and its trials
(``sweep``: :func:`run_sweep`), worker processes on one machine (``workers``) and the report a
finished sweep leaves on its parent (``report``); the data-size learning curve, whose
children those workers train (``learning_curve``: :func:`run_learning_curve`). Uses runs and
everything below.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "run_sweep": "sweep",
    "SweepSettings": "sweep",
    "SweepResult": "sweep",
    "load_space": "space",
    "tiered_space": "space",
    "SpaceError": "space",
    "run_learning_curve": "learning_curve",
})
