"""Progress of the commands that train: a bar on a terminal, one plain line per epoch (or
range-test step) otherwise, nothing with ``--quiet``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from mlflow_improvenn.training.history import EpochRecord

#: ``show(count, figures)``: the ``count``-th unit of work is done; ``figures`` its values.
Show = Callable[[int, dict[str, str]], None]


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
    with _progress(max_epochs, "epoch", quiet) as show:
        yield lambda record: show(record.epoch, describe(record))


@contextmanager
def step_printer(num_steps: int, quiet: bool) -> Iterator[Callable[[int, float, float], None]]:
    """Yield the range test's ``on_step(step, lr, loss)`` callback (``step`` from 0)."""
    with _progress(num_steps, "step", quiet) as show:
        yield lambda step, lr, loss: show(step + 1, {"lr": f"{lr:.3g}", "loss": f"{loss:.4f}"})


@contextmanager
def _progress(total: int, unit: str, quiet: bool) -> Iterator[Show]:
    if quiet:
        yield lambda count, figures: None
    elif sys.stdout.isatty():
        from tqdm import tqdm

        with tqdm(total=total, unit=unit, dynamic_ncols=True) as bar:

            def update(count: int, figures: dict[str, str]) -> None:
                bar.set_postfix(figures, refresh=False)
                bar.update(1)

            yield update
    else:

        def print_line(count: int, figures: dict[str, str]) -> None:
            shown = "  ".join(f"{k} {v}" for k, v in figures.items())
            click.echo(f"{unit} {count:>4}/{total}  {shown}")

        yield print_line
