"""What every training command does around its library call: one store, one way to stop."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

import click


@contextlib.contextmanager
def training_session(what: str) -> Iterator[None]:
    """Ready the tracking store for processes that start together; turn SIGTERM into Ctrl-C
    (a scheduler's stop ends runs as a person's would) and an interrupt that reaches the
    command into one line on stderr and exit code 130."""
    import mlflow

    from mlflow_improvenn.cli.secrets import keep_urls_out_of_output
    from mlflow_improvenn.tracking.store import prepare_store

    keep_urls_out_of_output(mlflow.get_tracking_uri())
    prepare_store()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        _stop_listening()
        from mlflow_improvenn.tracking.tracker import end_open_runs

        with contextlib.suppress(Exception):  # the library ends its runs; this is a net
            end_open_runs("KILLED", stop_reason="interrupted")
        click.echo(f"{what} interrupted: its runs ended KILLED "
                   "(improvenn.stop_reason = interrupted).", err=True)
        sys.exit(130)


def _stop_listening() -> None:
    """Ignore further Ctrl-C and SIGTERM: the command is on its way out, and a press now
    must not turn exit code 130 into a traceback, or leave a run for MLflow's exit hook."""
    while True:
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
            return
        except KeyboardInterrupt:  # a press landed before they were ignored
            continue
