"""Per-epoch progress: a bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from mlflow_improvenn.training.history import EpochRecord


def describe(record: EpochRecord) -> dict[str, str]:
    """The figures shown for an epoch, formatted."""
    shown = {"train_loss": f"{record.train_loss:.4f}", "dev_loss": f"{record.dev_loss:.4f}"}
    if record.dev_error is not None:
        shown["dev_error"] = f"{record.dev_error:.3f}"
    shown["lr"] = f"{record.lr:.3g}"
    return shown


@contextmanager
def progress_printer(max_epochs: int, quiet: bool) -> Iterator[Callable[[EpochRecord], None]]:
    """Yield the ``on_epoch`` callback that renders progress the way the terminal suits."""
    if quiet:
        yield lambda record: None
    elif sys.stdout.isatty():
        from tqdm import tqdm

        with tqdm(total=max_epochs, unit="epoch", dynamic_ncols=True) as bar:

            def update(record: EpochRecord) -> None:
                bar.set_postfix(describe(record), refresh=False)
                bar.update(1)

            yield update
    else:

        def print_line(record: EpochRecord) -> None:
            figures = "  ".join(f"{k} {v}" for k, v in describe(record).items())
            click.echo(f"epoch {record.epoch:>4}/{max_epochs}  {figures}")

        yield print_line
