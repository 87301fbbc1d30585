"""Ctrl-C and SIGTERM end every training command the same way: runs KILLED, exit code 130."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

import click


@contextlib.contextmanager
def stopped_like_ctrl_c(what: str) -> Iterator[None]:
    """Turn SIGTERM into Ctrl-C (a scheduler's stop ends runs as a person's would) and an
    interrupt that reaches the command into one line on stderr and exit code 130."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"{what} interrupted: its runs ended KILLED "
                   "(improvenn.stop_reason = interrupted).", err=True)
        sys.exit(130)
