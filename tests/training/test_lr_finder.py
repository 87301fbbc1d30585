"""The range test: it leaves everything as it was, stops on divergence, and its suggestion
ignores an early spike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlflow_improvenn.training import data
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.lr_finder import longest_descent, range_test, smooth, suggest
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from mlflow_improvenn.training.range_test import RangeTestSettings
from tests.conftest import SMALL

CPU = torch.device("cpu")


def trainer(**changes) -> Trainer:
    config = TrainConfig(**(SMALL | {"device": "cpu"} | changes))
    splits = data.load(config)
    torch.manual_seed(config.seed)
    return Trainer(config, build_model(config, splits), to_device_splits(splits, CPU),
                   splits.task, CPU)


def same(a, b) -> bool:
    """Nested state equal bit for bit."""
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("changes", [{}, {"optimizer": "sgd", "weight_decay": 1e-3,
                                          "l2_mode": "penalty", "batch_norm": True}],
                         ids=["adam", "sgd-penalty-batchnorm"])
def test_weights_optimizer_and_random_state_are_left_exactly_as_they_were(changes) -> None:
    tested, untouched = trainer(**changes), trainer(**changes)
    for each in (tested, untouched):  # an optimizer with state (Adam's moments, momentum)
        each.train_epoch()
    before = tested.checkpoint(1)
    result = range_test(tested, RangeTestSettings(num_steps=30, race_epochs=2))
    assert len(result.lrs) > 15 and result.race is not None  # and the race after it
    assert same(tested.checkpoint(1), before)
    torch.manual_seed(7)
    after_test = tested.train_epoch()
    torch.manual_seed(7)
    assert after_test == untouched.train_epoch()  # training goes on as if it never ran


def test_it_stops_when_the_smoothed_loss_diverges() -> None:
    result = range_test(trainer(), RangeTestSettings(start_lr=1e-4, end_lr=1e4, num_steps=200))
    assert result.stop == "diverged" and len(result.lrs) < 200
    smoothed = result.smoothed[np.isfinite(result.smoothed)]
    assert smoothed[-1] > 4 * smoothed.min()
    assert np.isfinite(result.suggestion.lr)


def test_a_gentle_sweep_completes_every_step() -> None:
    result = range_test(trainer(), RangeTestSettings(start_lr=1e-6, end_lr=1e-4, num_steps=40))
    assert result.stop == "completed" and len(result.lrs) == 40
    assert np.allclose(result.lrs[[0, -1]], [1e-6, 1e-4])


def planted_curve(spike: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flat, a descent between 1e-4 and 1e-1, then divergence; optionally an early spike (a
    jump, then a fall far below the rest: Lightning #1767)."""
    lrs = np.logspace(-7, 1, 100)
    position = np.log10(lrs)
    loss = 1.0 - 0.6 / (1 + np.exp(-3 * (position + 2.5))) + np.maximum(0, lrs - 0.2) * 20
    loss += np.random.default_rng(0).normal(0, 0.01, 100)
    if spike:
        loss[2], loss[3] = 6.0, 0.05
    return lrs, loss


def test_the_suggestion_ignores_an_early_spike() -> None:
    lrs, clean = planted_curve(spike=False)
    _, spiked = planted_curve(spike=True)
    settings = RangeTestSettings()
    found = suggest(lrs, spiked, settings)
    assert found == suggest(lrs, clean, settings)
    assert 1e-4 < found.lr < 1e-1 and 1e-4 < found.steepest < 1e-1
    raw_steepest = lrs[np.argmin(np.diff(spiked))]  # what a rule on the raw curve picks
    assert raw_steepest < 1e-6
    no_burn_in = suggest(lrs, spiked, RangeTestSettings(burn_in=0))
    assert no_burn_in.steepest < 1e-6  # without the burn-in the spike's fall is steepest


def test_the_valley_is_the_middle_of_a_planted_descent() -> None:
    """Flat, then a fall linear in log(lr) from 1e-5 to 1e-2, then a steep rise: the
    suggestion is the fall's middle, 10^-3.5, a little later for the average's lag."""
    lrs = np.logspace(-7, 1, 100)
    position = np.log10(lrs)
    falling = np.clip(1.0 - 0.2 * (position + 5), 0.4, 1.0)
    loss = falling + 2 * np.maximum(0, position + 2)
    found = suggest(lrs, loss, RangeTestSettings())
    assert 10**-3.5 <= found.lr < 10**-3.0


def test_noise_drifting_down_a_flat_stretch_is_not_the_valley() -> None:
    """Five decades of flat loss whose noise drifts down, then a real fall between 10^-1.5
    and 10^-0.5: each valley step must fall by 1% of the loss, so the suggestion lies in the
    real fall; fastai's any-step-down valley lands in the flat part."""
    lrs = np.logspace(-7, 1, 100)
    position = np.log10(lrs)
    step = np.arange(100)
    flat = 1 - 0.0004 * step + np.random.default_rng(0).normal(0, 0.001, 100)
    bottom = 1 - 0.0004 * 69 - 0.5
    loss = np.where(position > -1.5, bottom + 0.5 * np.clip(-0.5 - position, 0, 1), flat)
    loss += 3 * np.maximum(0, position + 0.5)
    assert 10**-1.5 < suggest(lrs, loss, RangeTestSettings()).lr < 10**-0.5
    smoothed = smooth(loss, 0.9, 10)[10:]
    anywhere = longest_descent(smoothed, step=0.0)
    assert lrs[10:][anywhere[len(anywhere) // 2]] < 1e-3


@pytest.mark.parametrize(("settings", "option"), [
    ({"start_lr": 1.0, "end_lr": 0.1}, "end_lr"),
    ({"start_lr": 0.0}, "start_lr"),
    ({"smoothing": 1.0}, "smoothing"),
    ({"divergence": 1.0}, "divergence"),
    ({"num_steps": 12, "burn_in": 10}, "num_steps"),
    ({"race_epochs": -1}, "race_epochs"),
])
def test_bad_settings_name_the_option(settings: dict, option: str) -> None:
    with pytest.raises(ConfigError) as error:
        RangeTestSettings(**settings)
    assert error.value.option == option
