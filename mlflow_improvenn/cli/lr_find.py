"""``improvenn lr-find``: the learning-rate range test for any training configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mlflow_improvenn.cli.session import training_session
from mlflow_improvenn.cli.train import build_config, flag, quiet_option, training_options
from mlflow_improvenn.training.range_test import RangeTestSettings

#: The range test's settings as options, their defaults :class:`RangeTestSettings`'s; the
#: settings check the values, so a bad one is a usage error naming its option.
_SETTINGS_HELP = {
    "start_lr": "Learning rate of the first step.",
    "end_lr": "Learning rate of the last step (the rate grows exponentially).",
    "num_steps": "Mini-batches in the sweep (epochs repeat as needed).",
    "smoothing": "Beta of the loss's exponential moving average, in [0, 1).",
    "divergence": "Stop once the smoothed loss passes this many times its minimum.",
    "burn_in": "First steps the smoothing and the suggestion ignore.",
    "race_epochs": "Then train the valley times 0.1, 0.32, 1, 3.2 and 10 this many epochs "
                   "each, from the same weights, and suggest the lowest dev loss (0: no "
                   "race, suggest the valley).",
}


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    defaults = RangeTestSettings()
    for name, text in reversed(_SETTINGS_HELP.items()):
        default = getattr(defaults, name)
        command = click.option(flag(name), name, type=type(default), default=default,
                               show_default=True, help=text)(command)
    return command


@click.command("lr-find")
@training_options
@_settings_options
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
@quiet_option
def lr_find(start_lr: float, end_lr: float, num_steps: int, smoothing: float,
            divergence: float, burn_in: int, race_epochs: int, experiment: str | None,
            quiet: bool, **values: Any) -> None:
    """Sweep the learning rate over mini-batches and suggest one, as one MLflow run.

    Takes every option of improvenn train (its --lr is ignored: the test sweeps it).
    Reads the middle of the longest descent of the smoothed loss (fastai's valley), then
    races rates around it for --race-epochs and suggests the lowest dev loss; --lr auto
    does the same with these defaults.
    """
    values["lr"] = "0.01" if values.get("lr") == "auto" else values["lr"]
    config = build_config(values)
    settings = RangeTestSettings(start_lr, end_lr, num_steps, smoothing, divergence, burn_in,
                                 race_epochs)
    from mlflow_improvenn.cli.progress import step_printer
    from mlflow_improvenn.runs.lr_find import find_lr

    with training_session("Range test"), step_printer(num_steps, quiet) as on_step:
        outcome = find_lr(config, settings, experiment, on_step=on_step)
    suggestion = outcome.result.suggestion
    click.echo(f"Range test {outcome.run_id}: {outcome.result.stop} after "
               f"{len(outcome.result.lrs)} steps.")
    if suggestion.lr != suggestion.lr:  # NaN
        raise click.ClickException("no descent to suggest a learning rate from: try a lower "
                                   "--start-lr or more --num-steps")
    race = outcome.result.race
    if race is not None:
        click.echo(f"Race, best dev loss in {race.epochs} epochs: " + ", ".join(
            f"lr {lr:.3g} {loss:.4g}" for lr, loss in zip(race.lrs, race.dev_losses,
                                                        strict=True)))
    click.echo(f"Suggested lr {outcome.suggested_lr:.3g} (valley {suggestion.lr:.3g}, "
               f"minimum/10 {suggestion.min_div10:.3g}, steepest {suggestion.steepest:.3g}); "
               "see plots/lr_find.png on the run.")
