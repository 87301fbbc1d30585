"""What every training command does around its library call: one store, one way to stop."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

import click


@contextlib.contextmanager
def training_session(what: str, check: Callable[[], None] | None = None) -> Iterator[None]:
    """Run ``check`` (the options' own checks: data, device), then ready the tracking store
    for processes that start together; turn SIGTERM into Ctrl-C (a scheduler's stop ends
    runs as a person's would) and an interrupt that reaches the command into one line on
    stderr and exit code 130. Refused options thus leave no ``mlflow.db`` behind and print
    none of MLflow's lines about creating one."""
    if check is not None:
        check()
    import mlflow

    from mlflow_improvenn.cli.secrets import keep_urls_out_of_output
    from mlflow_improvenn.tracking.store import prepare_store

    uri = mlflow.get_tracking_uri()
    keep_urls_out_of_output(uri)
    reachable_store(uri)
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


def reachable_store(uri: str, option: str = "MLFLOW_TRACKING_URI") -> None:
    """Refuse a tracking URI no store can be opened at (a usage error naming ``option``), and
    wait for a tracking server that does not answer, saying so at once on stderr with the
    number of retries; give up (exit 1) after ``$IMPROVENN_SERVER_WAIT`` seconds."""
    from mlflow_improvenn.tracking.store import (
        SERVER_WAIT_ENV,
        Retry,
        ServerDown,
        StoreError,
        check_tracking_uri,
        redact_uri,
        server_wait,
        wait_for_server,
    )

    try:
        check_tracking_uri(uri)
    except StoreError as error:
        raise click.BadParameter(str(error), param_hint=option) from error
    try:
        wait = server_wait()
    except StoreError as error:
        raise click.BadParameter(str(error), param_hint=SERVER_WAIT_ENV) from error

    def tell(retry: Retry) -> None:
        if retry.attempt == 1:
            click.echo(f"The MLflow tracking server {redact_uri(uri)} does not answer "
                       f"({retry.reason}); retrying {retry.of} times over {wait:g} s "
                       f"(${SERVER_WAIT_ENV} sets the wait).", err=True)
        click.echo(f"  retry {retry.attempt}/{retry.of} in {retry.delay:g} s", err=True)

    try:
        wait_for_server(uri, wait, tell)
    except ServerDown as error:
        raise click.ClickException(str(error)) from error


def check_given_store(tracking_uri: str | None) -> None:
    """:func:`reachable_store` for a command's ``--tracking-uri``, else MLflow's own choice."""
    import mlflow

    option = "'--tracking-uri'" if tracking_uri else "MLFLOW_TRACKING_URI"
    reachable_store(tracking_uri or mlflow.get_tracking_uri(), option)


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
