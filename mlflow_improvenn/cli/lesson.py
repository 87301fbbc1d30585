"""``improvenn lesson NAME``: one lesson of the tutorial as a parent run with compared children."""

from __future__ import annotations

import click

from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.lessons.catalog import LESSONS


@click.command()
@click.argument("name", type=click.Choice(list(LESSONS)))
@click.option("--smoke", type=click.BOOL, default=False, show_default=True,
              help="Shrink every run to a few epochs on a few rows (for tests).")
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
def lesson(name: str, smoke: bool, experiment: str | None) -> None:
    """Train every variation of lesson NAME and log their comparison on one parent run."""
    from mlflow_improvenn.lessons.runner import run_lesson

    with training_session(f"Lesson {name}"):
        result = run_lesson(name, smoke, experiment,
                            on_run=lambda label: click.echo(f"{name}: training {label}"))
    wanted = ["variation", "diagnosis", "verdict", "n_train", "train_error", "dev_error",
              "test_error", "stopped_epoch", "dev_at_2x"]
    columns = [c for c in wanted if c in result.table]
    click.echo(result.table[columns].to_string(index=False, float_format="{:.4f}".format))
    click.echo(f"Parent run {result.parent_run_id}: see lesson/ in its artifacts.")
