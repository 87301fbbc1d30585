"""Data and networks of a user's own, for the tests of fit, track and the CLI's custom paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[2]
#: The example project's factories (its file is imported as the module ``model``).
MODEL_FILE = ROOT / "projects" / "your_own_model" / "model.py"


def xor_arrays(n: int = 300, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A binary task no linear model solves: the sign of x1 * x2, other columns noise."""
    x = np.random.default_rng(seed).normal(size=(n, features)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def splits_of(x: np.ndarray, y: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """60/20/20 train/dev/test, in order."""
    a, b = int(len(x) * 0.6), int(len(x) * 0.8)
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])


def sequences(n: int = 240, length: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of (n, length, 1) values; the class is which third of the range the running
    sum ends in (3 classes): a task a GRU must read to the end to answer."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, 1, generator=generator)
    total = x.sum(dim=(1, 2))
    y = torch.bucketize(total, torch.tensor([-1.0, 1.0]))
    return x, y


class GRUClassifier(nn.Module):
    """A GRU over the sequence, its last hidden state to logits."""

    def __init__(self, hidden: int = 16, n_classes: int = 3) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(x)
        return self.head(last[-1])


class MemmapRows(Dataset):
    """Rows read one at a time from a memory-mapped float32 file of (n, features + 1)
    values, the label last: nothing is loaded until a row is asked for."""

    def __init__(self, path: Path, n: int, features: int, start: int = 0, stop: int | None = None):
        self.path, self.shape = path, (n, features + 1)
        self.start, self.stop = start, n if stop is None else stop
        self.rows_read = 0
        self._map: np.memmap | None = None

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._map is None:  # opened lazily, in whichever worker reads
            self._map = np.memmap(self.path, dtype=np.float32, mode="r", shape=self.shape)
        row = np.array(self._map[self.start + index])
        self.rows_read += 1
        return torch.from_numpy(row[:-1]), torch.tensor(row[-1])


def memmap_splits(folder: Path, n: int = 400, features: int = 6) -> dict[str, MemmapRows]:
    """Train/dev/test Datasets over one memory-mapped file of the XOR task."""
    x, y = xor_arrays(n, features)
    path = folder / "rows.f32"
    table = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, features + 1))
    table[:, :-1], table[:, -1] = x, y
    table.flush()
    del table
    a, b = int(n * 0.6), int(n * 0.8)
    return {"train": MemmapRows(path, n, features, 0, a),
            "dev": MemmapRows(path, n, features, a, b),
            "test": MemmapRows(path, n, features, b, n)}
