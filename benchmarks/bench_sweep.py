"""Sweep wall time with 1 worker versus N: the speed-up of ``improvenn sweep --workers N``.

Each configuration runs the same sweep (random sampler over the learning rate, a fixed seed,
no pruning, early stopping off so every trial trains ``max_epochs``) into a fresh sqlite
store, timed from the call until the parent run holds its report. One worker trains in this
process, with torch's default threads (``1``) or with one (``1/1t``); N workers are spawned
processes with one thread each, as ``improvenn sweep`` runs them. Rounds interleave the
configurations; the load average is printed because other work on the machine skews all.

``--per-trial`` measures instead what a sweep adds to each trial: a sweep of 20 one-epoch
trials of W2 (400 moons, MLP 32-32) with ``--workers 1`` against 20 bare trainings (data
load and the bare slice loop of ``workloads.py``) of the same learning rates, interleaved
over the rounds, and where the sweep's time went (its trials' ``train()``, Optuna's
storage and sampler, the report at the end).

Usage: ``python benchmarks/bench_sweep.py [--trials 8] [--epochs 40] [--configs 1,1/1t,2]
[--rounds 2] [--per-trial]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import timing
import torch
from workloads import bare_loop, load, make_workloads, slice_batches

from mlflow_improvenn.search import sweep
from mlflow_improvenn.search.space import parse_space
from mlflow_improvenn.search.sweep import SweepSettings, run_sweep
from mlflow_improvenn.training.options import TrainConfig

JOB = TrainConfig(dataset="moons", n_samples=4000, hidden_units=(64, 64), max_epochs=40,
                  patience=0, batch_size=32, log_model=False)
DEFAULT_THREADS = torch.get_num_threads()
SPACE = parse_space({"lr": {"loguniform": [1e-4, 1e-1]}})


def time_sweep(trials: int, config: str, job: TrainConfig) -> float:
    """Seconds for one sweep of ``trials`` trials as ``config`` says, in a fresh store."""
    workers = int(config.split("/")[0])
    torch.set_num_threads(1 if config.endswith("/1t") else DEFAULT_THREADS)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.MlflowClient().search_experiments()  # the schema, before the clock starts
        settings = SweepSettings(n_trials=trials, workers=workers, sampler="random",
                                 pruner="none", seed=0)
        start = time.perf_counter()
        result = run_sweep(job, SPACE, settings)
        elapsed = time.perf_counter() - start
        assert len(result.trials) == trials
    return elapsed


def per_trial(trials: int, rounds: int) -> None:
    """Seconds a sweep adds to each of ``trials`` one-epoch trials (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        job = make_workloads(["W2"], Path(folder))[0].config.replace(max_epochs=1)
        lrs = np.logspace(-4, -1, trials)
        results: dict[str, list[timing.Sample]] = {"sweep": [], "bare": []}
        spent: dict[str, list[float]] = {"trials' train()": [], "report": []}
        for _ in range(rounds):
            for kind in results:
                if kind == "bare":
                    sample, _ = timing.timed(lambda: [_bare(job.replace(lr=lr)) for lr in lrs])
                else:
                    mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp(dir=folder)}/m.db")
                    mlflow.MlflowClient().search_experiments()
                    with _timing(spent):
                        sample, _ = timing.timed(lambda: run_sweep(job, SPACE, SweepSettings(
                            n_trials=trials, workers=1, sampler="random", pruner="none")))
                results[kind].append(sample)
    sweep_s, bare_s = (statistics.median(s.wall_s for s in results[k]) for k in ("sweep", "bare"))
    added_ms = (sweep_s - bare_s) / trials * 1000
    print(f"{trials} one-epoch trials of W2, median of {rounds} interleaved rounds: sweep "
          f"{sweep_s:.2f} s, bare {bare_s:.2f} s; the sweep adds {added_ms:.0f} ms a trial")
    for label, values in spent.items():
        print(f"  of the sweep: {label} {statistics.median(values):.2f} s")
    rest = sweep_s - sum(statistics.median(values) for values in spent.values())
    print(f"  of the sweep: the rest (Optuna's storage and sampler, the parent run) {rest:.2f} s, "
          f"{rest / trials * 1000:.1f} ms a trial")


def _bare(config: TrainConfig) -> float:
    loaded = load(config)
    return bare_loop(config, loaded, slice_batches(config, loaded))


class _timing:
    """Wall seconds of the sweep's trials' ``train()`` and of its report, per sweep."""

    def __init__(self, spent: dict[str, list[float]]) -> None:
        self.spent = spent
        self.targets = {"trials' train()": "train", "report": "log_sweep_report"}

    def __enter__(self) -> None:
        self.totals = dict.fromkeys(self.targets, 0.0)
        self.originals = {name: getattr(sweep, name) for name in self.targets.values()}
        for label, name in self.targets.items():
            setattr(sweep, name, self._timed(label, self.originals[name]))

    def _timed(self, label: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.totals[label] += time.perf_counter() - started
        return timed

    def __exit__(self, *exc) -> None:
        for name, function in self.originals.items():
            setattr(sweep, name, function)
        for label, total in self.totals.items():
            self.spent[label].append(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--configs", default="1,1/1t,2",
                        help="worker counts; 1/1t: one worker with one torch thread")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=JOB.max_epochs, help="per trial")
    parser.add_argument("--per-trial", action="store_true",
                        help="what a sweep adds to each trial (20 one-epoch trials)")
    args = parser.parse_args()
    if args.per_trial:
        per_trial(20 if args.trials == 8 else args.trials, args.rounds)
        return
    job = JOB.replace(max_epochs=args.epochs)
    configs = args.configs.split(",")
    times: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            times[config].append(time_sweep(args.trials, config, job))
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({DEFAULT_THREADS} threads by default), load average at the end "
          f"{os.getloadavg()[0]:.1f}; {args.trials} trials of {job.n_samples} moons, "
          f"{job.max_epochs} epochs, MLP {','.join(map(str, job.hidden_units))}, "
          f"batch {job.batch_size}")
    base = statistics.median(times[configs[0]])
    print("| workers | wall time (s), median | per round | speed-up |")
    print("| --- | --- | --- | --- |")
    for config in configs:
        median = statistics.median(times[config])
        rounds = ", ".join(f"{t:.1f}" for t in times[config])
        print(f"| {config} | {median:.1f} | {rounds} | {base / median:.2f}x |")


if __name__ == "__main__":
    main()
