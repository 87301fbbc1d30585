"""``improvenn lesson NAME``: one lesson of the tutorial as a parent run with compared children."""

from __future__ import annotations

import click

from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.cli.train import boolean_option, quiet_option
from mlflow_improvenn.lessons.catalog import LESSONS


# NAME as the metavar: click wraps the usage line of a long choice list mid-word
@click.command(help="Train every variation of lesson NAME and log their comparison on one "
               f"parent run.\n\nNAME is one of: {', '.join(LESSONS)}.")
@click.argument("name", type=click.Choice(list(LESSONS)), metavar="NAME")
@boolean_option("smoke", False, "Shrink every run to a few epochs on a few rows (for tests).")
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
@quiet_option
def lesson(name: str, smoke: bool, experiment: str | None, quiet: bool) -> None:
    """Run lesson ``name``; the help text above lists the lessons."""
    from mlflow_improvenn.lessons.runner import run_lesson

    def announce(label: str) -> None:
        if not quiet:
            click.echo(f"{name}: training {label}")

    with training_session(f"Lesson {name}"):
        result = run_lesson(name, smoke, experiment, on_run=announce)
    wanted = ["variation", "diagnosis", "verdict", "n_train", "train_error", "dev_error",
              "test_error", "stopped_epoch", "dev_at_2x"]
    columns = [c for c in wanted if c in result.table]
    click.echo(result.table[columns].to_string(index=False, float_format="{:.4f}".format))
    click.echo(f"Parent run {result.parent_run_id}: see lesson/ in its artifacts.")
