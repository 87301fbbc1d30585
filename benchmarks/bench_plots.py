"""What the learning-curve plot costs, this tree's against another revision's, side by side.

Two figures, drawn from real training histories (trained once, before any timing):

- ``1 run``: the figure every run logs (``plots/learning_curves.png``), for the 300-epoch
  job W2 of ``bench_training.py`` (400 moons, MLP 32-32, Adam, step LR);
- ``5 runs``: a lesson's parent figure, the five variations of ``improvenn lesson dropout``
  (150 epochs each, their labels and the lesson's question as the title).

``learning_curves`` of this tree and the one in ``mlflow_improvenn/tracking/plots.py`` at
``--against`` (loaded from git into this process) draw each figure in turn, interleaved,
after one warm-up each; prints the median and minimum of ``--repeats`` timings and the
ratio of the medians. This tree's drawer is timed twice: as every call after the first in
a process draws (into the figure the previous call left: a sweep, lesson or recipe trains
many runs in one process), and as a process's first call does (``first call``: a new
figure, as for ``improvenn train``). Not a test. Run from the repository root.

Usage: ``python benchmarks/bench_plots.py [--against 5f2d360] [--repeats 9]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' history helper

from mlflow_improvenn.lessons.catalog import LESSONS  # noqa: E402
from mlflow_improvenn.runs.training_run import run_name  # noqa: E402
from mlflow_improvenn.tracking import plots  # noqa: E402
from mlflow_improvenn.training.options import TrainConfig  # noqa: E402
from tests.tracking.histories import trained_history  # noqa: E402

PLOTS = "mlflow_improvenn/tracking/plots.py"
W2 = TrainConfig(dataset="moons", n_samples=400, hidden_units=(32, 32), batch_size=64,
                 max_epochs=300, lr=1e-2, optimizer="adam", scheduler="step", step_size=100,
                 gamma=0.5, patience=0, device="cpu", log_model=False, seed=0)


class Figure:
    """One figure's inputs: what ``learning_curves`` is called with."""

    def __init__(self, name: str, configs: dict[str, TrainConfig], title: str) -> None:
        trained = {label: trained_history(config) for label, config in configs.items()}
        self.name = name
        self.histories: dict[str, pd.DataFrame] = {k: v[0] for k, v in trained.items()}
        self.best_epochs = {k: v[1] for k, v in trained.items()}
        self.title = title


def figures() -> list[Figure]:
    lesson = LESSONS["dropout"]
    return [Figure("1 run, 300 epochs", {"run": W2}, run_name(W2)),
            Figure("5 runs, 150 epochs", lesson.configs(), lesson.question)]


def load_revision(revision: str) -> Callable[..., Path]:
    """``learning_curves`` as it is in ``revision``, imported from a temporary file."""
    source = subprocess.run(["git", "show", f"{revision}:{PLOTS}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="bench-plots-"))
    path = folder / "plots_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("plots_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.learning_curves


def first_call(*args: object, **kwargs: object) -> Path:
    """This tree's ``learning_curves`` as the first call of a process makes it: without a
    figure left by an earlier call to draw into (a process that trains one run)."""
    vars(plots._REUSED).clear()
    return plots.learning_curves(*args, **kwargs)


def time_draw(draw: Callable[..., Path], figure: Figure, path: Path) -> float:
    start = time.perf_counter()
    draw(figure.histories, path, best_epochs=figure.best_epochs, title=figure.title)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="5f2d360", help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="folder to leave the PNGs in, to look at")
    args = parser.parse_args()
    draws = {args.against: load_revision(args.against), "this tree": plots.learning_curves,
             "first call": first_call}
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-plots-"))
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeats}, in ms")
    print(f"{'figure':<20} {'drawer':<12} {'median':>8} {'min':>8} {'ratio':>7}")
    for figure in figures():
        times: dict[str, list[float]] = {name: [] for name in draws}
        for name, draw in draws.items():  # warm-up: fonts, caches
            time_draw(draw, figure, out / f"{figure.name[0]}-{name.replace(' ', '_')}.png")
        for _ in range(args.repeats):
            for name, draw in draws.items():
                path = out / f"{figure.name[0]}-{name.replace(' ', '_')}.png"
                times[name].append(time_draw(draw, figure, path))
        before = statistics.median(times[args.against])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{figure.name:<20} {name:<12} {median * 1000:8.1f} {min(values) * 1000:8.1f}"
                  f" {median / before:7.2f}")
    print(f"PNGs in {out}")


if __name__ == "__main__":
    main()
