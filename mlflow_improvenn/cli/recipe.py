"""``improvenn recipe``: the basic recipe in a loop, from any training configuration."""

from __future__ import annotations

from typing import Any

import click

from mlflow_improvenn.cli.diagnose import judging_options
from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.cli.train import build_config, quiet_option, training_options

_DATA_FIRST = {"true": True, "false": False, "auto": "auto"}


@click.command()
@training_options
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
@click.option("--max-steps", type=click.IntRange(min=1), default=6, show_default=True,
              help="Most training runs, the first one included.")
@click.option("--target-dev-error", type=click.FloatRange(0, 1), default=0.0,
              show_default=True,
              help="Stop once a run's dev error is at most this (0: stop at a good fit).")
@judging_options
@click.option("--max-width", type=click.IntRange(min=1), default=512, show_default=True,
              help="Widest hidden layer the recipe may grow.")
@click.option("--max-depth", type=click.IntRange(min=1), default=4, show_default=True,
              help="Most hidden layers the recipe may grow.")
@click.option("--data-first", type=click.Choice(["true", "false", "auto"], case_sensitive=False),
              default="false", show_default=True, is_flag=False, flag_value="true",
              help="On high variance, use more of the data set's rows before regularizing; "
              "auto: run a learning curve first and do so where it says more data will help.")
@quiet_option
def recipe(
    experiment: str | None, max_steps: int, target_dev_error: float,
    baseline_error: float | str, tolerance: float | None, max_width: int, max_depth: int,
    data_first: str, quiet: bool, **values: Any,
) -> None:
    """Train, diagnose, fix the bigger problem, repeat: each step a child run in MLflow.

    High bias grows the network (wider, then deeper) or trains longer; high variance adds
    L2, dropout, early stopping or more data. A change that makes the dev error worse is
    undone and the next idea tried.
    """
    config = build_config(values)
    from mlflow_improvenn.recipe.decisions import RecipePolicy
    from mlflow_improvenn.recipe.loop import RecipeSettings, run_recipe

    settings = RecipeSettings(
        max_steps=max_steps, target_dev_error=target_dev_error or None,
        baseline_error=baseline_error, tolerance=tolerance,
        policy=RecipePolicy(max_width=max_width, max_depth=max_depth,
                            data_first=_DATA_FIRST[data_first.lower()]),
    )
    from mlflow_improvenn.runs.training_run import check_config

    with training_session("Recipe", lambda: check_config(config, many_runs=True)):
        result = run_recipe(config, settings, experiment,
                            on_step=None if quiet else _print_step)
    best = result.best
    click.echo(
        f"Recipe {result.parent_run_id} ended ({result.stop_reason}) after "
        f"{len(result.steps)} step(s); best: step {best.step}, dev error "
        f"{best.dev_error:.4f}, run {best.run_id}."
    )


def _print_step(step: Any) -> None:
    d = step.diagnosis
    errors = "" if d.train_error is None else f"train {d.train_error:.4f} "
    dev = "" if d.dev_error is None else f"dev {d.dev_error:.4f} "
    click.echo(f"step {step.step}: {step.action} -> {errors}{dev}{d.verdict.value}")
