"""The ``improvenn`` command: a thin layer that parses, validates, calls the library, renders.

Subcommands are imported only when run, so ``improvenn --help`` and ``improvenn diagnose``
never pay for importing torch.
"""

from __future__ import annotations

import importlib

import click

_COMMANDS = {
    "train": ("mlflow_improvenn.cli.train", "train",
              "Train one regularized model as an MLflow run."),
    "diagnose": ("mlflow_improvenn.cli.diagnose", "diagnose",
                 "Diagnose bias versus variance for MLflow runs."),
    "curves": ("mlflow_improvenn.cli.diagnose", "curves",
               "Draw several runs' learning curves on shared axes."),
    "sweep": ("mlflow_improvenn.cli.sweep", "sweep",
              "Search hyperparameters with Optuna, one nested run per trial."),
    "recipe": ("mlflow_improvenn.cli.recipe", "recipe",
               "Apply the basic recipe in a loop: train, diagnose, fix, repeat."),
    "lesson": ("mlflow_improvenn.cli.lesson", "lesson",
               "Run one lesson of the tutorial as compared MLflow runs."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module, attribute, _ = _COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand. Options the library refuses (the data, the device, a run to
        resume) are usage errors naming the option; a tracking store that refuses or fails
        is one clear line."""
        from mlflow_improvenn.cli.train import flag
        from mlflow_improvenn.config import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise click.BadParameter(error.message, param_hint=f"'{flag(error.option)}'") from error
        except Exception as error:
            if type(error).__name__ != "MlflowException":  # no mlflow import for --help
                raise
            first_line = str(getattr(error, "message", error)).strip().splitlines()[0]
            raise click.ClickException(f"MLflow tracking failed: {first_line}") from error

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="mlflow-improvenn")
def main() -> None:
    """Improve your neural network, as tracked and comparable MLflow experiments."""
