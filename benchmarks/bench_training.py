"""What tracking costs: improvenn's runs against the bare loop, peers, and the command line.

Every configuration trains the same network (``build_model``, same seed) on the same split
with the same Adam optimizer, step LR schedule and epochs, computes the same per-epoch numbers
(train and dev loss and error), and loads its data inside the clock (W1 from parquet; see
``workloads.py``). Early stopping is set so it never fires. They differ in what they do with
the numbers:

- ``bare slices`` / ``bare DataLoader``: no tracking; batches as index slices of a permutation
  (as the trainer takes data in memory) or from a shuffled ``DataLoader(TensorDataset)``.
- ``bare slices + sync log``: plus ``mlflow.start_run``, ``log_params`` and one synchronous
  ``mlflow.log_metrics`` per epoch.
- ``improvenn``: ``train()`` with its full tracking (params, per-epoch metrics and lr, the
  in-memory best snapshot, early stopping, the schedule; at the end the best weights
  restored and evaluated, ``history.csv``, the learning-curve plot, ``checkpoints/best.pt``),
  without the model export; ``improvenn + model``: the same with the MLflow model logged.
- ``Lightning`` and ``skorch`` with their MLflow loggers (``peers.py``), when installed
  (``pip install -e .[bench]``).

Sections (``--sections``, default all):

- ``runs``: whole runs in this process: median, minimum and spread of wall seconds, median
  CPU seconds, ratio to ``bare slices``. Each tracked run writes to a fresh sqlite store made
  before the clock starts; the clock stops when the run has ended.
- ``epochs``: ``bare slices``, ``improvenn`` and ``improvenn + model`` also at 1 epoch, in the
  same rounds: the per-epoch cost is (T(E) - T(1)) / (E - 1); the per-run fixed cost is the
  intercept T(1) - per-epoch cost, and improvenn's own is its intercept minus the bare loop's.
- ``cli``: the same through processes, as users run them: ``improvenn train`` against
  ``python benchmarks/workloads.py`` (the bare slice loop as a command) at 10 E + 1 and 1
  epochs.
- ``phases``: ``improvenn + model`` again, each phase of ``train()`` timed (``phases.py``).

Rounds interleave every job, rotating their order; before each job the script waits for
the CPUs to be quiet and records how busy they were. Usage: ``python
benchmarks/bench_training.py [--rounds 5] [--workloads W1,W2] [--sections runs,epochs,cli,
phases] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import peers
import timing
from mlflow.tracking import MlflowClient
from phases import PHASES, timed_phases
from workloads import Workload, bare_loop, dataloader_batches, load, make_workloads, slice_batches

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training.options import TrainConfig

EXPERIMENT = peers.EXPERIMENT
SHORT = 1  # epochs of the short runs that give the intercept
#: The long command-line runs train this many times the workload's epochs (plus one): a
#: process's start-up varies by +-0.1 s, which over 300 epochs would be +-0.3 ms an epoch.
CLI_LONG = 10
HERE = Path(__file__).resolve().parent
SECTIONS = ("runs", "epochs", "cli", "phases")


def fit_bare_slices(config: TrainConfig, workdir: Path) -> float:
    loaded = load(config)
    return bare_loop(config, loaded, slice_batches(config, loaded))


def fit_bare_dataloader(config: TrainConfig, workdir: Path) -> float:
    loaded = load(config)
    return bare_loop(config, loaded, dataloader_batches(config, loaded))


def fit_bare_sync_log(config: TrainConfig, workdir: Path) -> float:
    loaded = load(config)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run():
        mlflow.log_params(config.to_params())
        return bare_loop(config, loaded, slice_batches(config, loaded),
                         lambda metrics, epoch: mlflow.log_metrics(metrics, step=epoch))


def fit_improvenn(config: TrainConfig, workdir: Path) -> float:
    outcome = train(config, experiment=EXPERIMENT)
    return float(outcome.history["dev_error"].iloc[-1])


def fit_improvenn_model(config: TrainConfig, workdir: Path) -> float:
    return fit_improvenn(config.replace(log_model=True), workdir)


BARE, IMPROVENN, WITH_MODEL = "bare slices", "improvenn", "improvenn + model"
CLI_IMPROVENN, CLI_BARE = "CLI: improvenn train", "CLI: bare loop"
#: name: (fit, whether it writes to a store)
CONFIGURATIONS: dict[str, tuple[Callable[[TrainConfig, Path], float], bool]] = {
    "bare DataLoader": (fit_bare_dataloader, False),
    BARE: (fit_bare_slices, False),
    "bare slices + sync log": (fit_bare_sync_log, True),
    IMPROVENN: (fit_improvenn, True),
    WITH_MODEL: (fit_improvenn_model, True),
    **{name: (fit, True) for name, fit in peers.available().items()},
}
TWO_LENGTHS = (BARE, IMPROVENN, WITH_MODEL)


@dataclass(frozen=True)
class Job:
    workload: str
    name: str
    epochs: int
    run: Callable[[], tuple[timing.Sample, float | None]]  # its sample and last dev error


def fresh_store(root: Path) -> Path:
    """A new folder holding a new sqlite store with the experiment, made before any clock."""
    workdir = Path(tempfile.mkdtemp(dir=root))
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    MlflowClient(uri).create_experiment(EXPERIMENT, (workdir / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    return workdir


def in_process(
    fit: Callable[[TrainConfig, Path], float], tracked: bool, config: TrainConfig, root: Path
) -> tuple[timing.Sample, float]:
    workdir = fresh_store(root) if tracked else Path(tempfile.mkdtemp(dir=root))
    return timing.timed(lambda: fit(config, workdir))


def cli_commands(w: Workload, epochs: int, root: Path) -> dict[str, list[str]]:
    """``improvenn train`` with the workload's options, and the bare loop as a command."""
    config = w.config.replace(max_epochs=epochs)
    default = TrainConfig().to_params()
    options = [f"--{key.replace('_', '-')}={value}"
               for key, value in config.to_params().items() if value != default[key]]
    return {
        CLI_IMPROVENN: [str(Path(sys.executable).parent / "improvenn"), "train", "--quiet",
                        f"--experiment={EXPERIMENT}", *options],
        CLI_BARE: [sys.executable, str(HERE / "workloads.py"), w.name, f"--epochs={epochs}",
                   f"--data-dir={root}"],
    }


