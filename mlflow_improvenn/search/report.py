"""What a finished sweep leaves on its parent run: best trial, diagnosis table, figures."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import mlflow
import optuna

from mlflow_improvenn.runs.parents import write_diagnosis

RUN_ID_ATTR = "mlflow_run_id"
TAG_BEST_RUN = "improvenn.best_run_id"


def log_sweep_report(
    parent_run_id: str, study: optuna.Study, best: optuna.trial.FrozenTrial | None
) -> None:
    """``best_dev_loss``, ``improvenn.best_run_id``, ``sweep/diagnosis.csv`` and the plots."""
    client = mlflow.MlflowClient()
    if best is not None:
        client.log_metric(parent_run_id, "best_dev_loss", best.value)
        client.set_tag(parent_run_id, TAG_BEST_RUN, best.user_attrs[RUN_ID_ATTR])
    run_ids = [t.user_attrs[RUN_ID_ATTR] for t in study.trials if RUN_ID_ATTR in t.user_attrs]
    with tempfile.TemporaryDirectory(prefix="improvenn-sweep-report-") as directory:
        folder = Path(directory) / "sweep"
        folder.mkdir()
        if run_ids:
            write_diagnosis(run_ids, folder, title=study.study_name)
        _save_optuna_plots(study, folder)
        client.log_artifacts(parent_run_id, directory)


def _save_optuna_plots(study: optuna.Study, folder: Path) -> None:
    """Optuna's own optimization history, and parameter importances where they can be told.

    Optuna's matplotlib plots switch the process's style to ggplot for good
    (``plt.style.use``): an ``rc_context`` keeps that from restyling every later figure of
    the process, the learning curves of the next runs included."""
    import warnings

    import matplotlib
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        if complete:
            _save(optuna_plots.plot_optimization_history(study), folder / "history.png")
        if len(complete) >= 2 and len({str(t.params) for t in complete}) >= 2:
            with contextlib.suppress(ValueError, RuntimeError):  # e.g. nothing varied
                _save(optuna_plots.plot_param_importances(study), folder / "importances.png")


def _save(axes, path: Path) -> None:
    figure = axes.figure
    figure.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
