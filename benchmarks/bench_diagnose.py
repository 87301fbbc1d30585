"""How much ``diagnose`` costs beside a bare ``mlflow.search_runs`` over the same runs.

Plants ``--n-runs`` runs shaped like the trainer's (params, with the split sizes and the
Bayes error that the noise intervals and the baseline read, a ``--epochs``-long history of
train/dev loss and error at ``step = epoch``, the end-of-run summary and stop-reason tag) in a
fresh sqlite store with ``log_batch``, then serves a copy of that store from a local
``mlflow server`` on 127.0.0.1 (a free port), so both backends hold the very same runs. On
each backend it times, interleaved, after one warm-up each:

- ``search_runs``: ``mlflow.search_runs(experiment_ids=[...])``, the bare query;
- ``diagnose``: ``diagnose([...])``, the default: one search plus the histories it needs;
- ``diagnose --no-curves``: ``diagnose([...], curves=False)``, the one search alone.

The planted verdicts are spread evenly over the four outcomes; one run in five ran out of
epochs (``max_epochs``) and the rest stopped early. Like the trainer, each run logs
``train_loss_falling`` at the end, so the default reads no history at all; runs of other
tools (without it) would cost one history call per high-bias run that ran out of epochs.
Prints the median of ``--repeats`` timings and the ratio to ``search_runs``. Not a test.

Usage: ``python benchmarks/bench_diagnose.py [--n-runs 1000] [--epochs 100] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.diagnosis.report import diagnose

EXPERIMENT = "bench-diagnose"
# (best train error, best dev error) per verdict at baseline 0 and tolerance 0.02.
ERRORS = [(0.01, 0.02), (0.10, 0.11), (0.01, 0.10), (0.10, 0.20)]


def plant(uri: str, n_runs: int, epochs: int) -> str:
    """Create the experiment and its runs; returns the experiment id."""
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT)
    for index in range(n_runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{index:05d}").info.run_id
        client.log_batch(run_id, metrics=_metrics(index, epochs), params=_params(index),
                         tags=[RunTag("improvenn.stop_reason", _stop_reason(index))])
        client.set_terminated(run_id)
    return experiment_id


def _stop_reason(index: int) -> str:
    return "max_epochs" if index % 5 == 0 else "early_stopping"


def _params(index: int) -> list[Param]:
    return [Param("task", "binary"), Param("dropout", str(index % 3 / 10)),
            Param("weight_decay", str(10.0 ** -(index % 4))), Param("max_epochs", "100"),
            Param("n_train", "600"), Param("n_dev", "200"), Param("bayes_error", "0.0")]


def _metrics(index: int, epochs: int) -> list[Metric]:
    train_error, dev_error = ERRORS[index % len(ERRORS)]
    now = int(time.time() * 1000)
    metrics = []
    train_losses = []
    for epoch in range(1, epochs + 1):
        decay = 1.0 / epoch
        values = {"train_loss": 0.1 + decay, "dev_loss": 0.2 + decay,
                  "train_error": train_error + decay / 2, "dev_error": dev_error + decay / 2}
        metrics += [Metric(k, v, now, epoch) for k, v in values.items()]
        train_losses.append(values["train_loss"])
    summary = {"best_train_error": train_error, "best_dev_error": dev_error,
               "best_train_loss": 0.1, "best_dev_loss": 0.2, "best_epoch": epochs - 5,
               "stopped_epoch": epochs, "test_loss": 0.25, "test_error": dev_error,
               # as the trainer logs it, so that diagnose needs no history call
               "train_loss_falling": float(read_curves(train_losses).train_loss_falling)}
    return metrics + [Metric(k, float(v), now, epochs) for k, v in summary.items()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(db: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` on a free local port, in its own process group; waits until up."""
    port = free_port()
    log = open(workdir / "server.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{db}",
         "--default-artifact-root", (workdir / "artifacts").as_uri()],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited; see {workdir / 'server.log'}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return process, uri
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise RuntimeError("mlflow server did not answer within 120 s")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server we started: its process group, by its pid."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def time_backend(uri: str, experiment_id: str, repeats: int) -> dict[str, float]:
    """Median seconds per query kind, interleaved, after one warm-up of each."""
    mlflow.set_tracking_uri(uri)
    queries: dict[str, Callable[[], object]] = {
        "search_runs": lambda: mlflow.search_runs(experiment_ids=[experiment_id]),
        "diagnose": lambda: diagnose([experiment_id], tracking_uri=uri),
        "diagnose --no-curves": lambda: diagnose([experiment_id], tracking_uri=uri,
                                                 curves=False),
    }
    times: dict[str, list[float]] = {name: [] for name in queries}
    for round_ in range(repeats + 1):
        for name, query in queries.items():
            start = time.perf_counter()
            query()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(backend: str, n_runs: int, timings: dict[str, float]) -> None:
    base = timings["search_runs"]
    print(f"\n{backend}: {n_runs} runs")
    for name, seconds in timings.items():
        print(f"  {name:<22}{seconds:8.3f} s   x{seconds / base:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-diagnose-"))
    try:
        db = workdir / "mlflow.db"
        uri = f"sqlite:///{db}"
        start = time.perf_counter()
        experiment_id = plant(uri, args.n_runs, args.epochs)
        print(f"planted {args.n_runs} runs x {args.epochs} epochs x 4 metrics "
              f"in {time.perf_counter() - start:.1f} s")
        frame = diagnose([experiment_id], tracking_uri=uri)
        known = int(frame.train_loss_falling.notna().sum())
        print(f"verdicts: {frame.diagnosis.value_counts().to_dict()}; "
              f"runs whose train-loss trend is known: {known}")
        report("sqlite", args.n_runs, time_backend(uri, experiment_id, args.repeats))
        served = workdir / "served.db"
        shutil.copy(db, served)
        process, server_uri = start_server(served, workdir)
        try:
            report(f"mlflow server ({server_uri})", args.n_runs,
                   time_backend(server_uri, experiment_id, args.repeats))
        finally:
            stop_server(process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
