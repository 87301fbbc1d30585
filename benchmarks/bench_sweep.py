"""Sweep wall time with 1 worker versus N: the speed-up of ``improvenn sweep --workers N``.

Each configuration runs the same sweep (random sampler over the learning rate, a fixed seed,
no pruning, early stopping off so every trial trains ``max_epochs``) into a fresh sqlite
store, timed from the call until the parent run holds its report. One worker trains in this
process, with torch's default threads (``1``) or with one (``1/1t``); N workers are spawned
processes with one thread each, as ``improvenn sweep`` runs them. Rounds interleave the
configurations; the load average is printed because other work on the machine skews all.

Usage: ``python benchmarks/bench_sweep.py [--trials 8] [--epochs 40] [--configs 1,1/1t,2]
[--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import mlflow
import torch

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--configs", default="1,1/1t,2",
                        help="worker counts; 1/1t: one worker with one torch thread")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=JOB.max_epochs, help="per trial")
    args = parser.parse_args()
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
