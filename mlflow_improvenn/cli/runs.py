"""``improvenn runs``: the product's RUNNING runs, whether their process is gone, and
ending those that are (``--stale --end``)."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option("--stale", is_flag=True,
              help="Only runs whose process is gone (a dead pid on this host, or no heartbeat "
              "for --minutes from another host).")
@click.option("--end", is_flag=True,
              help="With --stale: end them FAILED, saying why in their improvenn.error tag.")
@click.option("--minutes", type=click.FloatRange(min=2.0), default=10.0, show_default=True,
              help="Minutes without a heartbeat (sent every minute) before a run on another "
              "host counts as gone.")
@click.option("--experiment", "experiments", multiple=True,
              help="Experiment name or id (repeatable); default: every active experiment.")
@click.option("--tracking-uri", default=None, help="Default: MLFLOW_TRACKING_URI.")
def runs(stale: bool, end: bool, minutes: float, experiments: tuple[str, ...],
         tracking_uri: str | None) -> None:
    """List the RUNNING runs improvenn started, and whether their process is gone."""
    if end and not stale:
        raise click.BadParameter("--end ends only the runs --stale lists: add --stale",
                                 param_hint="'--end'")
    from mlflow_improvenn.tracking.liveness import end_gone, running_runs
    from mlflow_improvenn.tracking.queries import client_for, resolve_experiments

    try:
        client = client_for(tracking_uri)
    except ValueError as error:  # no store there
        hint = "'--tracking-uri'" if tracking_uri else "MLFLOW_TRACKING_URI"
        raise click.BadParameter(str(error), param_hint=hint) from error
    try:
        experiment_ids = resolve_experiments(client, experiments)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--experiment'") from error
    table = running_runs(client, experiment_ids, minutes)
    if stale:
        table = table[table["gone"]]
    if table.empty:
        click.echo("No stale runs." if stale else "No RUNNING runs started by improvenn.")
        return
    shown = table.drop(columns="gone") if stale else table.assign(
        gone=table["gone"].map({True: "yes", False: "no"}))
    click.echo(_table(shown))
    if end:
        end_gone(client, table)
        click.echo(f"Ended {len(table)} run(s) FAILED (improvenn.error says why).")


def _table(frame: Any) -> str:
    """Left-aligned text columns; names shown with their control characters escaped."""
    from mlflow_improvenn.tracking.tables import printable

    headers = {"heartbeat_age_min": "heartbeat (min ago)"}
    columns = []
    for name in frame.columns:
        cells = [_cell(value, printable) for value in frame[name]]
        header = headers.get(name, name)
        width = max(len(header), *(len(cell) for cell in cells))
        columns.append([header.ljust(width)] + [cell.ljust(width) for cell in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _cell(value: Any, printable: Any) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.1f}"
    return "-" if value is None else printable(str(value))
