"""``improvenn learning-curve``: train on growing shares of the data; will more data help?"""

from __future__ import annotations

from typing import Any

import click

from mlflow_improvenn.cli.diagnose import judging_options
from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.cli.train import build_config, quiet_option, training_options


class FractionsType(click.ParamType):
    """Comma-separated shares, e.g. ``0.1,0.2,0.4,0.7,1``."""

    name = "fractions"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(float(item) for item in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of numbers", param, ctx)


@click.command("learning-curve")
@training_options
@click.option("--fractions", type=FractionsType(), default="0.1,0.2,0.4,0.7,1",
              show_default=True, help="Shares of the train split, each in (0, 1], at least 3.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes training the shares side by side.")
@judging_options
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
@quiet_option
def learning_curve(fractions: tuple[float, ...], workers: int, baseline_error: float | str,
                   tolerance: float | None, experiment: str | None, quiet: bool,
                   **values: Any) -> None:
    """Train one configuration on growing shares of its training rows (dev split fixed),
    each a child run of one parent, and say whether more data will help."""
    config = build_config(values)
    from mlflow_improvenn.search.learning_curve import check_fractions, run_learning_curve

    shares = check_fractions(fractions)  # a ConfigError: the usage error names --fractions
    with training_session("Learning curve"):
        result = run_learning_curve(config, shares, workers, experiment, baseline_error,
                                    tolerance, on_child=None if quiet else _print_child)
    columns = ["fraction", "n_train", "train", "dev"]
    click.echo(result.points[columns].to_string(index=False, float_format="{:.4f}".format))
    verdict = result.verdict
    click.echo(f"{verdict.verdict.value}: {verdict.reason}.")
    click.echo(f"Last segment: {verdict.last_slope:+.4f} dev per doubling of the rows.")
    for far in verdict.extrapolations:
        click.echo(f"Power law at {far.n_train} rows: dev {far.dev:.4f} "
                   f"[{far.low:.4f}, {far.high:.4f}]")
    click.echo(f"Parent run {result.parent_run_id}: see plots/learning_curve.png.")


def _print_child(share: float, outcome: Any) -> None:
    """One line per child run as it ends (module-level: worker processes unpickle it)."""
    summary = outcome.summary
    name = "best_dev_error" if "best_dev_error" in summary else "best_dev_loss"
    dev = f", {name} {summary[name]:.4f}" if name in summary else ""
    click.echo(f"{share:>4.0%} of the train rows: run {outcome.run_id} {outcome.status} "
               f"({outcome.stop_reason.value} at epoch {outcome.stopped_epoch}){dev}")
