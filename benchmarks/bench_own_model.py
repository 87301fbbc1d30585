"""Your own network through ``fit``, against the built-in path and the bare loops.

The workloads and the bare loops are ``bench_training.py``'s (W1: 20,000 x 64 rows, MLP
256-256 with BatchNorm and dropout, 10 epochs; W2: 400 points of moons, MLP 32-32, 300 epochs).
Added here:

- ``fit, own module``: ``mlflow_improvenn.fit`` with a hand-written ``nn.Module`` equal to the
  built-in MLP (its own standardization buffers, Linear/BatchNorm/ReLU/Dropout blocks, the same
  initialization), on the same train/dev/test arrays, with the same options. Target: within
  1.05x of ``improvenn`` (``train()`` with the built-in MLP; its clock also covers reading the
  data set, which the arrays given to ``fit`` skip).
- ``fit, streamed Dataset``: the same module on ``TensorDataset``s, so that batches come
  through ``fit``'s streaming path (a DataLoader with the run's batch size and
  ``num_workers``), against ``bare streamed``, the hand-written loop that reads train and
  dev through DataLoaders of the same batch sizes and workers. Target: within 1.10x.

Usage: ``python benchmarks/bench_own_model.py [--rounds 3] [--workloads W1,W2]
[--workers 0] [--device cpu] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))
import bench_training as bench  # noqa: E402
import timing  # noqa: E402
from workloads import Loaded, Workload, bare_loop, load, make_workloads  # noqa: E402

from mlflow_improvenn import fit  # noqa: E402
from mlflow_improvenn.training.options import TrainConfig  # noqa: E402


class OwnMLP(nn.Module):
    """The built-in MLP written by hand: standardize, (Linear, BatchNorm, ReLU, Dropout)
    per hidden layer, a linear head. Built in the same order, so the same seed gives the same
    initial weights."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, widths: tuple[int, ...],
                 batch_norm: bool, dropout: float, n_outputs: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        layers: list[nn.Module] = []
        width = len(mean)
        for units in widths:
            layers.append(nn.Linear(width, units, bias=not batch_norm))
            layers += [nn.BatchNorm1d(units)] if batch_norm else []
            layers.append(nn.ReLU())
            layers += [nn.Dropout(dropout)] if dropout > 0 else []
            width = units
        layers.append(nn.Linear(width, n_outputs))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)


def own_module(config: TrainConfig, loaded: Loaded) -> nn.Module:
    torch.manual_seed(config.seed)
    s = loaded.splits
    return OwnMLP(s.feature_mean, s.feature_std, config.hidden_units, config.batch_norm,
                  config.dropout[0], s.output_size)


def fit_options(config: TrainConfig) -> dict:
    """The workload's options, less those of the built-in data and network."""
    left_out = {"dataset", "target", "n_samples", "noise", "dev_fraction", "test_fraction",
                "model", "model_params", "hidden_units", "activation", "batch_norm", "dropout",
                "input_dropout", "task", "num_workers"}
    return {k: getattr(config, k) for k in config.to_params() if k not in left_out}


def fit_own_module(config: TrainConfig, workdir: Path) -> float:
    loaded = load(config)
    s = loaded.splits
    outcome = fit(own_module(config, loaded), (s.x_train, s.y_train), (s.x_dev, s.y_dev),
                  (s.x_test, s.y_test), task=s.task, experiment=bench.EXPERIMENT,
                  code_paths=[], **fit_options(config))
    return float(outcome.history["dev_error"].iloc[-1])


def fit_streamed(config: TrainConfig, workdir: Path) -> float:
    loaded = load(config)
    s = loaded.splits
    splits = [TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
              for x, y in ((s.x_train, s.y_train), (s.x_dev, s.y_dev), (s.x_test, s.y_test))]
    outcome = fit(own_module(config, loaded), *splits, task=s.task, experiment=bench.EXPERIMENT,
                  code_paths=[], num_workers=WORKERS, **fit_options(config))
    return float(outcome.history["dev_error"].iloc[-1])


class StreamedDev:
    """The dev split read through a DataLoader of 1,024 rows, as ``evaluate`` reads a split."""

    def __init__(self, loaded: Loaded) -> None:
        self.loader = DataLoader(TensorDataset(loaded.dev.x, loaded.dev.y), batch_size=1024,
                                 num_workers=WORKERS, persistent_workers=WORKERS > 0)
        self.rows = len(loaded.dev)

    def __len__(self) -> int:
        return self.rows

    def eval_batches(self):
        return iter(self.loader)


def bare_streamed_loop(config: TrainConfig, workdir: Path) -> float:
    """The hand-written loop with both splits streamed: train batches from a shuffled
    DataLoader, dev from a DataLoader of 1,024 rows (as ``fit``'s streaming path reads both),
    the same batch size and workers. Returns the last dev error."""
    loaded = load(config)
    generator = torch.Generator().manual_seed(config.seed)
    train = DataLoader(TensorDataset(loaded.train.x, loaded.train.y),
                       batch_size=config.batch_size, shuffle=True, generator=generator,
                       num_workers=WORKERS, persistent_workers=WORKERS > 0)
    return bare_loop(config, loaded, lambda: train, dev=StreamedDev(loaded))


WORKERS = 0
CONFIGURATIONS = {
    "bare DataLoader": (bench.fit_bare_dataloader, False),
    "bare streamed": (bare_streamed_loop, False),
    bench.BARE: (bench.fit_bare_slices, False),
    bench.IMPROVENN: (bench.fit_improvenn, True),
    "fit, own module": (fit_own_module, True),
    "fit, streamed Dataset": (fit_streamed, True),
}


def main() -> None:
    global WORKERS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    WORKERS = args.workers
    bench.peers.quiet()
    info = timing.machine() | {"num_workers": str(WORKERS)}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    document = {"machine": info}
    with tempfile.TemporaryDirectory(prefix="improvenn-bench-own-") as root:
        workloads = make_workloads(args.workloads.split(","), Path(root))
        jobs = bench.make_jobs(workloads, {"runs"}, Path(root), CONFIGURATIONS)
        results = bench.run_rounds(jobs, args.rounds)
        table = bench.summaries(results)
        for w in workloads:
            document[w.name] = bench.print_runs(w, results, table)
            print_targets(w, table, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(document, indent=2, default=float))


def print_targets(w: Workload, table: dict, rounds: int) -> None:
    full = w.config.max_epochs

    def median(name: str) -> float:
        return table[w.name, name, full].wall_s

    own = median("fit, own module") / median(bench.IMPROVENN)
    streamed = median("fit, streamed Dataset") / median("bare streamed")
    print(f"{w.name}: fit with an own module / improvenn {own:.2f} (target 1.05); "
          f"fit streamed / bare streamed loop {streamed:.2f} (target 1.10); medians of "
          f"{rounds} rounds")


if __name__ == "__main__":
    main()
