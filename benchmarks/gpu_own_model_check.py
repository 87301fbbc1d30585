"""On a CUDA machine: fit's training paths for your own network, without MLflow.

Checks that the trainer of ``fit`` runs on CUDA with (a) in-memory arrays and AMP, (b) a
``Dataset`` streamed through a DataLoader with worker processes and pinned memory, (c) batches
whose inputs are a tuple and a dict of tensors; and times the streamed path against a bare
loop over DataLoaders of the same batch size and workers (target: within 1.10x). Only the
training layer is used (it never imports MLflow), so nothing but torch, numpy and pandas is
needed. Usage: ``python benchmarks/gpu_own_model_check.py [--workers 4] [--epochs 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mlflow_improvenn.training.loop import Trainer
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.user_data import user_splits

ROWS, FEATURES, CLASSES, BATCH = 200_000, 64, 10, 512


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 512), nn.LayerNorm(512), nn.ReLU(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, CLASSES))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(FEATURES // 2, 64), nn.Linear(FEATURES // 2, 64)
        self.head = nn.Linear(64, CLASSES)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.a(left) + self.b(right)))


class Pairs(Dataset):
    """Rows as ((left, right), y) or ({"left": ..., "right": ...}, y)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, as_dict: bool) -> None:
        self.x, self.y, self.as_dict = x, y, as_dict

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        left, right = self.x[i, :FEATURES // 2], self.x[i, FEATURES // 2:]
        return ({"left": left, "right": right} if self.as_dict else (left, right)), self.y[i]


def data(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, FEATURES, generator=generator)
    return x, (x[:, :CLASSES] * 2 + torch.randn(rows, CLASSES, generator=generator)).argmax(1)


def trained(model: nn.Module, given: dict, config: TrainConfig) -> tuple[float, list]:
    device = torch.device("cuda")
    splits = user_splits(given, "multiclass", device, config.num_workers).splits
    torch.manual_seed(0)
    trainer = Trainer(config, model, splits, "multiclass", device)
    started = time.perf_counter()
    result = trainer.fit(lambda record: None)
    torch.cuda.synchronize()
    assert result.error is None, result.error
    return time.perf_counter() - started, result.history


def bare(model: nn.Module, train: Dataset, dev: Dataset, config: TrainConfig) -> float:
    """Train and dev through DataLoaders, the same batch size, workers and pinned memory."""
    device = torch.device("cuda")
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loaders = [DataLoader(d, batch_size=b, shuffle=s, num_workers=config.num_workers,
                          persistent_workers=config.num_workers > 0, pin_memory=True,
                          generator=torch.Generator().manual_seed(0) if s else None)
               for d, b, s in ((train, config.batch_size, True), (dev, 1024, False))]
    started = time.perf_counter()
    for _ in range(config.max_epochs):
        model.train()
        total = torch.zeros((), device=device)
        for x, y in loaders[0]:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(y)
        model.eval()
        with torch.inference_mode():
            wrong = sum((model(x.to(device, non_blocking=True)).argmax(1)
                         != y.to(device, non_blocking=True)).sum() for x, y in loaders[1])
        float(total), float(wrong)  # read once per epoch, as the trainer does
    torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "needs CUDA"
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    x, y = data(ROWS)
    n = int(ROWS * 0.8)
    config = TrainConfig(model="custom", batch_size=BATCH, max_epochs=args.epochs, patience=0,
                         lr=1e-3, device="cuda", num_workers=args.workers)

    seconds, history = trained(mlp(), {"train": (x[:n], y[:n]), "dev": (x[n:], y[n:])},
                               config.replace(amp=True))
    print(f"(a) arrays, AMP: {seconds:.2f} s, dev error {history[-1].dev_error:.4f}")
    for as_dict in (False, True):
        given = {"train": Pairs(x[:20_000], y[:20_000], as_dict),
                 "dev": Pairs(x[n:], y[n:], as_dict)}
        seconds, history = trained(TwoInputs(), given, config.replace(max_epochs=2))
        kind = "dict" if as_dict else "tuple"
        print(f"(c) {kind} inputs, streamed: {seconds:.2f} s, dev error "
              f"{history[-1].dev_error:.4f}")

    train, dev = TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])
    fit_s, bare_s = [], []
    for _ in range(args.rounds):
        torch.manual_seed(0)
        bare_s.append(bare(mlp(), train, dev, config))
        torch.manual_seed(0)
        fit_s.append(trained(mlp(), {"train": train, "dev": dev}, config)[0])
    ratio = statistics.median(fit_s) / statistics.median(bare_s)
    print(f"(b) streamed, {args.workers} workers, pinned: fit {statistics.median(fit_s):.2f} s, "
          f"bare {statistics.median(bare_s):.2f} s, ratio {ratio:.3f} (target 1.10); "
          f"fit {[round(s, 2) for s in fit_s]}, bare {[round(s, 2) for s in bare_s]}")


if __name__ == "__main__":
    main()
