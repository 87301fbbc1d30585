"""Each regularization switch does what the lesson says, on a real model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlflow_improvenn.training import data
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer, decayed_parameters, l2_penalty

CPU = torch.device("cpu")


def make(**options: object) -> tuple[TrainConfig, nn.Module, data.DataSplits]:
    config = TrainConfig(dataset="moons", n_samples=200, **options)
    splits = data.load(config)
    torch.manual_seed(config.seed)
    return config, build_model(config, splits), splits


def weight_norm_after_training(**options: object) -> float:
    config, model, splits = make(max_epochs=15, patience=0, hidden_units=(32,), **options)
    trainer = Trainer(config, model, to_device_splits(splits, CPU), splits.task, CPU)
    trainer.fit(on_epoch=lambda record: None)
    decay, _ = decayed_parameters(trainer.model)
    return float(sum(w.detach().pow(2).sum() for w in decay))


def test_biases_and_batchnorm_parameters_never_decay() -> None:
    _, model, _ = make(batch_norm=True, hidden_units=(8, 8))
    decay, keep = decayed_parameters(model)
    assert all(p.dim() == 2 for p in decay)  # only Linear weight matrices
    n_bn = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    assert n_bn == 2 and len(keep) == 2 * n_bn + 1  # BN scale+shift per layer, output bias
    config = TrainConfig(weight_decay=0.1, batch_norm=True)
    groups = build_optimizer(config, model).param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]


@pytest.mark.parametrize(
    ("options", "optimizer_class", "optimizer_decay"),
    [
        ({"l2_mode": "coupled", "optimizer": "adam"}, torch.optim.Adam, 0.1),
        ({"l2_mode": "coupled", "optimizer": "sgd"}, torch.optim.SGD, 0.1),
        ({"l2_mode": "decoupled", "optimizer": "adam"}, torch.optim.AdamW, 0.1),
        ({"l2_mode": "decoupled", "optimizer": "adamw"}, torch.optim.AdamW, 0.1),
        ({"l2_mode": "penalty", "optimizer": "adam"}, torch.optim.Adam, 0.0),
    ],
)
def test_l2_mode_picks_the_optimizer_and_its_decay(options, optimizer_class, optimizer_decay):
    config, model, _ = make(weight_decay=0.1, **options)
    optimizer = build_optimizer(config, model)
    assert type(optimizer) is optimizer_class
    assert optimizer.param_groups[0]["weight_decay"] == optimizer_decay


def test_penalty_is_the_textbook_term() -> None:
    weights = [nn.Parameter(torch.tensor([[1.0, 2.0]])), nn.Parameter(torch.tensor([[3.0]]))]
    # lambda / (2m) * (1 + 4 + 9) with lambda = 0.5, m = 7
    assert l2_penalty(weights, 0.5, 7).item() == pytest.approx(0.5 / 14 * 14)


@pytest.mark.parametrize(("l2_mode", "strength"), [("coupled", 0.05), ("decoupled", 5.0),
                                                   ("penalty", 30.0)])
def test_each_l2_mode_shrinks_the_weights(l2_mode: str, strength: float) -> None:
    plain = weight_norm_after_training()
    decayed = weight_norm_after_training(weight_decay=strength, l2_mode=l2_mode)
    assert decayed < 0.8 * plain


def test_dropout_per_layer_and_on_the_input() -> None:
    _, model, _ = make(hidden_units=(16, 8), dropout=(0.5, 0.2), input_dropout=0.1)
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.1, 0.5, 0.2]


def test_one_dropout_value_applies_to_every_layer() -> None:
    _, model, _ = make(hidden_units=(16, 8, 4), dropout=(0.3,))
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3] * 3


def test_dropout_is_active_in_training_and_off_in_eval() -> None:
    _, model, splits = make(hidden_units=(64,), dropout=(0.5,))
    x = torch.as_tensor(splits.x_dev)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_batch_norm_switch_adds_batchnorm_and_drops_redundant_bias() -> None:
    _, plain, _ = make(hidden_units=(8,))
    _, normed, _ = make(hidden_units=(8,), batch_norm=True)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    hidden = [m for m in normed.modules() if isinstance(m, nn.Linear)][0]
    assert hidden.bias is None
    assert any(isinstance(m, nn.BatchNorm1d) for m in normed.modules())


def test_cnn_on_digits_uses_batchnorm2d() -> None:
    config = TrainConfig(dataset="digits", model="cnn", hidden_units=(32,))
    splits = data.load(config)
    model = build_model(config, splits)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.as_tensor(splits.x_dev[:4])).shape == (4, 10)


def test_standardization_uses_train_statistics_only() -> None:
    config, model, splits = make()
    standardize = model[0]
    assert torch.allclose(standardize.mean, torch.as_tensor(splits.x_train.mean(axis=0)))
    assert not torch.allclose(standardize.mean, torch.as_tensor(splits.x_dev.mean(axis=0)))