def in_a_process(name: str, command: list[str], root: Path) -> tuple[timing.Sample, None]:
    env = dict(os.environ)
    if name == CLI_IMPROVENN:
        fresh_store(root)
        env["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
    return timing.timed_process(command, env), None


def make_jobs(
    workloads: list[Workload], sections: set[str], root: Path,
    configurations: dict[str, tuple[Callable[[TrainConfig, Path], float], bool]] = CONFIGURATIONS,
) -> list[Job]:
    """The jobs of ``sections``: every configuration at E epochs (``runs``), those of
    TWO_LENGTHS at E and SHORT (``epochs``), both commands at CLI_LONG E + 1 and SHORT (``cli``)."""
    jobs = []
    for w in workloads:
        full = w.config.max_epochs
        for name, (fit, tracked) in configurations.items():
            two = "epochs" in sections and name in TWO_LENGTHS
            for epochs in ([full] if "runs" in sections or two else []) + ([SHORT] if two else []):
                config = w.config.replace(max_epochs=epochs)
                jobs.append(Job(w.name, name, epochs, lambda f=fit, t=tracked, c=config:
                                in_process(f, t, c, root)))
        if "cli" in sections:
            for epochs in (CLI_LONG * full + 1, SHORT):
                for name, command in cli_commands(w, epochs, root).items():
                    jobs.append(Job(w.name, name, epochs,
                                    lambda n=name, c=command: in_a_process(n, c, root)))
    return jobs


def run_rounds(jobs: list[Job], rounds: int) -> dict[tuple[str, str, int], list]:
    """Each job ``rounds`` times, interleaved, after one warm-up call of each at its shortest
    (imports, lazy initialisations, caches): ``{(workload, name, epochs): [(sample, dev
    error)]}``."""
    warmed = set()
    for job in sorted(jobs, key=lambda j: j.epochs):
        if (job.workload, job.name) not in warmed:
            job.run()
            warmed.add((job.workload, job.name))
    results: dict[tuple[str, str, int], list] = {(j.workload, j.name, j.epochs): [] for j in jobs}
    for r in range(rounds):
        shift = r * len(jobs) // rounds
        for job in jobs[shift:] + jobs[:shift]:
            sample, dev_error = job.run()
            results[job.workload, job.name, job.epochs].append((sample, dev_error))
            print(f"  round {r + 1} {job.workload} {job.name:<24} {job.epochs:>4} epochs "
                  f"{sample.wall_s:7.3f} s wall {sample.cpu_s:7.3f} s CPU "
                  f"(CPUs {sample.busy_before:.0%} busy before)", flush=True)
    return results


def summaries(results: dict) -> dict[tuple[str, str, int], timing.Summary]:
    return {key: timing.Summary.of([s for s, _ in rows]) for key, rows in results.items()}


def print_runs(w: Workload, results: dict, table: dict) -> dict:
    """The whole-run table of one workload; returns its rows for the JSON output."""
    full = w.config.max_epochs
    names = [key[1] for key in table if key[0] == w.name and key[2] == full
             and not key[1].startswith("CLI")]
    base = table[w.name, BARE, full].wall_s
    errors = {n: statistics.median(e for _, e in results[w.name, n, full]) for n in names}
    reference = statistics.median(errors.values())
    dev_rows = len(load(w.config).dev)
    tolerance = 3 * math.sqrt(max(reference * (1 - reference), 0.01) / dev_rows)
    print(f"\n{w.name}: {w.description}; whole runs, in this process")
    print(f"{'configuration':<24} {'median s':>9} {'min s':>7} {'spread':>7} {'CPU s':>7} "
          f"{'/ bare slices':>14} {'dev error':>10}")
    rows = {}
    for n in names:
        s = table[w.name, n, full]
        flag = "" if abs(errors[n] - reference) <= tolerance else "  <- differs"
        print(f"{n:<24} {s.wall_s:9.3f} {s.min_s:7.3f} {s.spread:7.0%} {s.cpu_s:7.3f} "
              f"{s.wall_s / base:14.2f} {errors[n]:10.4f}{flag}")
        rows[n] = {**vars(s), "ratio_to_bare_slices": s.wall_s / base, "dev_error": errors[n]}
    print(f"dev errors agree within 3 binomial s.e. ({tolerance:.4f}) of their median "
          f"{reference:.4f} unless marked")
    return rows


def intercept_and_slope(
    long: timing.Summary, short: timing.Summary, long_epochs: int, short_epochs: int
) -> tuple[float, float]:
    """(fixed s, per-epoch s): the line through the median wall times at two lengths."""
    per_epoch = (long.wall_s - short.wall_s) / (long_epochs - short_epochs)
    return short.wall_s - per_epoch * short_epochs, per_epoch


def print_epochs(w: Workload, table: dict, cli: bool) -> dict:
    """Per-epoch and fixed costs, in process and (``cli``) through processes."""
    full = w.config.max_epochs
    pairs = [(n, full, SHORT) for n in TWO_LENGTHS]
    if cli:
        pairs += [(n, CLI_LONG * full + 1, SHORT) for n in (CLI_BARE, CLI_IMPROVENN)]
    print(f"\n{w.name}: per-epoch and fixed cost (from medians at {SHORT} and E epochs)")
    print(f"{'configuration':<24} {'per epoch ms':>13} {'/ bare':>7} {'fixed ms':>9} "
          f"{'over bare ms':>13}")
    rows, bare = {}, {}
    for name, long, short in pairs:
        if (w.name, name, long) not in table or (w.name, name, short) not in table:
            continue
        fixed, per_epoch = intercept_and_slope(table[w.name, name, long],
                                               table[w.name, name, short], long, short)
        base = bare.setdefault(name.startswith("CLI"), (fixed, per_epoch))
        rows[name] = {"fixed_s": fixed, "per_epoch_s": per_epoch,
                      "per_epoch_ratio": per_epoch / base[1], "fixed_over_bare_s": fixed - base[0]}
        print(f"{name:<24} {per_epoch * 1000:13.3f} {per_epoch / base[1]:7.2f} "
              f"{fixed * 1000:9.0f} {(fixed - base[0]) * 1000:13.0f}")
    return rows


def time_phases(workloads: list[Workload], rounds: int, root: Path) -> dict:
    """Median wall and CPU ms of each phase of ``improvenn + model``, over ``rounds`` runs."""
    document = {}
    for w in workloads:
        totals: dict[str, list[list[float]]] = {label: [] for label, _, _ in PHASES}
        walls = []
        for _ in range(rounds):
            with timed_phases() as phase_totals:
                sample, _ = in_process(*CONFIGURATIONS[WITH_MODEL], w.config, root)
            walls.append(sample.wall_s)
            for label, values in phase_totals.items():
                totals[label].append(values)
        run_s = statistics.median(walls)
        print(f"\n{w.name}: phases of improvenn + model, median of {rounds} "
              f"(the run: {run_s:.3f} s)")
        print(f"{'phase':<44} {'wall ms':>8} {'CPU ms':>8} {'share':>6}")
        document[w.name] = {}
        for label, values in totals.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            document[w.name][label] = {"wall_s": wall, "cpu_s": cpu}
            print(f"{label:<44} {wall * 1000:8.1f} {cpu * 1000:8.1f} {wall / run_s:6.1%}")
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--sections: choose from {', '.join(SECTIONS)}")
    warnings.filterwarnings("ignore")
    peers.quiet()
    info = timing.machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    document: dict = {"machine": info, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="improvenn-bench-") as folder:
        root = Path(folder)
        workloads = make_workloads(args.workloads.split(","), root)
        results = run_rounds(make_jobs(workloads, sections - {"phases"}, root), args.rounds)
        table = summaries(results)
        for w in workloads:
            if "runs" in sections:
                document.setdefault("runs", {})[w.name] = print_runs(w, results, table)
            if sections & {"epochs", "cli"}:
                document.setdefault("epochs", {})[w.name] = print_epochs(
                    w, table, "cli" in sections)
        if "phases" in sections:
            document["phases"] = time_phases(workloads, args.rounds, root)
    if args.json:
        args.json.write_text(json.dumps(document, indent=2, default=float))


if __name__ == "__main__":
    main()
