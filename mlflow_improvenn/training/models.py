"""Networks: an MLP with BatchNorm and dropout switches, and a small CNN for 8x8 images.

Both start with a :class:`Standardize` layer that holds the train split's statistics, so
the trained and the logged model take raw features and no scaler has to travel beside it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlflow_improvenn.training.custom_models import build_from_factory, check_output
from mlflow_improvenn.training.data import DataSplits
from mlflow_improvenn.training.option_rules import is_custom
from mlflow_improvenn.training.options import TrainConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class Standardize(nn.Module):
    """(x - mean) / std with fixed statistics, stored in the state dict."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Rescale(nn.Module):
    """y * std + mean: turns a standardized regression output back into target units."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.std + self.mean


def build_model(config: TrainConfig, data: DataSplits) -> nn.Module:
    """The network that ``config`` describes, sized for ``data``: a built-in one, or the one a
    factory builds (:mod:`~mlflow_improvenn.training.custom_models`), behind the same
    standardization. Raises ConfigError for a factory that fails or a network that does not
    fit the data."""
    standardize = Standardize(data.feature_mean, data.feature_std)
    if is_custom(config.model):
        body = build_from_factory(config, data.n_features, data.output_size, data.image_shape)
        model = nn.Sequential(standardize, body)
        example = torch.as_tensor(data.x_train[:8], dtype=torch.float32)
        labels = torch.as_tensor(data.y_train[:8])
        check_output(model, example, labels, data.task, "model")
        return model
    if config.model == "cnn":
        assert data.image_shape is not None, "validated: cnn needs image data"
        body = _cnn(config, data.image_shape, data.output_size)
    else:
        body = _mlp(config, data.n_features, data.output_size)
    return nn.Sequential(standardize, body)


def servable(model: nn.Module, data: DataSplits) -> nn.Module:
    """The model as users load it: regression outputs in target units, one column squeezed."""
    if data.task == "regression":
        return nn.Sequential(model, Rescale(data.target_mean, data.target_std))
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _dropout_per_layer(config: TrainConfig) -> tuple[float, ...]:
    if len(config.dropout) == 1:
        return config.dropout * len(config.hidden_units)
    return config.dropout


def _mlp(config: TrainConfig, n_inputs: int, n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    if config.input_dropout > 0:
        layers.append(nn.Dropout(config.input_dropout))
    width = n_inputs
    for units, rate in zip(config.hidden_units, _dropout_per_layer(config), strict=True):
        layers.extend(_hidden_block(config, width, units, rate))
        width = units
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def _hidden_block(config: TrainConfig, n_in: int, n_out: int, rate: float) -> list[nn.Module]:
    """Linear, then BatchNorm (the linear bias is redundant with BN's shift), then act, dropout."""
    block: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not config.batch_norm)]
    if config.batch_norm:
        block.append(nn.BatchNorm1d(n_out))
    block.append(_ACTIVATIONS[config.activation]())
    if rate > 0:
        block.append(nn.Dropout(rate))
    return block


class _Unflatten(nn.Module):
    """Turn rows of pixels back into one-channel images."""

    def __init__(self, shape: tuple[int, int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 1, *self.shape)


def _cnn(config: TrainConfig, shape: tuple[int, int], n_outputs: int) -> nn.Sequential:
    """Two 3x3 conv blocks with BatchNorm2d, a 2x2 pool, then the MLP head of the config."""
    act = _ACTIVATIONS[config.activation]
    features = nn.Sequential(
        _Unflatten(shape),
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), act(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), act(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    n_flat = 32 * (shape[0] // 2) * (shape[1] // 2)
    head = _mlp(config, n_flat, n_outputs)
    return nn.Sequential(features, head)
