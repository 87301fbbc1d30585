"""Networks of your own for improvenn: the factory contract, by example.

``improvenn train --model projects/your_own_model/model.py:build_cnn --dataset digits
--model-param channels=16 --model-param blocks=2`` calls ``build_cnn(64, 10, channels=16,
blocks=2, image_shape=(8, 8))``: a factory gets the width of a row and the number of outputs
(classes for multiclass, 1 for binary or regression), then its own keyword arguments, and
``image_shape`` if it names it. It returns any ``torch.nn.Module`` whose output is logits
(rows, outputs). improvenn standardizes the features in front of it, and its logged model
carries this file (``code/model.py``) so that it loads anywhere torch is installed.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + W2 relu(W1 LayerNorm(x)): a pre-norm residual block."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(self.norm(x))


class ResidualMLP(nn.Module):
    """A linear stem, ``blocks`` residual blocks, a LayerNorm and a linear head."""

    def __init__(self, n_features: int, n_outputs: int, width: int = 64, blocks: int = 2) -> None:
        super().__init__()
        self.stem = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class SmallCNN(nn.Module):
    """``blocks`` 3x3 conv blocks of ``channels`` channels (BatchNorm, ReLU), global average
    pooling, a linear head. Rows of pixels are reshaped to one-channel images first."""

    def __init__(self, image_shape: tuple[int, int], n_outputs: int, channels: int = 16,
                 blocks: int = 2) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        width = 1
        for _ in range(blocks):
            layers += [nn.Conv2d(width, channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU()]
            width = channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(x.shape[0], 1, *self.image_shape)
        return self.head(self.features(images))


def build(n_features: int, n_outputs: int, width: int = 64, blocks: int = 2) -> nn.Module:
    """A residual MLP for tabular data."""
    return ResidualMLP(n_features, n_outputs, width, blocks)


def build_cnn(n_features: int, n_outputs: int, channels: int = 16, blocks: int = 2,
              image_shape: tuple[int, int] | None = None) -> nn.Module:
    """A small CNN for image data (``digits``); refuses tabular data, which has no shape."""
    if image_shape is None:
        raise ValueError("build_cnn needs image data (e.g. --dataset digits)")
    return SmallCNN(image_shape, n_outputs, channels, blocks)
