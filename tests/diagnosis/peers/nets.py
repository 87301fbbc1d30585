"""The PyTorch networks and loaders shared by the Lightning, skorch and plain-PyTorch runs."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.diagnosis.peers.setups import Setup, error_rate


def mlp(hidden: tuple[int, ...], n_in: int, n_out: int = 2) -> torch.nn.Sequential:
    """ReLU layers of ``hidden`` units, then logits (no hidden layer: a linear model)."""
    layers: list[torch.nn.Module] = []
    for units in hidden:
        layers += [torch.nn.Linear(n_in, units), torch.nn.ReLU()]
        n_in = units
    return torch.nn.Sequential(*layers, torch.nn.Linear(n_in, n_out))


def loader(x: np.ndarray, y: np.ndarray, setup: Setup, shuffle: bool) -> DataLoader:
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return DataLoader(dataset, batch_size=setup.batch_size, shuffle=shuffle)


def predicted_error(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Error rate of the argmax class, in eval mode and without gradients."""
    model.eval()
    with torch.no_grad():
        return error_rate(model(torch.from_numpy(x)).argmax(dim=1).numpy(), y)
