"""``improvenn sweep``: an Optuna search over training options, one MLflow run per trial."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.cli.train import build_config, quiet_option, training_options
from mlflow_improvenn.search.sweep import PRUNERS, SAMPLERS

#: Where a storage URL can come from instead of the command line (and the MLproject's params).
STORAGE_ENV = "IMPROVENN_STORAGE"


@click.command()
@training_options
@click.option("--n-trials", type=click.IntRange(min=1), default=10, show_default=True,
              help="Trials in the study, counted over every process that joins it.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes on this machine, sharing the study.")
@click.option("--sampler", type=click.Choice(SAMPLERS), default="tpe", show_default=True)
@click.option("--pruner", type=click.Choice(PRUNERS), default="median", show_default=True,
              help="Stops hopeless trials early from their per-epoch dev loss.")
@click.option("--space", default="", help="YAML search space file; default: the built-in tiers.")
@click.option("--tier", type=click.IntRange(1, 3), default=1, show_default=True,
              help="Without --space: search the built-in tiers 1 to N.")
@click.option("--storage", default="",
              help="Optuna storage URL shared by several processes (e.g. postgresql://...); "
              f"default: ${STORAGE_ENV}, which keeps a password off the command line.")
@click.option("--study-name", default="", help="Study to create or join (with --storage).")
@click.option("--experiment", default=None, help="MLflow experiment name.")
@quiet_option
def sweep(n_trials: int, workers: int, sampler: str, pruner: str, space: str, tier: int,
          storage: str, study_name: str, experiment: str | None, quiet: bool,
          **values: Any) -> None:
    """Search hyperparameters with Optuna; every option not in the space is fixed here.

    Trials print nothing while they train (``--quiet`` is taken, as every training
    command takes it); the result is printed at the end."""
    from mlflow_improvenn.search.space import SpaceError, grid_of, load_space, tiered_space
    from mlflow_improvenn.search.sweep import SweepSettings, run_sweep

    base = build_config(values)
    try:
        searched = load_space(Path(space)) if space else tiered_space(tier, base.optimizer)
        if not space and base.lr == "auto":  # the range test fixes lr in every trial
            searched = {name: d for name, d in searched.items() if name != "lr"}
            if not searched:
                raise click.BadParameter("tier 1 searches lr alone, which --lr auto fixes: "
                                         "use --tier 2 or 3, or a --space", param_hint="'--tier'")
        if sampler == "grid":
            grid_of(searched)
    except SpaceError as error:
        raise click.BadParameter(str(error), param_hint="'--space'") from error
    storage = _storage(storage)
    if storage and not study_name:
        raise click.BadParameter("a shared --storage needs a --study-name to join",
                                 param_hint="'--study-name'")
    settings = SweepSettings(n_trials, workers, sampler, pruner, storage or None,
                             study_name or None, base.seed)
    from mlflow_improvenn.runs.training_run import check_config

    with training_session("Sweep", lambda: check_config(base, many_runs=True)):
        result = run_sweep(base, searched, settings, experiment)
    states = result.trials["state"].value_counts().to_dict() if len(result.trials) else {}
    click.echo(f"Sweep {result.study_name}: parent run {result.parent_run_id}; trials {states}.")
    if result.best_run_id:
        click.echo(f"Best: run {result.best_run_id}, dev loss {result.best_dev_loss:.4f}.")


def _storage(given: str) -> str:
    """``--storage``, else ``$IMPROVENN_STORAGE``. Under ``mlflow run`` a password in the
    entry-point parameter is refused: the launcher logs every parameter as given, before
    any of this code runs, so the password is already in that run's params."""
    from mlflow_improvenn.tracking.store import redact_uri

    if given and "MLFLOW_RUN_ID" in os.environ and redact_uri(given) != given:
        raise click.BadParameter(
            f"mlflow run logged this password with the run's params ({os.environ['MLFLOW_RUN_ID']}"
            f"): delete that run and change the password; give the URL in ${STORAGE_ENV} "
            "(or the password in PGPASSWORD or ~/.pgpass) instead",
            param_hint="'--storage'",
        )
    return given or os.environ.get(STORAGE_ENV, "")
