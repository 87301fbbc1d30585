"""Where a tracked run's time goes: wall and CPU seconds of each phase of ``train()``.

The phases are the library's own functions, timed by wrapping them for the duration of a
``with timed_phases() as totals:`` block (no profiler: cProfile doubles Python-heavy code
such as matplotlib's and would distort the shares). Phases nest where the functions do
(the plot is inside "run files"). The metric rows are timed where they are written, in the
writer's background thread during training or in ``close`` at the end.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator

from mlflow_improvenn.runs import training_run
from mlflow_improvenn.tracking import artifacts, background, plots, tracker
from mlflow_improvenn.training import checkpoints, loop

#: (label, owner, attribute), in the order a run goes through them.
PHASES = [
    ("data load and checks", training_run, "_checked_inputs"),
    ("run start and tags", tracker.RunTracker, "start"),
    ("params", tracker.RunTracker, "log_params"),
    ("training loop (Trainer.fit)", loop.Trainer, "fit"),
    ("run files (history, plot, best.pt, model)", artifacts, "write_run_files"),
    ("  learning-curve plot", plots, "learning_curves"),
    ("  best.pt", checkpoints, "save_atomic"),
    ("  model export", artifacts, "save_model"),
    ("evaluate the restored best weights", training_run, "_evaluate_best"),
    ("metric flush at the end (close)", background.MetricWriter, "close"),
    ("metric rows, all writes (either thread)", background.MetricWriter, "_write_pending"),
    ("summary metrics and tags", tracker.RunTracker, "log_summary"),
    ("artifact upload", tracker.RunTracker, "log_artifacts"),
    ("end run", tracker.RunTracker, "end"),
]


@contextlib.contextmanager
def timed_phases() -> Iterator[dict[str, list[float]]]:
    """Yield ``{label: [wall s, CPU s]}`` summed over the calls made inside the block.

    CPU seconds are the whole process's (``time.process_time``), so a phase's CPU includes
    what other threads did meanwhile (torch's, the metric writer's)."""
    totals = {label: [0.0, 0.0] for label, _, _ in PHASES}
    originals = [(owner, name, owner.__dict__[name]) for _, owner, name in PHASES]
    try:
        for label, owner, name in PHASES:
            _wrap(owner, name, totals[label])
        yield totals
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _wrap(owner: object, name: str, total: list[float]) -> None:
    original = owner.__dict__[name]
    function = original.__func__ if isinstance(original, classmethod | staticmethod) else original

    @functools.wraps(function)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - wall
            total[1] += time.process_time() - cpu

    setattr(owner, name, classmethod(timed) if isinstance(original, classmethod) else timed)
