"""L2 regularization in its three forms, and the optimizer that carries it.

- ``coupled``: the optimizer's ``weight_decay`` adds lambda * W to the gradient (for Adam
  that decay is then rescaled by the adaptive step, which is why AdamW exists);
- ``decoupled``: AdamW-style, W shrinks by lr * lambda * W outside the adaptive step;
- ``penalty``: the textbook cost term lambda / (2m) * sum ||W||^2, m = training examples.

Only weight matrices and kernels decay, in any module: a parameter decays when it has two or
more dimensions and its module is not a normalization layer (BatchNorm, InstanceNorm and
anything else built on ``_NormBase``, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm) nor
an embedding (Embedding, EmbeddingBag). Biases, norm scales and shifts (one dimension) and
embedding tables never decay: decaying them pulls toward zero what has no reason to be small
(the rule of AdamW's paper and of GPT-2/nanoGPT's training code).
"""

from __future__ import annotations

import torch
from torch import nn

from mlflow_improvenn.training.options import TrainConfig

_NEVER_DECAYED: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    nn.Embedding, nn.EmbeddingBag, *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def decayed_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split trainable parameters into (weights that decay, those that don't), by the rule
    of the module docstring; frozen parameters are in neither.

    >>> net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.GRU(4, 2))
    >>> [tuple(p.shape) for p in decayed_parameters(net)[0]]
    [(4, 3), (6, 4), (6, 2)]
    """
    decay: list[nn.Parameter] = []
    keep: list[nn.Parameter] = []
    for module in model.modules():
        never = isinstance(module, _NEVER_DECAYED)
        for param in module.parameters(recurse=False):
            if param.requires_grad:
                (decay if param.dim() >= 2 and not never else keep).append(param)
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
