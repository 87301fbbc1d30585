"""L2 regularization in its three forms, and the optimizer that carries it.

- ``coupled``: the optimizer's ``weight_decay`` adds lambda * W to the gradient (for Adam
  that decay is then rescaled by the adaptive step, which is why AdamW exists);
- ``decoupled``: AdamW-style, W shrinks by lr * lambda * W outside the adaptive step;
- ``penalty``: the textbook cost term lambda / (2m) * sum ||W||^2, m = training examples.

Only weight matrices and kernels decay: biases and BatchNorm's scale and shift never do.
"""

from __future__ import annotations

import torch
from torch import nn

from mlflow_improvenn.training.options import TrainConfig

_NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


def decayed_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split parameters into (weights that decay, biases and norm parameters that don't)."""
    decay: list[nn.Parameter] = []
    keep: list[nn.Parameter] = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            is_weight = name == "weight" and not isinstance(module, _NORM_LAYERS)
            (decay if is_weight else keep).append(param)
    return decay, keep


def l2_penalty(weights: list[nn.Parameter], weight_decay: float, n_train: int) -> torch.Tensor:
    """lambda / (2m) * sum of squared weights: the term ``penalty`` mode adds to the loss."""
    total = torch.stack([w.pow(2).sum() for w in weights]).sum()
    return total * (weight_decay / (2 * n_train))


def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer, with weight decay on the weights only when the mode asks."""
    decay, keep = decayed_parameters(model)
    optimizer_decay = config.weight_decay if config.l2_mode != "penalty" else 0.0
    groups = [
        {"params": decay, "weight_decay": optimizer_decay},
        {"params": keep, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
        )
    betas = (config.beta1, config.beta2)
    if config.optimizer == "adamw" or config.l2_mode == "decoupled":
        return torch.optim.AdamW(groups, lr=config.lr, betas=betas, eps=config.eps)
    return torch.optim.Adam(groups, lr=config.lr, betas=betas, eps=config.eps)
