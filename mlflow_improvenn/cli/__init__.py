"""The ``improvenn`` command: a thin layer that parses, validates, calls the library, renders.

Subcommands are imported only when run, so ``improvenn --help`` and ``improvenn diagnose``
never pay for importing torch.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

import click

from mlflow_improvenn.cli.collector import ImportAwareCollector

_ARGS = "improvenn.args"  # the command line as typed, in click's Context.meta
_TRAINING = "mlflow_improvenn.runs.training_run"
_DIAGNOSIS = "mlflow_improvenn.diagnosis.report"
#: name: (module, attribute, help line, the library its work imports: loaded before it
#: starts, see collector.py)
_COMMANDS = {
    "train": ("mlflow_improvenn.cli.train", "train",
              "Train one regularized model as an MLflow run.", _TRAINING),
    "diagnose": ("mlflow_improvenn.cli.diagnose", "diagnose",
                 "Diagnose bias versus variance for MLflow runs.", _DIAGNOSIS),
    "curves": ("mlflow_improvenn.cli.diagnose", "curves",
               "Draw several runs' learning curves on shared axes.", _DIAGNOSIS),
    "sweep": ("mlflow_improvenn.cli.sweep", "sweep",
              "Search hyperparameters with Optuna, one nested run per trial.",
              "mlflow_improvenn.search.sweep"),
    "recipe": ("mlflow_improvenn.cli.recipe", "recipe",
               "Apply the basic recipe in a loop: train, diagnose, fix, repeat.",
               "mlflow_improvenn.recipe.loop"),
    "lr-find": ("mlflow_improvenn.cli.lr_find", "lr_find",
                "Find a learning rate: the range test as an MLflow run.",
                "mlflow_improvenn.runs.lr_find"),
    "learning-curve": ("mlflow_improvenn.cli.learning_curve", "learning_curve",
                       "Train on growing shares of the data: will more data help?",
                       "mlflow_improvenn.search.learning_curve"),
    "lesson": ("mlflow_improvenn.cli.lesson", "lesson",
               "Run one lesson of the tutorial as compared MLflow runs.",
               "mlflow_improvenn.lessons.runner"),
    "runs": ("mlflow_improvenn.cli.runs", "runs",
             "List RUNNING runs whose process is gone, and end them (--stale --end).",
             "mlflow_improvenn.tracking.liveness"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, and whose commands import their
    libraries with the garbage collector off (:mod:`~mlflow_improvenn.cli.collector`)."""

    collector = ImportAwareCollector()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with self.collector:
            return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module, attribute, _, library = _COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute)
        return self._after_its_libraries(command, library)

    def _after_its_libraries(self, command: click.Command, library: str) -> click.Command:
        """A copy of ``command`` whose callback first imports ``library`` (not for --help,
        which click answers before any callback)."""
        callback = command.callback

        @functools.wraps(callback)
        def run(*args: Any, **kwargs: Any) -> Any:
            self.collector.libraries_imported([library])
            return callback(*args, **kwargs)

        ready = copy.copy(command)
        ready.callback = run
        return ready

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)  # as typed: for what click's parser loses (see below)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand. Options the library refuses (the data, the device, a run to
        resume) are usage errors naming the option; a tracking store that refuses or fails
        is one clear line."""
        try:
            return _refused_before_training(super().invoke, ctx)
        except click.ClickException as error:  # what the user sees holds no password
            from mlflow_improvenn.cli.secrets import scrub

            error.message = scrub(error.message)
            raise
        except Exception as error:
            mlflow_error = any(kind.__name__ == "MlflowException" for kind in type(error).__mro__)
            if not mlflow_error:  # told apart by name: no mlflow import for --help
                raise
            from mlflow_improvenn.cli.secrets import scrub

            first_line = str(getattr(error, "message", error)).strip().splitlines()[0]
            raise click.ClickException(f"MLflow tracking failed: {scrub(first_line)}") from error

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _refused_before_training(invoke: Callable[[click.Context], object],
                             ctx: click.Context) -> object:
    """Options the library refuses (the data, the device, a run to resume) become usage
    errors naming the option. Under ``mlflow run``, whose launcher made the run before any
    option could be checked, a refused option also ends that run FAILED with the reason in
    its ``improvenn.error`` tag (best effort: the usage error is what the user must see,
    even when the store does not answer)."""
    from mlflow_improvenn.cli.train import flag
    from mlflow_improvenn.training.options import ConfigError

    try:
        try:
            return invoke(ctx)
        except ConfigError as error:
            hint = f"'{flag(error.option)}'"
            raise click.BadParameter(error.message, param_hint=hint) from error
        except click.NoSuchOption as error:
            better = _value_read_as_option(error, ctx.meta.get(_ARGS, []))
            if better is None:
                raise
            raise better from error
    except click.UsageError as error:
        if "MLFLOW_RUN_ID" in os.environ:
            from mlflow_improvenn.tracking.tracker import fail_launched_run

            with contextlib.suppress(Exception):
                fail_launched_run(f"refused: {error.format_message()}")
        raise


def _value_read_as_option(
    error: click.NoSuchOption, args: list[str]
) -> click.BadParameter | None:
    """The error naming the option whose value click read as an option, if that is what
    happened: a true/false option may stand bare, so click's parser takes a value that starts
    with "-" for the next option, even when given as ``--batch-norm=-1`` ("No such option
    '-1'", which names no option the user typed)."""
    for arg in args:
        name, _, value = arg.partition("=")
        if name.startswith("--") and value.startswith(error.option_name):
            from mlflow_improvenn.training.options import BOOLEAN_WORDS

            return click.BadParameter(f"{value!r} is not a valid boolean: use {BOOLEAN_WORDS}",
                                      param_hint=f"'{name}'")
    return None


@click.group(cls=LazyGroup)
@click.version_option(package_name="mlflow-improvenn")
def main() -> None:
    """Improve your neural network, as tracked and comparable MLflow experiments."""
