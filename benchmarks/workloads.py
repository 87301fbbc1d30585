"""The benchmarks' two jobs and the hand-written loop every tracked configuration is held to.

W1: 20,000 x 64 rows, 10 classes, read from parquet as a user's file would be, MLP 256-256
with BatchNorm and dropout 0.2, batch 128, 10 epochs. W2: 400 points of two moons, MLP 32-32,
batch 64, 300 epochs: a job of under a second, where a run's fixed costs show.

The bare loop trains the same network (``build_model``, same seed) with the same optimizer,
step LR schedule and per-epoch numbers (train loss and error, dev loss and error) and
tracks nothing. Run as a script it is the command-line counterpart of ``improvenn train``:
``python benchmarks/workloads.py W2 --epochs 301 --data-dir DIR`` loads the data, trains,
and exits.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from mlflow_improvenn.training import data
from mlflow_improvenn.training.loop import Objective, Split, evaluate, to_device_splits
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
_COMMON = dict(optimizer="adam", scheduler="step", gamma=0.5, patience=0, device="cpu",
               log_model=False, seed=0)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    config: TrainConfig

    def with_epochs(self, epochs: int) -> Workload:
        return Workload(self.name, self.description, self.config.replace(max_epochs=epochs))


@dataclass(frozen=True)
class Loaded:
    """A workload's data as the trainer makes it: numpy splits and train/dev tensors."""

    splits: data.DataSplits
    train: Split
    dev: Split


def make_workloads(names: Iterable[str], directory: Path) -> list[Workload]:
    """W1 (its parquet file written to ``directory`` once) and W2, as named."""
    workloads = []
    for name in names:
        if name == "W1":
            workloads.append(Workload(
                "W1", "20,000 x 64, 10 classes, MLP 256-256 + BatchNorm + dropout 0.2, batch 128, "
                "10 epochs, Adam 1e-3, step LR",
                TrainConfig(dataset=f"parquet:{_w1_file(directory)}", target="y",
                            hidden_units=(256, 256), batch_norm=True, dropout=(0.2,),
                            batch_size=128, max_epochs=10, lr=1e-3, step_size=4, **_COMMON)))
        elif name == "W2":
            workloads.append(Workload(
                "W2", "400 points of two moons, MLP 32-32, batch 64, 300 epochs, Adam 1e-2, "
                "step LR",
                TrainConfig(dataset="moons", n_samples=400, hidden_units=(32, 32), batch_size=64,
                            max_epochs=300, lr=1e-2, step_size=100, **_COMMON)))
        else:
            raise ValueError(f"no workload {name!r}: W1 or W2")
    return workloads


def _w1_file(directory: Path) -> Path:
    path = directory / "w1.parquet"
    if not path.exists():
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=20_000, n_features=64, n_informative=32, n_redundant=8, n_classes=10,
            n_clusters_per_class=1, class_sep=1.0, random_state=0,
        )
        frame = pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(64)])
        frame.assign(y=y).to_parquet(path)
    return path


def load(config: TrainConfig) -> Loaded:
    """The data exactly as ``train()`` splits it, on the CPU."""
    splits = data.load(config)
    tensors = to_device_splits(splits, torch.device("cpu"))
    return Loaded(splits, tensors["train"], tensors["dev"])


def slice_batches(config: TrainConfig, loaded: Loaded) -> Batches:
    """Batches as index slices of a fresh permutation of the train tensors, as the trainer
    takes them from data in memory."""
    generator = torch.Generator().manual_seed(config.seed)

    def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(loaded.train), generator=generator)
        return ((loaded.train.x[i], loaded.train.y[i]) for i in order.split(config.batch_size))

    return batches


def dataloader_batches(config: TrainConfig, loaded: Loaded, workers: int = 0) -> Batches:
    """Batches from a shuffled ``DataLoader(TensorDataset)``: the textbook loop."""
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(TensorDataset(loaded.train.x, loaded.train.y),
                        batch_size=config.batch_size, shuffle=True, generator=generator,
                        num_workers=workers, persistent_workers=workers > 0)
    return lambda: loader


def bare_loop(
    config: TrainConfig,
    loaded: Loaded,
    batches: Batches,
    log: Callable[[dict[str, float], int], None] | None = None,
    dev: object | None = None,
) -> float:
    """Train, evaluate dev (``dev`` when given, else the loaded split), (log), step the LR,
    for ``config.max_epochs``. Returns the last dev error."""
    torch.manual_seed(config.seed)
    model = build_model(config, loaded.splits)
    optimizer = build_optimizer(config, model)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    objective = Objective(loaded.splits.task)
    dev_error = math.nan
    for epoch in range(1, config.max_epochs + 1):
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        model.train()
        total_loss, wrong = torch.zeros(()), torch.zeros(())
        for x, y in batches():
            output = model(x)
            loss = objective.loss(output, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(x)
            wrong += objective.errors(output.detach(), y)
        dev_loss, dev_error = evaluate(model, dev or loaded.dev, objective)
        if log is not None:
            rows = len(loaded.train)
            log({"train_loss": total_loss.item() / rows, "train_error": wrong.item() / rows,
                 "dev_loss": dev_loss, "dev_error": dev_error, "lr": lr,
                 "epoch_seconds": time.perf_counter() - started}, epoch)
        schedule.step()
    return dev_error


def main() -> None:
    parser = argparse.ArgumentParser(description="The bare slice loop as a command.")
    parser.add_argument("workload", choices=["W1", "W2"])
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="where W1's file is")
    args = parser.parse_args()
    config = make_workloads([args.workload], args.data_dir)[0].config.replace(
        max_epochs=args.epochs)
    loaded = load(config)
    print(f"dev error {bare_loop(config, loaded, slice_batches(config, loaded)):.4f}")


if __name__ == "__main__":
    main()
