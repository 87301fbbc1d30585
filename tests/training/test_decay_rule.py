"""L2 decays weight matrices and kernels only, in any module: never biases, normalization
parameters (anything on _NormBase, LayerNorm, GroupNorm, RMSNorm) or embeddings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer, decayed_parameters


class Everything(nn.Module):
    """One module of each kind, and a bare parameter matrix of the user's own."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.bag = nn.EmbeddingBag(10, 4)
        self.linear = nn.Linear(4, 4)
        self.conv1 = nn.Conv1d(4, 4, 3)
        self.conv2 = nn.Conv2d(1, 4, 3)
        self.bn1 = nn.BatchNorm1d(4)
        self.bn2 = nn.BatchNorm2d(4)
        self.instance = nn.InstanceNorm1d(4, affine=True)
        self.layer_norm = nn.LayerNorm(4)
        self.group_norm = nn.GroupNorm(2, 4)
        self.rms_norm = nn.RMSNorm(4)
        self.gru = nn.GRU(4, 4)
        self.attention = nn.MultiheadAttention(4, 2)
        self.projection = nn.Parameter(torch.ones(4, 4))
        self.scale = nn.Parameter(torch.ones(4))
        self.frozen = nn.Linear(4, 4).requires_grad_(False)


DECAYED = {"linear.weight", "conv1.weight", "conv2.weight", "gru.weight_ih_l0",
           "gru.weight_hh_l0", "attention.in_proj_weight", "attention.out_proj.weight",
           "projection"}


def names(model: nn.Module, params: list[nn.Parameter]) -> set[str]:
    ids = {id(p) for p in params}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def test_only_weight_matrices_and_kernels_decay() -> None:
    model = Everything()
    decay, keep = decayed_parameters(model)
    assert names(model, decay) == DECAYED
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names(model, keep) == trainable - DECAYED  # biases, norms, embeddings, scale
    assert "frozen.weight" not in names(model, decay + keep)


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_the_optimizer_decays_exactly_those(mode: str) -> None:
    model = Everything()
    config = TrainConfig(weight_decay=0.1, l2_mode=mode, optimizer="adam")
    groups = build_optimizer(config, model).param_groups
    decaying = [p for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    assert names(model, decaying) == DECAYED


def test_decoupled_decay_leaves_norm_and_embedding_parameters_alone() -> None:
    """With no gradient at all, one AdamW step moves only what decays."""
    model = Everything()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = build_optimizer(TrainConfig(weight_decay=0.5, l2_mode="decoupled"), model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == DECAYED
