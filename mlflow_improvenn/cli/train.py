"""``improvenn train``: every training option as a command-line option, then one run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from mlflow_improvenn.training.options import (
    BOOLEAN_WORDS,
    ConfigError,
    OptionSpec,
    TrainConfig,
    format_value,
    option_specs,
    option_types,
    parse_bool,
    parse_value,
)


class Boolean(click.ParamType):
    """true/false and their usual spellings; a blank value is refused (click's BOOL takes it
    as false and lists it first among the allowed values)."""

    name = "boolean"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        try:
            return parse_bool(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a valid boolean: use {BOOLEAN_WORDS}", param, ctx)


_CLICK_TYPES: dict[Any, click.ParamType] = {int: click.INT, float: click.FLOAT, bool: Boolean()}


def boolean_option(name: str, default: bool, help: str) -> Callable[[Any], Any]:
    """A boolean option that works as a bare flag (``--batch-norm``) and with a value
    (``--batch-norm false``, as ``mlflow run`` passes it)."""
    return click.option(
        flag(name), name, type=Boolean(), is_flag=False, flag_value="true",
        default=format_value(default), show_default=True, metavar="[true|false]", help=help,
    )


#: ``--quiet`` of every command that trains.
quiet_option = click.option(
    "--quiet", is_flag=True, help="Print no progress (epochs, steps, runs): only the result."
)


def flag(name: str) -> str:
    """The command-line spelling of option ``name``."""
    return "--" + name.replace("_", "-")


def _help(spec: OptionSpec) -> str:
    if spec.low is None and spec.high is None:
        return spec.help
    return f"{spec.help} Range {spec.range_text()}."


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``command`` with one click option per field of :class:`TrainConfig`, and
    ``--model-param KEY=VALUE`` (repeatable), which :func:`build_config` adds to
    ``model_params``."""
    command = click.option(
        "--model-param", "model_param", multiple=True, metavar="KEY=VALUE",
        help="One keyword argument of a custom model's factory (repeatable); joins "
        "--model-params.",
    )(command)
    defaults = TrainConfig()
    types = option_types()
    for name, spec in reversed(option_specs().items()):
        if types[name] is bool:
            command = boolean_option(name, getattr(defaults, name), _help(spec))(command)
            continue
        plain_type = click.STRING if spec.auto else _CLICK_TYPES.get(types[name], click.STRING)
        click_type = click.Choice(spec.choices) if spec.choices else plain_type
        command = click.option(
            flag(name),
            name,
            type=click_type,
            default=format_value(getattr(defaults, name)),
            show_default=True,
            help=_help(spec),
        )(command)
    return command


def build_config(values: dict[str, Any]) -> TrainConfig:
    """A validated config from parsed options; a bad value is a usage error naming it."""
    values = dict(values)
    extra = values.pop("model_param", ())
    if extra:
        values["model_params"] = ",".join(filter(None, (values.get("model_params", ""), *extra)))
    try:
        parsed = {
            name: parse_value(name, value) if isinstance(value, str) else value
            for name, value in values.items()
        }
        return TrainConfig(**parsed)
    except ConfigError as error:
        raise click.BadParameter(error.message, param_hint=f"'{flag(error.option)}'") from error


@click.command()
@training_options
@click.option("--experiment", default=None, help="MLflow experiment name (created if missing).")
@quiet_option
def train(experiment: str | None, quiet: bool, **values: Any) -> None:
    """Train one regularized model and log the whole run to MLflow.

    The tracking store is MLflow's: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here.
    """
    config = build_config(values)
    from mlflow_improvenn.cli.progress import progress_printer
    from mlflow_improvenn.cli.session import training_session
    from mlflow_improvenn.runs.training_run import RunFailed, check_config
    from mlflow_improvenn.runs.training_run import train as run_training

    # checked before the store is opened; a resumed run's data options are its checkpoint's
    splits = None if config.resume_from else check_config(config)
    with training_session("Training"), progress_printer(config.max_epochs, quiet) as on_epoch:
        try:
            outcome = run_training(config, experiment=experiment, on_epoch=on_epoch,
                                   splits=splits)
        except RunFailed as error:
            raise click.ClickException(str(error)) from error
    _report(outcome)
    if config.lr == "auto":
        _report_found_lr(outcome.run_id)
    _report_where(outcome)
    if outcome.status == "KILLED":
        sys.exit(130)
    if outcome.status != "FINISHED":
        raise click.ClickException(
            f"run {outcome.run_id} ended {outcome.status} ({outcome.stop_reason.value}); "
            "try a lower --lr or --grad-clip"
        )


def _report(outcome: Any) -> None:
    summary = outcome.summary
    click.echo(
        f"Run {outcome.run_id} {outcome.status}: {outcome.stop_reason.value} at epoch "
        f"{outcome.stopped_epoch}, best epoch {outcome.best_epoch}."
    )
    for name in ("best_train_error", "best_dev_error", "test_error", "best_train_r2",
                 "best_dev_r2", "test_r2", "best_dev_loss", "test_loss"):
        if name in summary:
            click.echo(f"  {name:<17}{summary[name]:.4f}")


def _report_where(outcome: Any) -> None:
    """How to look at the run: its page on a server, or the command for a local store."""
    import mlflow

    from mlflow_improvenn.tracking.store import redact_uri

    uri = redact_uri(mlflow.get_tracking_uri())
    if uri.startswith(("http://", "https://")):
        click.echo(f"See it at: {uri}/#/experiments/{outcome.experiment_id}/runs/{outcome.run_id}")
    else:
        click.echo(f"See it with: mlflow ui --backend-store-uri {uri}")


def _report_found_lr(run_id: str) -> None:
    """Which rate ``--lr auto`` trained with, and the range test's run that chose it."""
    import mlflow

    from mlflow_improvenn.runs.lr_find import TAG_LR_FIND_RUN

    run = mlflow.MlflowClient().get_run(run_id)
    params = run.data.params
    lr = float(params.get("lr_resolved", params.get("lr")))
    click.echo(f"  lr {lr:.3g} from the range test, run {run.data.tags.get(TAG_LR_FIND_RUN)}")
